// OpenTelemetry for the sidecar (off by default; on with
// `telemetry.otlpEndpoint` / `--otlp-endpoint`):
//   - a SERVER span per Check, a child of the caller's trace: Envoy forwards
//     the original request's `traceparent` in the CheckRequest headers, and
//     the span joins that trace (W3C trace context; parent-based sampling)
//   - metrics: decisions by effect, violations by policy, evaluation and
//     handler latency histograms, active bundle revision and age
// exported over OTLP/HTTP (JSON) with the SDK's batching exporters.
//
// The SDK is imported only when enabled (`Telemetry.start`), so a sidecar
// without telemetry loads none of it, and a Check then pays one branch.
// The Prometheus text on /metrics (sidecar.ts) is independent and always on.

import type { Attributes, Context, Counter, Histogram, Span, Tracer } from "@opentelemetry/api";
import type { NodeSDK } from "@opentelemetry/sdk-node";
import type { Decision } from "../bundle/index.js";
import { AECP_VERSION } from "../common/index.js";
import type { TelemetryOptions } from "./telemetry-options.js";

/** Seconds; fine at the low end, where ext_authz budgets live. */
export const LATENCY_BUCKETS_S = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/** What the sidecar tells telemetry about one finished Check. */
export interface CheckRecord {
  /** Request headers (lower-case), for the caller's trace context. */
  headers: Readonly<Record<string, string>> | undefined;
  method: string | null;
  path: string | null;
  decisionId: string;
  effect: string;
  /** Reason code of a failure to decide (fail closed / open). */
  reason: string | undefined;
  decision: Decision | undefined;
  transport: "grpc" | "http";
  /** performance.timeOrigin-relative start, ms (performance.now()). */
  startMs: number;
  endMs: number;
}

/** Gauges read at export time. */
export interface BundleGaugeSource {
  (): { revision: number | null; loadedAtMs: number; name: string } | undefined;
}

type Api = typeof import("@opentelemetry/api");

/**
 * Load and start the OpenTelemetry SDK (sdk-node, no auto-instrumentation)
 * exporting OTLP/HTTP JSON traces and metrics to `opts.otlpEndpoint`, W3C
 * trace context, parent-based sampling. One setup for every AECP service
 * (the sidecar here, the approvals service); the caller gets its tracer and
 * meter from the returned API. Imported lazily: nothing of the SDK loads
 * while telemetry is off.
 */
