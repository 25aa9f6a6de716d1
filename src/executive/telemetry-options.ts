// TelemetryOptions: the sidecar's OpenTelemetry settings (the `telemetry:`
// map of the sidecar config; flags --otlp-endpoint). Off unless an OTLP
// endpoint is configured: with it off, no SDK is loaded and a Check pays one
// branch. The Prometheus text on /metrics is independent of this and always on.

import { AecpError } from "../common/index.js";

export interface TelemetryOptions {
  /** OTLP/HTTP base URL (e.g. http://127.0.0.1:4318); traces go to /v1/traces, metrics to /v1/metrics. Default undefined = off. */
  readonly otlpEndpoint: string | undefined;
  /** `service.name` resource attribute. Default "aecp-sidecar". */
  readonly serviceName: string;
  /** Head sampling ratio for Checks without a sampled parent, 0..1 (parent-based: a caller's decision wins). Default 1. */
  readonly sampleRatio: number;
  /** Metric export interval, ms. Default 15,000. */
  readonly metricIntervalMs: number;
  /** Extra headers sent with every OTLP export (e.g. an API key). Default {}. */
  readonly headers: Readonly<Record<string, string>>;
}

export const TELEMETRY_DEFAULTS: TelemetryOptions = Object.freeze({
  otlpEndpoint: undefined,
  serviceName: "aecp-sidecar",
  sampleRatio: 1,
  metricIntervalMs: 15_000,
  headers: Object.freeze({}),
});

const KEYS = ["otlpEndpoint", "serviceName", "sampleRatio", "metricIntervalMs", "headers"] as const;

function bad(key: string, why: string): never {
  throw new AecpError("AECP_CONFIG_INVALID", `sidecar option \`telemetry.${key}\` ${why}`);
}

/** Validate raw telemetry options, fill defaults, freeze. */
export function telemetryOptions(raw: unknown): TelemetryOptions {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new AecpError("AECP_CONFIG_INVALID", "sidecar option `telemetry` must be a map");
  const r = raw as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (!(KEYS as readonly string[]).includes(k)) throw new AecpError("AECP_CONFIG_INVALID", `unknown sidecar option \`telemetry.${k}\` (known: ${KEYS.join(", ")})`);
  }
  let otlpEndpoint: string | undefined;
  if (r["otlpEndpoint"] !== undefined) {
    const v = r["otlpEndpoint"];
    let u: URL | undefined;
    try {
      u = typeof v === "string" ? new URL(v) : undefined;
    } catch {
      u = undefined;
    }
    if (!u || (u.protocol !== "http:" && u.protocol !== "https:")) bad("otlpEndpoint", "must be an http(s) URL, e.g. http://127.0.0.1:4318");
    otlpEndpoint = (v as string).replace(/\/+$/, "");
  }
  const serviceName = r["serviceName"] ?? TELEMETRY_DEFAULTS.serviceName;
  if (typeof serviceName !== "string" || serviceName === "" || serviceName.length > 256) bad("serviceName", "must be a non-empty string");
  const sampleRatio = r["sampleRatio"] ?? TELEMETRY_DEFAULTS.sampleRatio;
  if (typeof sampleRatio !== "number" || !(sampleRatio >= 0 && sampleRatio <= 1)) bad("sampleRatio", "must be a number from 0 to 1");
  const metricIntervalMs = r["metricIntervalMs"] ?? TELEMETRY_DEFAULTS.metricIntervalMs;
  if (typeof metricIntervalMs !== "number" || !Number.isInteger(metricIntervalMs) || metricIntervalMs < 1000 || metricIntervalMs > 3_600_000) {
    bad("metricIntervalMs", "must be a whole number of ms from 1000 to 3600000");
  }
  const headers = r["headers"] ?? {};
  if (headers === null || typeof headers !== "object" || Array.isArray(headers) || Object.values(headers).some((x) => typeof x !== "string")) {
    bad("headers", "must be a map of header name to string value");
  }
  return Object.freeze({ otlpEndpoint, serviceName, sampleRatio, metricIntervalMs, headers: Object.freeze({ ...(headers as Record<string, string>) }) });
}
