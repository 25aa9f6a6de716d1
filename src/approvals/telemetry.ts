// OpenTelemetry for the approvals service (off unless `telemetry.otlpEndpoint`
// is configured; the same options as the sidecar's, `service.name` defaults
// to "aecp-approvals"):
//   - a SERVER span per HTTP request, a child of the caller's trace (the
//     sidecar's calls carry the paused request's `traceparent` when present),
//     named `approvals <route>`, with method, route, status and execution id
//   - metrics: requests by route and status, request duration histogram
// exported over OTLP/HTTP (JSON). The SDK is imported only when enabled.
// The Prometheus text on /metrics is independent and always on.

import type { Attributes, Context, Counter, Histogram, Tracer } from "@opentelemetry/api";
import type { NodeSDK } from "@opentelemetry/sdk-node";
import { AECP_VERSION } from "../common/index.js";
import { startTelemetrySdk, stopTelemetrySdk, type TelemetryOptions } from "../executive/index.js";

type Api = typeof import("@opentelemetry/api");

/** Seconds. */
const BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 60];

export interface RequestRecord {
  route: string;
  method: string;
  status: number;
  /** performance.now() times, ms. */
  startMs: number;
  endMs: number;
  headers: Record<string, string | string[] | undefined>;
  executionId: string | undefined;
}

export class ApprovalsTelemetry {
  private constructor(
    private readonly api: Api,
    private readonly sdk: NodeSDK,
    private readonly tracer: Tracer,
    private readonly requests: Counter,
    private readonly duration: Histogram,
  ) {}

  static async start(opts: TelemetryOptions): Promise<ApprovalsTelemetry> {
    const serviceName = opts.serviceName === "aecp-sidecar" ? "aecp-approvals" : opts.serviceName;
    const { api, sdk } = await startTelemetrySdk(opts, serviceName);
    const meter = api.metrics.getMeter("aecp-approvals", AECP_VERSION);
    return new ApprovalsTelemetry(
      api,
      sdk,
      api.trace.getTracer("aecp-approvals", AECP_VERSION),
      meter.createCounter("aecp.approvals.requests", { description: "HTTP requests by route and status" }),
      meter.createHistogram("aecp.approvals.request.duration", { unit: "s", description: "HTTP request time, in to out (long polls included)", advice: { explicitBucketBoundaries: BUCKETS_S } }),
    );
  }

  /** Record one finished request: span (joined to the caller's trace) and metrics. */
  record(r: RequestRecord): void {
    const api = this.api;
    const labels = { "http.route": r.route, "http.response.status_code": r.status };
    this.requests.add(1, labels);
    this.duration.record((r.endMs - r.startMs) / 1000, { "http.route": r.route });
    const carrier: Record<string, string> = {};
    for (const k of ["traceparent", "tracestate"]) {
      const v = r.headers[k];
      if (typeof v === "string") carrier[k] = v;
    }
    const parent: Context = api.propagation.extract(api.ROOT_CONTEXT, carrier);
    const attributes: Attributes = { "http.request.method": r.method, ...labels };
    if (r.executionId) attributes["aecp.execution_id"] = r.executionId;
    const origin = performance.timeOrigin;
    const span = this.tracer.startSpan(`approvals ${r.route}`, { kind: api.SpanKind.SERVER, startTime: origin + r.startMs, attributes }, parent);
    if (r.status >= 500) span.setStatus({ code: api.SpanStatusCode.ERROR });
    span.end(origin + r.endMs);
  }

  /** Flush and stop exporting; unregisters the global providers. */
  async shutdown(): Promise<void> {
    await stopTelemetrySdk(this.api, this.sdk);
  }
}
