// A fixed-bucket latency histogram rendered as Prometheus text: what /metrics
// shows for evaluation and Check handler latency, always on (no SDK needed).
// Observing is a short linear scan over ~15 bucket bounds and two adds.

import { LATENCY_BUCKETS_S } from "./telemetry.js";

export class LatencyHistogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[] = LATENCY_BUCKETS_S,
  ) {
    this.counts = new Array<number>(bounds.length).fill(0);
  }

  /** Record one observation, in seconds. */
  observe(seconds: number): void {
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) {
      if (seconds <= b[i]!) {
        this.counts[i]!++;
        break;
      }
    }
    this.sum += seconds;
    this.count++;
  }

  /** Prometheus text (cumulative buckets), `labels` like `transport="grpc"` or "". */
  render(labels = ""): string {
    const sep = labels === "" ? "" : ",";
    let cumulative = 0;
    const lines = this.bounds.map((le, i) => {
      cumulative += this.counts[i]!;
      return `${this.name}_bucket{${labels}${sep}le="${le}"} ${cumulative}`;
    });
    lines.push(`${this.name}_bucket{${labels}${sep}le="+Inf"} ${this.count}`);
    const l = labels === "" ? "" : `{${labels}}`;
    lines.push(`${this.name}_sum${l} ${this.sum.toFixed(9)}`, `${this.name}_count${l} ${this.count}`);
    return lines.join("\n") + "\n";
  }

  header(): string {
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} histogram\n`;
  }
}
