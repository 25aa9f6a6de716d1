// Shadow evaluation (`aecp sidecar --shadow-bundle <file>`): a candidate
// bundle is evaluated beside the active one on live traffic, and where the
// two decide differently is recorded — responses are never affected.
//
// Off the request path: the Check handler only enqueues (attributes,
// decision id, the active decision) into a bounded queue; a setImmediate
// drain evaluates the candidate in batches after the responses are written.
// A full queue drops (counted), so a slow candidate can never slow or grow
// the sidecar. The attributes are safe to keep: the adapter builds a fresh
// object per request and nothing mutates it after the decision.

import type { Decision, Effect, LoadedBundle, RequestAttributes } from "../bundle/index.js";

export interface ShadowOptions {
  /** Requests waiting for shadow evaluation before new ones are dropped. Default 4,096. */
  readonly maxQueue: number;
  /** Most recent differences kept for /status and GET /shadow. Default 100. */
  readonly keepDifferences: number;
  /** Requests evaluated per drain turn before yielding to I/O. Default 256. */
  readonly batch: number;
}

export const SHADOW_DEFAULTS: ShadowOptions = Object.freeze({ maxQueue: 4096, keepDifferences: 100, batch: 256 });

/** One request the candidate decided differently. */
export interface ShadowDifference {
  decisionId: string;
  at: string;
  method: string | null;
  path: string | null;
  active: { effect: Effect; violations: string[] };
  shadow: { effect: Effect; violations: string[] };
}

export interface ShadowStatus {
  bundle: { name: string; digest: string; policies: number };
  evaluated: number;
  agreed: number;
  differed: number;
  dropped: number;
  failed: number;
  queued: number;
  /** Count of differences by "active→shadow" effect pair, e.g. "allow→deny". */
  byTransition: Record<string, number>;
  recent: ShadowDifference[];
}

interface Pending {
  attrs: RequestAttributes;
  decisionId: string;
  active: Decision;
  /** Exceptions a verified grant waived for the active decision: the candidate gets the same. */
  waivers: readonly string[] | undefined;
}

const names = (d: Decision): string[] => d.violations.map((v) => v.policy);

function sameViolations(a: Decision, b: Decision): boolean {
  if (a.violations.length !== b.violations.length) return false;
  for (let i = 0; i < a.violations.length; i++) if (a.violations[i]!.policy !== b.violations[i]!.policy) return false;
  return true;
}

export class ShadowEvaluator {
  private queue: Pending[] = [];
  private scheduled = false;
  private evaluated = 0;
  private agreed = 0;
  private differed = 0;
  private dropped = 0;
  private failed = 0;
  private readonly byTransition: Record<string, number> = {};
  private readonly recent: ShadowDifference[] = [];

  constructor(
    readonly bundle: LoadedBundle,
    private readonly opts: ShadowOptions = SHADOW_DEFAULTS,
  ) {}

  /** Enqueue a decided request (with the waivers it was decided with); O(1), never throws, never blocks. */
  offer(attrs: RequestAttributes, decisionId: string, active: Decision, waivers?: readonly string[]): void {
    if (this.queue.length >= this.opts.maxQueue) {
      this.dropped++;
      return;
    }
    this.queue.push({ attrs, decisionId, active, waivers });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  /** Evaluate everything queued now (tests; the drain does this in batches). */
  flush(): void {
    while (this.queue.length > 0) this.evaluateBatch(this.queue.length);
  }

  private drain(): void {
    this.evaluateBatch(this.opts.batch);
    if (this.queue.length > 0) setImmediate(() => this.drain());
    else this.scheduled = false;
  }

  private evaluateBatch(n: number): void {
    const batch = this.queue.length <= n ? this.queue : this.queue.slice(0, n);
    this.queue = this.queue.length <= n ? [] : this.queue.slice(n);
    for (const p of batch) {
      let d: Decision;
      try {
        d = this.bundle.evaluate(p.attrs, p.waivers);
      } catch {
        this.failed++;
        continue;
      }
      this.evaluated++;
      if (d.effect === p.active.effect && sameViolations(d, p.active)) {
        this.agreed++;
        continue;
      }
      this.differed++;
      const key = `${p.active.effect}→${d.effect}`;
      this.byTransition[key] = (this.byTransition[key] ?? 0) + 1;
      this.recent.push({
        decisionId: p.decisionId,
        at: new Date().toISOString(),
        method: p.attrs.method ?? null,
        path: p.attrs.path ?? null,
        active: { effect: p.active.effect, violations: names(p.active) },
        shadow: { effect: d.effect, violations: names(d) },
      });
      if (this.recent.length > this.opts.keepDifferences) this.recent.shift();
    }
  }

  status(): ShadowStatus {
    return {
      bundle: { name: this.bundle.name, digest: this.bundle.ref.digest, policies: this.bundle.policies.length },
      evaluated: this.evaluated,
      agreed: this.agreed,
      differed: this.differed,
      dropped: this.dropped,
      failed: this.failed,
      queued: this.queue.length,
      byTransition: { ...this.byTransition },
      recent: [...this.recent],
    };
  }

  /** Prometheus text. */
  metrics(): string {
    const lines = [
      "# HELP aecp_shadow_evaluations_total Shadow-bundle evaluations by result (agreed, differed, failed, dropped).",
      "# TYPE aecp_shadow_evaluations_total counter",
      `aecp_shadow_evaluations_total{result="agreed"} ${this.agreed}`,
      `aecp_shadow_evaluations_total{result="differed"} ${this.differed}`,
      `aecp_shadow_evaluations_total{result="failed"} ${this.failed}`,
      `aecp_shadow_evaluations_total{result="dropped"} ${this.dropped}`,
      "# HELP aecp_shadow_differences_total Shadow differences by active and shadow effect.",
      "# TYPE aecp_shadow_differences_total counter",
      ...Object.entries(this.byTransition).map(([k, n]) => {
        const [a, s] = k.split("→");
        return `aecp_shadow_differences_total{active="${a}",shadow="${s}"} ${n}`;
      }),
    ];
    return lines.join("\n") + "\n";
  }
}