export async function startTelemetrySdk(opts: TelemetryOptions, serviceName: string): Promise<{ api: Api; sdk: NodeSDK }> {
  const endpoint = opts.otlpEndpoint!;
  const [api, { NodeSDK }, { OTLPTraceExporter }, { OTLPMetricExporter }, { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler }, { PeriodicExportingMetricReader }, { W3CTraceContextPropagator }, { resourceFromAttributes }] =
    await Promise.all([
      import("@opentelemetry/api"),
      import("@opentelemetry/sdk-node"),
      import("@opentelemetry/exporter-trace-otlp-http"),
      import("@opentelemetry/exporter-metrics-otlp-http"),
      import("@opentelemetry/sdk-trace-base"),
      import("@opentelemetry/sdk-metrics"),
      import("@opentelemetry/core"),
      import("@opentelemetry/resources"),
    ]);
  const headers = { ...opts.headers };
  const sdk = new NodeSDK({
    serviceName,
    resource: resourceFromAttributes({ "service.name": serviceName, "service.version": AECP_VERSION }),
    autoDetectResources: false,
    instrumentations: [],
    textMapPropagator: new W3CTraceContextPropagator(),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(opts.sampleRatio) }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${endpoint}/v1/traces`, headers }), { maxQueueSize: 8192, scheduledDelayMillis: 1000 })],
    metricReaders: [
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: `${endpoint}/v1/metrics`, headers }),
        exportIntervalMillis: opts.metricIntervalMs,
        exportTimeoutMillis: Math.min(30_000, opts.metricIntervalMs),
      }),
    ],
  });
  sdk.start();
  return { api, sdk };
}

/** Flush and stop what startTelemetrySdk started, and unregister the global providers. */
export async function stopTelemetrySdk(api: Api, sdk: NodeSDK): Promise<void> {
  try {
    await sdk.shutdown();
  } finally {
    api.trace.disable();
    api.metrics.disable();
    api.propagation.disable();
  }
}

export class Telemetry {
  private constructor(
    private readonly api: Api,
    private readonly sdk: NodeSDK,
    private readonly tracer: Tracer,
    private readonly decisions: Counter,
    private readonly violations: Counter,
    private readonly evalDuration: Histogram,
    private readonly checkDuration: Histogram,
  ) {}

  /** Load the SDK and start exporting. */
  static async start(opts: TelemetryOptions, bundle: BundleGaugeSource): Promise<Telemetry> {
    const { api, sdk } = await startTelemetrySdk(opts, opts.serviceName);
    const tracer = api.trace.getTracer("aecp-sidecar", AECP_VERSION);
    const meter = api.metrics.getMeter("aecp-sidecar", AECP_VERSION);
    const boundaries = { advice: { explicitBucketBoundaries: LATENCY_BUCKETS_S } };
    const t = new Telemetry(
      api,
      sdk,
      tracer,
      meter.createCounter("aecp.decisions", { description: "Decisions (and failures to decide) by effect" }),
      meter.createCounter("aecp.policy.violations", { description: "Violated policies by name and enforcement" }),
      meter.createHistogram("aecp.eval.duration", { unit: "s", description: "Attribute extraction + policy evaluation time", ...boundaries }),
      meter.createHistogram("aecp.check.duration", { unit: "s", description: "Check handler time, request in to response out", ...boundaries }),
    );
    meter
      .createObservableGauge("aecp.bundle.revision", { description: "Distribution revision of the active bundle (-1 for a file)" })
      .addCallback((r) => {
        const b = bundle();
        if (b) r.observe(b.revision ?? -1, { "aecp.bundle.name": b.name });
      });
    meter
      .createObservableGauge("aecp.bundle.age", { unit: "s", description: "Seconds since the active bundle was activated" })
      .addCallback((r) => {
        const b = bundle();
        if (b) r.observe((Date.now() - b.loadedAtMs) / 1000, { "aecp.bundle.name": b.name });
      });
    return t;
  }

  /** Record one finished Check: span (joined to the caller's trace) and metrics. */
  record(c: CheckRecord): void {
    const api = this.api;
    const d = c.decision;
    this.decisions.add(1, { "aecp.effect": c.effect, ...(c.reason ? { "aecp.reason": c.reason } : {}) });
    if (d) {
      for (const v of d.violations) this.violations.add(1, { "aecp.policy": v.policy, "aecp.enforcement": v.enforcement });
      this.evalDuration.record(d.evalNs / 1e9);
    }
    this.checkDuration.record((c.endMs - c.startMs) / 1000, { "aecp.transport": c.transport });

    const parent: Context = c.headers ? api.propagation.extract(api.ROOT_CONTEXT, c.headers) : api.ROOT_CONTEXT;
    const attributes: Attributes = {
      "aecp.decision_id": c.decisionId,
      "aecp.effect": c.effect,
      "aecp.transport": c.transport,
    };
    if (c.method !== null) attributes["http.request.method"] = c.method;
    if (c.path !== null) attributes["url.path"] = c.path;
    if (c.reason) attributes["aecp.reason"] = c.reason;
    if (d) {
      attributes["aecp.bundle.name"] = d.bundle.name;
      attributes["aecp.bundle.digest"] = d.bundle.digest;
      if (d.bundle.revision !== null) attributes["aecp.bundle.revision"] = d.bundle.revision;
      attributes["aecp.policies"] = d.violations.map((v) => v.policy);
      attributes["aecp.eval_ns"] = d.evalNs;
    }
    const origin = performance.timeOrigin;
    const span: Span = this.tracer.startSpan(
      "envoy.service.auth.v3.Authorization/Check",
      { kind: api.SpanKind.SERVER, startTime: origin + c.startMs, attributes },
      parent,
    );
    if (c.reason) span.setStatus({ code: api.SpanStatusCode.ERROR, message: c.reason });
    span.end(origin + c.endMs);
  }

  /** Export what is buffered now (tests, shutdown). */
  async flush(): Promise<void> {
    // NodeSDK has no flush; the global providers do
    const tp = this.api.trace.getTracerProvider() as unknown as { forceFlush?: () => Promise<void>; getDelegate?: () => { forceFlush?: () => Promise<void> } };
    await (tp.forceFlush?.() ?? tp.getDelegate?.().forceFlush?.());
    const mp = this.api.metrics.getMeterProvider() as unknown as { forceFlush?: () => Promise<void> };
    await mp.forceFlush?.();
  }

  /** Flush and stop exporting; unregisters the global providers. */
  async shutdown(): Promise<void> {
    await stopTelemetrySdk(this.api, this.sdk);
  }
}
