// SidecarOptions: the one options type of the enforcement sidecar. Every
// field documented with its default; `sidecarOptions()` validates, fills
// defaults, freezes, and rejects unknown keys and bad values with
// AECP_CONFIG_INVALID naming the key. Used for both the CLI flags and the
// YAML config file (`aecp sidecar --config`).

import { AecpError } from "../common/index.js";
import { decisionLogOptions, type DecisionLogOptions } from "./decision-log.js";
import { telemetryOptions, type TelemetryOptions } from "./telemetry-options.js";

export interface SidecarOptions {
  /** Signed bundle file to serve; exactly one of `bundle` or `distribution` + `name`. Default undefined. */
  readonly bundle: string | undefined;
  /** Distribution service base URL to watch for bundle `name` (src/distribution). Default undefined. */
  readonly distribution: string | undefined;
  /** Bundle name to follow on the distribution service (required with `distribution`). Default undefined. */
  readonly name: string | undefined;
  /** Bearer token for distribution reads (from AECP_DISTRIBUTION_TOKEN or the config file). Default undefined. */
  readonly distributionToken: string | undefined;
  /** Candidate bundle evaluated beside the active one; differences are recorded, responses unaffected. Default undefined. */
  readonly shadowBundle: string | undefined;
  /** Candidate bundle name to follow on the distribution service as the shadow (needs `distribution`; exclusive with `shadowBundle`). Default undefined. */
  readonly shadowName: string | undefined;
  /** Processes sharing the listeners (node:cluster); 1 = this process serves. Default 1. */
  readonly workers: number;
  /** OpenTelemetry export (see telemetry.ts); disabled unless `otlpEndpoint` is set. */
  readonly telemetry: TelemetryOptions;
  /** Trusted public keys, as PEM file paths (at least one). */
  readonly pub: readonly string[];
  /** Public keys (PEM paths) trusted to sign exception grants (the approvals service's grant key); none = grants refused. Default []. */
  readonly grantPub: readonly string[];
  /** gRPC listen addresses, `host:port` or `unix:/path`. Default ["127.0.0.1:9191"]. */
  readonly grpc: readonly string[];
  /** HTTP listen address for health, status and metrics. Default "127.0.0.1:9192". */
  readonly http: string;
  /** Allow requests when the sidecar cannot decide. Default false (fail closed). */
  readonly failOpen: boolean;
  /** HTTP status sent when failing closed on an internal error. Default 403. */
  readonly failStatus: number;
  /** Largest bundle file accepted, bytes. Default 64 MiB. */
  readonly maxBundleBytes: number;
  /** Largest request body parsed as JSON, bytes. Default 1 MiB. */
  readonly maxBodyBytes: number;
  /** Directory for the last-known-good bundle; undefined = no cache. Default undefined. */
  readonly cacheDir: string | undefined;
  /** Approvals service base URL; undefined = paused requests fail closed with 503. Default undefined. */
  readonly approvals: string | undefined;
  /** Bearer token for the approvals service. Default undefined. */
  readonly approvalsToken: string | undefined;
  /** "defer" (answer at once, client retries with x-aecp-execution-id) or "hold" (wait up to holdMs). Default "defer". */
  readonly pauseMode: "defer" | "hold";
  /** Hold mode: longest wait for a human decision, ms; keep it below Envoy's ext_authz timeout. Default 0. */
  readonly holdMs: number;
  /** HTTP status of the deferred response. Default 428. */
  readonly deferStatus: number;
  /** Decision log shipping (see decision-log.ts); `sink` undefined = disabled. Default disabled. */
  readonly decisionLog: DecisionLogOptions;
}

export const SIDECAR_DEFAULTS = Object.freeze({
  grpc: ["127.0.0.1:9191"],
  http: "127.0.0.1:9192",
  failOpen: false,
  failStatus: 403,
  maxBundleBytes: 64 * 1024 * 1024,
  maxBodyBytes: 1024 * 1024,
});

const KEYS = [
  "bundle", "pub", "grpc", "http", "failOpen", "failStatus", "maxBundleBytes", "maxBodyBytes", "cacheDir",
  "approvals", "approvalsToken", "pauseMode", "holdMs", "deferStatus", "decisionLog",
  "distribution", "name", "distributionToken", "shadowBundle", "shadowName", "workers", "telemetry", "grantPub",
] as const;

/** The bundle-name rule of `aecp compile --name`. */
const BUNDLE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function bad(key: string, why: string): never {
  throw new AecpError("AECP_CONFIG_INVALID", `sidecar option \`${key}\` ${why}`);
}

const HOST_PORT = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

export function validateListenAddress(key: string, v: string, allowUnix: boolean): string {
  if (allowUnix && v.startsWith("unix:")) {
    if (v.length <= 5) bad(key, "needs a socket path after `unix:`");
    return v;
  }
  const m = HOST_PORT.exec(v);
  if (!m || Number(m[1]) > 65535) bad(key, `must be host:port${allowUnix ? " or unix:/path" : ""}, not \`${v}\``);
  return v;
}

function str(key: string, v: unknown): string {
  if (typeof v !== "string" || v === "") bad(key, "must be a non-empty string");
  return v;
}

function strList(key: string, v: unknown): string[] {
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || list.length === 0 || list.some((x) => typeof x !== "string" || x === "")) bad(key, "must be a non-empty list of strings");
  return list as string[];
}

function url(key: string, v: unknown): string {
  const s = str(key, v);
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    bad(key, `must be an http(s) URL, not \`${s}\``);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") bad(key, "must be an http(s) URL");
  return s;
}

function int(key: string, v: unknown, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) bad(key, `must be a whole number from ${min} to ${max}`);
  return v;
}

/** Validate raw options (from flags or YAML), fill defaults, freeze. */
export function sidecarOptions(raw: unknown): SidecarOptions {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new AecpError("AECP_CONFIG_INVALID", "sidecar configuration must be a map");
  const r = raw as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (!(KEYS as readonly string[]).includes(k)) throw new AecpError("AECP_CONFIG_INVALID", `unknown sidecar option \`${k}\` (known: ${KEYS.join(", ")})`);
  }
  if (r["bundle"] === undefined && r["distribution"] === undefined) bad("bundle", "or `distribution` (with `name`) is required: where the signed bundle comes from");
  if (r["bundle"] !== undefined && r["distribution"] !== undefined) bad("bundle", "and `distribution` are exclusive: serve a file or follow the distribution service, not both");
  if (r["distribution"] !== undefined && r["name"] === undefined) bad("name", "is required with `distribution` (the bundle name to follow)");
  if (r["name"] !== undefined && r["distribution"] === undefined) bad("name", "needs `distribution`");
  if (r["shadowName"] !== undefined && r["distribution"] === undefined) bad("shadowName", "needs `distribution`");
  if (r["shadowName"] !== undefined && r["shadowBundle"] !== undefined) bad("shadowName", "and `shadowBundle` are exclusive: one shadow candidate at a time");
  if (r["pub"] === undefined) bad("pub", "is required (at least one trusted public key)");
  const grpc = r["grpc"] === undefined ? SIDECAR_DEFAULTS.grpc : strList("grpc", r["grpc"]);
  const failStatus = r["failStatus"] === undefined ? SIDECAR_DEFAULTS.failStatus : int("failStatus", r["failStatus"], 400, 599);
  return Object.freeze({
    bundle: r["bundle"] === undefined ? undefined : str("bundle", r["bundle"]),
    distribution: r["distribution"] === undefined ? undefined : url("distribution", r["distribution"]),
    name: r["name"] === undefined ? undefined : BUNDLE_NAME.test(str("name", r["name"])) ? (r["name"] as string) : bad("name", "must be a bundle name: letters, digits, `.`, `_`, `-` (at most 128 characters)"),
    distributionToken: r["distributionToken"] === undefined ? undefined : str("distributionToken", r["distributionToken"]),
    shadowBundle: r["shadowBundle"] === undefined ? undefined : str("shadowBundle", r["shadowBundle"]),
    shadowName:
      r["shadowName"] === undefined
        ? undefined
        : BUNDLE_NAME.test(str("shadowName", r["shadowName"]))
          ? (r["shadowName"] as string)
          : bad("shadowName", "must be a bundle name: letters, digits, `.`, `_`, `-` (at most 128 characters)"),
    workers: r["workers"] === undefined ? 1 : int("workers", r["workers"], 1, 64),
    telemetry: telemetryOptions(r["telemetry"] ?? {}),
    pub: Object.freeze(strList("pub", r["pub"])),
    grantPub: Object.freeze(r["grantPub"] === undefined ? [] : strList("grantPub", r["grantPub"])),
    grpc: Object.freeze(grpc.map((a) => validateListenAddress("grpc", a, true))),
    http: validateListenAddress("http", r["http"] === undefined ? SIDECAR_DEFAULTS.http : str("http", r["http"]), false),
    failOpen: r["failOpen"] === undefined ? SIDECAR_DEFAULTS.failOpen : typeof r["failOpen"] === "boolean" ? r["failOpen"] : bad("failOpen", "must be true or false"),
    failStatus,
    maxBundleBytes: r["maxBundleBytes"] === undefined ? SIDECAR_DEFAULTS.maxBundleBytes : int("maxBundleBytes", r["maxBundleBytes"], 1024, 1 << 30),
    maxBodyBytes: r["maxBodyBytes"] === undefined ? SIDECAR_DEFAULTS.maxBodyBytes : int("maxBodyBytes", r["maxBodyBytes"], 0, 64 * 1024 * 1024),
    cacheDir: r["cacheDir"] === undefined ? undefined : str("cacheDir", r["cacheDir"]),
    approvals: r["approvals"] === undefined ? undefined : url("approvals", r["approvals"]),
    approvalsToken: r["approvalsToken"] === undefined ? undefined : str("approvalsToken", r["approvalsToken"]),
    pauseMode: r["pauseMode"] === undefined ? "defer" : r["pauseMode"] === "defer" || r["pauseMode"] === "hold" ? r["pauseMode"] : bad("pauseMode", "must be `defer` or `hold`"),
    holdMs: r["holdMs"] === undefined ? 0 : int("holdMs", r["holdMs"], 0, 300_000),
    deferStatus: r["deferStatus"] === undefined ? 428 : int("deferStatus", r["deferStatus"], 400, 599),
    decisionLog: decisionLogOptions(r["decisionLog"] ?? {}),
  });
}
