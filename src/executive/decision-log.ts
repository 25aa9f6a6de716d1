// The decision log: every decision the sidecar makes becomes one structured
// record (decision id, time, bundle, effect, violated/waived policies, the
// request attributes with secrets masked, eval time). Records wait in a
// bounded in-memory ring and are shipped in batches to an HTTP sink (later the
// approvals service's audit endpoint).
//
// Hot path. `record()` is synchronous, never throws, never awaits and does no
// I/O. It captures references to the decision and to the attribute fields a
// record needs (never to the RequestAttributes object itself, which holds the
// full body and raw body), measures the JSON body against `maxBodyBytes` with a
// walk that stops at that budget, and pushes onto a ring. Building the record
// object, masking headers and serializing happen later, when a batch is sent,
// on an event-loop turn of their own.
//
// Memory. At most `maxQueue` records are held: queued plus in flight. When the
// ring is full the OLDEST queued record is dropped and counted
// (`dropped{reason="overflow"}`). Why oldest: the queue only fills while the
// sink is failing, so its head is the stalest part of the backlog; keeping the
// newest records means that when the sink returns, the log shows what is
// happening now (the incident being debugged) rather than a prefix from long
// ago. A record in flight is never dropped (its fate is the sink's answer);
// when everything held is in flight, the incoming record is the one dropped.
//
// Shipping. One request at a time (INVARIANT: never more than one in flight),
// started by the flush timer (`flushIntervalMs`) or on the next turn once a
// full batch (`maxBatch`) is queued. Wire format:
//   POST <sink>  content-type: application/json  [authorization: Bearer <token>]
//   {"records":[<DecisionRecord>, ...]}
// A JSON object rather than NDJSON so the sink can parse it with any JSON
// body parser and the envelope can grow fields later. The sink's answer:
//   2xx                         shipped
//   408, 429, 5xx, network      failed: the batch goes back to the queue head
//   error, timeout              and is retried after a backoff (exponential
//                               from `backoffBaseMs`, equal jitter, capped at
//                               `backoffMaxMs`, at least `retry-after`)
//   anything else (3xx, 4xx)    rejected: the batch is dropped and counted;
//                               retrying a request the sink refuses cannot help
// Redirects are not followed.
//
// Lifecycle (STYLE: validate/start/stop/status): `decisionLogOptions()`
// validates; `start()` opens the keep-alive pool and the flush timer; `stop()`
// sends what it can within `stopTimeoutMs`, then counts the rest as
// `dropped{reason="shutdown"}`; `status()` reports OK/WARN/ERROR/DISABLED. The
// log's health never affects readiness: a failing sink loses log records, not
// decisions. Without a `sink` the log is DISABLED and `record()` returns before
// reading its arguments.

import type { Pool } from "undici";
import { loadUndici } from "./lazy-undici.js";
import { AECP_VERSION, AecpError, type ErrorCode } from "../common/index.js";
import type { Decision, Effect, PeerAttributes, RequestAttributes } from "../bundle/index.js";
import type { CheckOutcome } from "./response.js";

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

export interface DecisionLogOptions {
  /** Sink URL (http or https) that receives batches by POST. Undefined (the default) disables the log. Must not carry credentials. */
  readonly sink: string | undefined;
  /** Bearer token sent as `authorization: Bearer <token>`. Default: none. Visible ASCII, no spaces. */
  readonly token: string | undefined;
  /** Most records held in memory, queued plus in flight. Default 10,000; 1 to 1,000,000. */
  readonly maxQueue: number;
  /** Most records per request. Default 500 (or `maxQueue` when that is smaller); 1 to `maxQueue`. */
  readonly maxBatch: number;
  /** Flush timer period: a partial batch waits at most about this long while the sink is healthy, ms. Default 1,000; 10 to 3,600,000. */
  readonly flushIntervalMs: number;
  /**
   * Largest JSON request body copied into a record, UTF-8 bytes as serialized.
   * A larger body is logged as `{truncated: true, bytes}`. Default 4,096; 0
   * never copies a body; at most 16 MiB.
   */
  readonly maxBodyBytes: number;
  /**
   * Header names (lower-case) whose values are logged as `"***"`. Always
   * includes ALWAYS_MASKED_HEADERS; configured names are added to them.
   */
  readonly maskHeaders: readonly string[];
  /**
   * Query parameter names (matched case-insensitively) whose values are
   * logged as `"***"`, in `query` and in the query string of the `:path` and
   * `x-envoy-original-path` headers. Always includes ALWAYS_MASKED_QUERY;
   * configured names are added to them.
   */
  readonly maskQuery: readonly string[];
  /** Time allowed for one request, connect to response end, ms. Default 5,000; 1 to 600,000. */
  readonly requestTimeoutMs: number;
  /** Backoff after the first failed request, ms; doubles per consecutive failure (with jitter). Default 250; 1 to 600,000. */
  readonly backoffBaseMs: number;
  /** Largest backoff, ms. Default 30,000; `backoffBaseMs` to 3,600,000. */
  readonly backoffMaxMs: number;
  /** Time `stop()` spends sending what is queued before giving up, ms. Default 5,000; 0 to 600,000. */
  readonly stopTimeoutMs: number;
}

export const DECISION_LOG_DEFAULTS = Object.freeze({
  maxQueue: 10_000,
  maxBatch: 500,
  flushIntervalMs: 1000,
  maxBodyBytes: 4096,
  requestTimeoutMs: 5000,
  backoffBaseMs: 250,
  backoffMaxMs: 30_000,
  stopTimeoutMs: 5000,
});

/** Header names whose values are always masked, whatever the configuration. */
export const ALWAYS_MASKED_HEADERS: readonly string[] = Object.freeze(["authorization", "cookie", "set-cookie", "proxy-authorization", "x-api-key"]);

/** Query parameters whose values are always masked (credentials that clients put in URLs). */
export const ALWAYS_MASKED_QUERY: readonly string[] = Object.freeze([
  "access_token", "id_token", "refresh_token", "token", "api_key", "apikey", "password", "passwd",
  "secret", "client_secret", "signature", "sig", "x-amz-signature", "x-amz-security-token", "auth",
]);

/** Headers that carry the request's path with its query string. */
const PATH_HEADERS = [":path", "x-envoy-original-path"];

/** What a masked header value is replaced with. */
export const MASKED_VALUE = "***";

const KEYS = [
  "sink",
  "token",
  "maxQueue",
  "maxBatch",
  "flushIntervalMs",
  "maxBodyBytes",
  "maskHeaders",
  "maskQuery",
  "requestTimeoutMs",
  "backoffBaseMs",
  "backoffMaxMs",
  "stopTimeoutMs",
] as const;

function bad(key: string, why: string): never {
  throw new AecpError("AECP_CONFIG_INVALID", `decision log option \`${key}\` ${why}`);
}

function int(key: string, v: unknown, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) bad(key, `must be a whole number from ${min} to ${max}`);
  return v;
}

function sinkUrl(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string" || v === "") bad("sink", "must be an http or https URL");
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return bad("sink", "is not a valid URL");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") bad("sink", `must use http or https, not \`${u.protocol.slice(0, -1)}\``);
  // The URL shows up in configuration dumps and errors; secrets go in `token`.
  if (u.username !== "" || u.password !== "") bad("sink", "must not carry credentials (use `token`)");
  if (u.hash !== "") bad("sink", "must not have a #fragment");
  return u.href;
}

/** RFC 9110 token characters: what a header name may contain. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function queryNames(v: unknown): readonly string[] {
  const list = v === undefined ? [] : typeof v === "string" ? [v] : v;
  if (!Array.isArray(list)) bad("maskQuery", "must be a list of query parameter names");
  const names = new Set(ALWAYS_MASKED_QUERY);
  for (const n of list) {
    if (typeof n !== "string" || n === "" || n.length > 256) bad("maskQuery", `must be a list of query parameter names, not \`${String(n).slice(0, 64)}\``);
    names.add(n.toLowerCase());
  }
  return Object.freeze([...names]);
}

function headerNames(v: unknown): readonly string[] {
  const list = v === undefined ? [] : typeof v === "string" ? [v] : v;
  if (!Array.isArray(list)) bad("maskHeaders", "must be a list of header names");
  const names = new Set(ALWAYS_MASKED_HEADERS);
  for (const n of list) {
    if (typeof n !== "string" || !HEADER_NAME.test(n)) bad("maskHeaders", `must be a list of header names, not \`${String(n).slice(0, 64)}\``);
    names.add(n.toLowerCase());
  }
  return Object.freeze([...names]);
}

/**
 * Validate raw decision log options (from flags or YAML), fill defaults,
 * freeze. `undefined`/`null` means "all defaults" (a disabled log). Throws
 * AECP_CONFIG_INVALID naming the key for unknown keys and bad values.
 */
export function decisionLogOptions(raw?: unknown): DecisionLogOptions {
  const value = raw ?? {};
  if (typeof value !== "object" || Array.isArray(value)) throw new AecpError("AECP_CONFIG_INVALID", "decision log configuration must be a map");
  const r = value as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (!(KEYS as readonly string[]).includes(k)) throw new AecpError("AECP_CONFIG_INVALID", `unknown decision log option \`${k}\` (known: ${KEYS.join(", ")})`);
  }
  const D = DECISION_LOG_DEFAULTS;
  const token = r["token"];
  if (token !== undefined && (typeof token !== "string" || !/^[\x21-\x7e]+$/.test(token))) bad("token", "must be a non-empty string of visible ASCII characters");
  const maxQueue = int("maxQueue", r["maxQueue"], D.maxQueue, 1, 1_000_000);
  const maxBatch = int("maxBatch", r["maxBatch"], Math.min(D.maxBatch, maxQueue), 1, maxQueue);
  const backoffBaseMs = int("backoffBaseMs", r["backoffBaseMs"], D.backoffBaseMs, 1, 600_000);
  const backoffMaxMs = int("backoffMaxMs", r["backoffMaxMs"], Math.max(D.backoffMaxMs, backoffBaseMs), backoffBaseMs, 3_600_000);
  return Object.freeze({
    sink: sinkUrl(r["sink"]),
    token: token as string | undefined,
    maxQueue,
    maxBatch,
    flushIntervalMs: int("flushIntervalMs", r["flushIntervalMs"], D.flushIntervalMs, 10, 3_600_000),
    maxBodyBytes: int("maxBodyBytes", r["maxBodyBytes"], D.maxBodyBytes, 0, 16 * 1024 * 1024),
    maskHeaders: headerNames(r["maskHeaders"]),
    maskQuery: queryNames(r["maskQuery"]),
    requestTimeoutMs: int("requestTimeoutMs", r["requestTimeoutMs"], D.requestTimeoutMs, 1, 600_000),
    backoffBaseMs,
    backoffMaxMs,
    stopTimeoutMs: int("stopTimeoutMs", r["stopTimeoutMs"], D.stopTimeoutMs, 0, 600_000),
  });
}

// ---------------------------------------------------------------------------
// The record (snake_case JSON, as the sink receives it)
// ---------------------------------------------------------------------------

export interface DecisionRecordPolicy {
  policy: string;
  enforcement: string;
}

export interface DecisionRecordPeer {
  principal?: string;
  address?: string;
  port?: number;
  namespace?: string;
  service_account?: string;
  trust_domain?: string;
  service?: string;
  labels?: Readonly<Record<string, string>>;
}

/** A body larger than `maxBodyBytes`. `bytes`: size as received, null when unknown. */
export interface TruncatedBody {
  truncated: true;
  bytes: number | null;
}

export interface DecisionRecordAttributes {
  method: string | null;
  path: string | null;
  host: string | null;
  scheme: string | null;
  query: Readonly<Record<string, string>>;
  /** Masked: see DecisionLogOptions.maskHeaders. */
  headers: Readonly<Record<string, string>>;
  source: DecisionRecordPeer;
  destination: DecisionRecordPeer;
  context: Readonly<Record<string, string>>;
  /** The parsed JSON body when it fits `maxBodyBytes`; absent when the request had no JSON body. */
  body?: unknown;
}

export interface DecisionRecord {
  decision_id: string;
  /** RFC 3339, UTC, milliseconds. */
  time: string;
  /** The effect enforced (the response's `aecp_effect`): a fail-open error logs "allow" with its reason. */
  effect: Effect;
  /** Reason code when the response carries one (AECP_POLICY_VIOLATION, AECP_DEFAULT_DENY, an error code, ...). */
  reason?: string;
  /** Approval execution the decision refers to, when there is one. */
  execution_id?: string;
  violations: DecisionRecordPolicy[];
  waived: DecisionRecordPolicy[];
  defaulted: boolean;
  /** Null when no bundle decided (no active bundle, malformed request). */
  bundle: { name: string; revision: number | null; digest: string } | null;
  /** Extraction + evaluation time, ns; null when nothing was evaluated. */
  eval_ns: number | null;
  /** Null when the request could not be mapped to attributes. */
  attributes: DecisionRecordAttributes | null;
}

/** What `record()` keeps until the batch is built: references and scalars only. */
interface PendingRecord {
  id: string;
  timeMs: number;
  effect: Effect;
  reason: string | undefined;
  executionId: string | undefined;
  decision: Decision | undefined;
  attrs: AttributeSnapshot | undefined;
  /** The serialized record, once built (kept so a retried batch is not rebuilt). */
  json: string | undefined;
}

interface AttributeSnapshot {
  method: string | undefined;
  path: string | undefined;
  host: string | undefined;
  scheme: string | undefined;
  query: Readonly<Record<string, string>>;
  headers: Readonly<Record<string, string>>;
  source: PeerAttributes;
  destination: PeerAttributes;
  context: Readonly<Record<string, string>>;
  /** undefined: no JSON body; TruncatedBody: too large; else the parsed body (small, by reference). */
  body: unknown;
}

const EFFECT_NAMES: ReadonlySet<string> = new Set<Effect>(["allow", "deny", "pause"]);

function capture(outcome: CheckOutcome, attrs: RequestAttributes | undefined, decision: Decision | undefined, maxBodyBytes: number, timeMs: number): PendingRecord {
  const m = outcome.metadata;
  const e = m["aecp_effect"];
  const reason = m["aecp_reason"];
  const execution = m["aecp_execution_id"];
  return {
    id: outcome.decisionId,
    timeMs,
    effect: typeof e === "string" && EFFECT_NAMES.has(e) ? (e as Effect) : (decision?.effect ?? (outcome.allowed ? "allow" : "deny")),
    reason: typeof reason === "string" ? reason : undefined,
    executionId: typeof execution === "string" ? execution : undefined,
    decision,
    attrs: attrs === undefined ? undefined : snapshot(attrs, maxBodyBytes),
    json: undefined,
  };
}

function snapshot(a: RequestAttributes, maxBodyBytes: number): AttributeSnapshot {
  return {
    method: a.method,
    path: a.path,
    host: a.host,
    scheme: a.scheme,
    query: a.query,
    headers: a.headers,
    source: a.source,
    destination: a.destination,
    context: a.context,
    body: a.body === undefined ? undefined : jsonBytesWithin(a.body, maxBodyBytes) >= 0 ? a.body : truncated(a),
  };
}

function truncated(a: RequestAttributes): TruncatedBody {
  const raw = a.rawBody;
  if (raw instanceof Uint8Array) return { truncated: true, bytes: raw.length };
  // native and fast; only reached for bodies already known to be large
  if (typeof raw === "string") return { truncated: true, bytes: Buffer.byteLength(raw, "utf8") };
  const cl = a.headers["content-length"];
  return { truncated: true, bytes: cl !== undefined && /^\d{1,15}$/.test(cl) ? Number(cl) : null };
}

/**
 * UTF-8 size of `JSON.stringify(value)` if it is at most `budget` bytes, else
 * -1. Stops as soon as the budget is exceeded, so the values and bytes it
 * visits are bounded by the budget, not by the body (a 1 MiB body costs about
 * what a 4 KiB one does; only listing the keys of a very wide object is
 * proportional to its key count, as parsing it was).
 * Iterative: depth is bounded by the budget, not by the call stack. Values
 * JSON cannot represent (bigint, functions) count as over budget.
 */
export function jsonBytesWithin(value: unknown, budget: number): number {
  let total = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || v === undefined) total += 4;
    else if (typeof v === "string") {
      if (v.length + 2 > budget - total) return -1; // UTF-8 bytes >= UTF-16 units
      total += 2;
      for (let i = 0; i < v.length; i++) {
        const c = v.charCodeAt(i);
        if (c === 0x22 || c === 0x5c) total += 2;
        else if (c < 0x20) total += c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d ? 2 : 6;
        else if (c < 0x80) total += 1;
        else if (c < 0x800) total += 2;
        else if (c >= 0xd800 && c <= 0xdbff && i + 1 < v.length && (v.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
          total += 4;
          i++;
        } else if (c >= 0xd800 && c <= 0xdfff) total += 6; // lone surrogate: \uXXXX
        else total += 3;
      }
    } else if (typeof v === "number") total += Number.isFinite(v) ? String(v).length : 4;
    else if (typeof v === "boolean") total += v ? 4 : 5;
    else if (typeof v === "object") {
      if (Array.isArray(v)) {
        total += 2 + Math.max(0, v.length - 1); // brackets and commas, before looking inside
        if (total > budget) return -1;
        for (let i = v.length - 1; i >= 0; i--) stack.push(v[i]);
      } else {
        total += 2;
        let first = true;
        const o = v as Record<string, unknown>;
        for (const k in o) {
          if (!Object.hasOwn(o, k)) continue;
          total += (first ? 0 : 1) + 1; // comma, colon
          first = false;
          stack.push(k, o[k]);
          if (total + stack.length > budget) return -1; // each pending value costs >= 1 byte
        }
      }
    } else return -1;
    if (total > budget) return -1;
  }
  return total;
}

function peerRecord(p: PeerAttributes): DecisionRecordPeer {
  const out: DecisionRecordPeer = {};
  if (p.principal !== undefined) out.principal = p.principal;
  if (p.address !== undefined) out.address = p.address;
  if (p.port !== undefined) out.port = p.port;
  if (p.namespace !== undefined) out.namespace = p.namespace;
  if (p.serviceAccount !== undefined) out.service_account = p.serviceAccount;
  if (p.trustDomain !== undefined) out.trust_domain = p.trustDomain;
  if (p.service !== undefined) out.service = p.service;
  if (p.labels !== undefined) out.labels = p.labels;
  return out;
}

function maskedHeaders(h: Readonly<Record<string, string>>, mask: ReadonlySet<string>, maskQuery: ReadonlySet<string>): Record<string, string> {
  // null prototype: a header named `__proto__` is data, not a prototype
  const out = Object.create(null) as Record<string, string>;
  for (const k of Object.keys(h)) {
    const lower = k.toLowerCase();
    out[k] = mask.has(lower) ? MASKED_VALUE : PATH_HEADERS.includes(lower) ? maskedPathQuery(h[k]!, maskQuery) : h[k]!;
  }
  return out;
}

function maskedQuery(q: Readonly<Record<string, string>>, maskQuery: ReadonlySet<string>): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  for (const k of Object.keys(q)) out[k] = maskQuery.has(k.toLowerCase()) ? MASKED_VALUE : q[k]!;
  return out;
}

/** `path?a=1&token=x` → `path?a=1&token=***` (names compared after percent-decoding). */
function maskedPathQuery(path: string, maskQuery: ReadonlySet<string>): string {
  const q = path.indexOf("?");
  if (q < 0) return path;
  const parts = path.slice(q + 1).split("&");
  let changed = false;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    const eq = p.indexOf("=");
    const rawName = eq < 0 ? p : p.slice(0, eq);
    let name: string;
    try {
      name = decodeURIComponent(rawName.replace(/\+/g, " ")).toLowerCase();
    } catch {
      name = rawName.toLowerCase();
    }
    if (eq >= 0 && maskQuery.has(name)) {
      parts[i] = `${rawName}=${MASKED_VALUE}`;
      changed = true;
    }
  }
  return changed ? `${path.slice(0, q)}?${parts.join("&")}` : path;
}

const policies = (refs: readonly { policy: string; enforcement: string }[]): DecisionRecordPolicy[] => refs.map((p) => ({ policy: p.policy, enforcement: p.enforcement }));

function recordOf(r: PendingRecord, mask: ReadonlySet<string>, maskQuery: ReadonlySet<string>): DecisionRecord {
  const d = r.decision;
  const a = r.attrs;
  return {
    decision_id: r.id,
    time: new Date(r.timeMs).toISOString(),
    effect: r.effect,
    reason: r.reason,
    execution_id: r.executionId,
    violations: d ? policies(d.violations) : [],
    waived: d ? policies(d.waived) : [],
    defaulted: d ? d.defaulted : false,
    bundle: d ? { name: d.bundle.name, revision: d.bundle.revision, digest: d.bundle.digest } : null,
    eval_ns: d ? d.evalNs : null,
    attributes: a
      ? {
          method: a.method ?? null,
          path: a.path ?? null,
          host: a.host ?? null,
          scheme: a.scheme ?? null,
          query: maskedQuery(a.query, maskQuery),
          headers: maskedHeaders(a.headers, mask, maskQuery),
          source: peerRecord(a.source),
          destination: peerRecord(a.destination),
          context: a.context,
          body: a.body,
        }
      : null,
  };
}

/**
 * The record `DecisionLog` would ship for one decision, built eagerly (for
 * tests, `aecp eval` and tools). `options` defaults to DECISION_LOG_DEFAULTS
 * and the always-masked headers.
 */
export function buildDecisionRecord(
  outcome: CheckOutcome,
  attrs: RequestAttributes | undefined,
  decision?: Decision,
  options: Pick<DecisionLogOptions, "maskHeaders" | "maxBodyBytes"> & { maskQuery?: readonly string[] } = { maskHeaders: ALWAYS_MASKED_HEADERS, maxBodyBytes: DECISION_LOG_DEFAULTS.maxBodyBytes },
  timeMs: number = Date.now(),
): DecisionRecord {
  const rec = recordOf(capture(outcome, attrs, decision, options.maxBodyBytes, timeMs), new Set(options.maskHeaders), new Set(options.maskQuery ?? ALWAYS_MASKED_QUERY));
  return JSON.parse(JSON.stringify(rec)) as DecisionRecord; // exactly what the sink would see
}

/**
 * Backoff before retry number `failures` (1 = after the first failure):
 * equal jitter over [c/2, c] where c = min(maxMs, baseMs * 2^(failures-1)),
 * so delays grow, never exceed maxMs, and clients spread out.
 */
export function backoffDelayMs(failures: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(failures, 1) - 1, 40));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

// ---------------------------------------------------------------------------
// The log
// ---------------------------------------------------------------------------

export type DecisionLogState = "OK" | "WARN" | "ERROR" | "DISABLED";

export interface DecisionLogStatus {
  /**
   * DISABLED: no sink. ERROR: the last request to the sink failed and a retry
   * is pending. WARN: not running (before start / after stop), the queue is
   * at least 80% full, or the sink rejected the last batch. OK otherwise.
   */
  state: DecisionLogState;
  /** Records held: waiting plus in flight (never more than maxQueue). */
  queued: number;
  /** Records the sink acknowledged with 2xx. */
  shipped: number;
  /** Records lost before shipping: overflow + shutdown + invalid. */
  dropped: number;
  /** Records in batches the sink refused (3xx/4xx other than 408/429). */
  rejected: number;
  /** Failed requests (5xx, 408, 429, network error, timeout); every retry counts. */
  failedBatches: number;
  lastError: { code: ErrorCode; message: string; status: number | null; at: string } | null;
  /** RFC 3339 time of the last 2xx, or null. */
  lastShippedAt: string | null;
}

type Phase = "new" | "running" | "stopping" | "stopped";
type SendResult = "shipped" | "rejected" | "failed" | "empty";

/**
 * Error code reported in `status().lastError` for a failing or refusing sink.
 * Interim: AECP_IO until AECP_DECISION_LOG_SINK_FAILED is registered.
 */
const SINK_ERROR: ErrorCode = "AECP_DECISION_LOG_UNAVAILABLE";
const SINK_REJECTED: ErrorCode = "AECP_DECISION_LOG_REJECTED";

/** Response bodies are not needed; read at most this much so the connection can be reused. */
const RESPONSE_DUMP_LIMIT = 64 * 1024;

export class DecisionLog {
  readonly options: DecisionLogOptions;
  private readonly disabled: boolean;
  private readonly mask: ReadonlySet<string>;
  private readonly maskQuery: ReadonlySet<string>;
  private readonly origin: string;
  private readonly requestPath: string;
  private readonly headers: Record<string, string>;

  // INVARIANT: size + inFlight <= options.maxQueue (the memory bound).
  private readonly ring: Array<PendingRecord | undefined>;
  private head = 0;
  private size = 0;
  private inFlight = 0;

  private phase: Phase = "new";
  private pool: Pool | undefined;
  /** Settles once the pool exists (undici is loaded on start). */
  private poolReady: Promise<void> | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private sending = false;
  private backingOff = false;
  private current: Promise<SendResult> | undefined;
  private abortCurrent: AbortController | undefined;
  private stopping: Promise<void> | undefined;
  private consecutiveFailures = 0;
  /** The sink's `retry-after` on the last failed request, ms (0: none). */
  private retryAfterMs = 0;
  private lastResult: SendResult | undefined;

  private recorded = 0;
  private shipped = 0;
  private rejected = 0;
  private droppedOverflow = 0;
  private droppedShutdown = 0;
  private droppedInvalid = 0;
  private batchesShipped = 0;
  private batchesRejected = 0;
  private failedBatches = 0;
  private lastError: DecisionLogStatus["lastError"] = null;
  private lastShippedAtMs = 0;

  private readonly onImmediate = (): void => {
    this.immediate = undefined;
    this.pump();
  };

  /**
   * `options`: from decisionLogOptions(), or raw options, which are validated
   * here the same way (AECP_CONFIG_INVALID).
   */
  constructor(options: Partial<DecisionLogOptions> = {}) {
    this.options = decisionLogOptions(options);
    const o = this.options;
    this.disabled = o.sink === undefined;
    this.mask = new Set(o.maskHeaders);
    this.maskQuery = new Set(o.maskQuery);
    const url = new URL(o.sink ?? "http://disabled.invalid/");
    this.origin = url.origin;
    this.requestPath = url.pathname + url.search;
    this.headers = { "content-type": "application/json", "user-agent": `aecp-sidecar/${AECP_VERSION}` };
    if (o.token !== undefined) this.headers["authorization"] = `Bearer ${o.token}`;
    this.ring = this.disabled ? [] : new Array<PendingRecord | undefined>(o.maxQueue).fill(undefined);
  }

  get enabled(): boolean {
    return !this.disabled;
  }

  /**
   * Log one decision. O(1) apart from a body-size check bounded by
   * `maxBodyBytes`; synchronous, no I/O, never throws. `decision` is absent
   * when nothing was evaluated (no bundle, malformed request, evaluation
   * failure); `attrs` is absent when the request could not be mapped.
   * Records logged before start() wait in the queue; after stop() they are
   * counted as dropped{shutdown}.
   *
   * INVARIANT: the caller does not mutate `attrs`' query/headers/peers/context
   * or the decision afterwards (they are read when the batch is built).
   */
  record(outcome: CheckOutcome, attrs?: RequestAttributes, decision?: Decision): void {
    if (this.disabled) return; // INVARIANT: a disabled log reads nothing and keeps nothing
    this.recorded++;
    if (this.phase === "stopped") {
      this.droppedShutdown++;
      return;
    }
    let entry: PendingRecord;
    try {
      entry = capture(outcome, attrs, decision, this.options.maxBodyBytes, Date.now());
    } catch {
      this.droppedInvalid++; // a hostile or broken input must not fail the decision
      return;
    }
    const cap = this.ring.length;
    if (this.size + this.inFlight >= cap) {
      if (this.size === 0) {
        this.droppedOverflow++; // everything held is in flight: the newcomer is the only one we may drop
        return;
      }
      this.ring[this.head] = undefined;
      this.head = this.head + 1 === cap ? 0 : this.head + 1;
      this.size--;
      this.droppedOverflow++;
    }
    const tail = this.head + this.size;
    this.ring[tail >= cap ? tail - cap : tail] = entry;
    this.size++;
    if (this.size >= this.options.maxBatch && this.phase === "running" && !this.sending && !this.backingOff && this.immediate === undefined) {
      // ship on a later turn: the current decision's response goes out first
      this.immediate = setImmediate(this.onImmediate);
      this.immediate.unref();
    }
  }

  /** Open the connection pool and start the flush timer. No-op when disabled or already running. */
  start(): void {
    if (this.disabled || this.phase === "running") return;
    if (this.phase !== "new") throw new AecpError("AECP_INTERNAL", "a stopped decision log cannot be restarted");
    const o = this.options;
    // one connection: never more than one request in flight, kept alive between batches
    this.poolReady = loadUndici().then(({ Pool }) => {
      this.pool = new Pool(this.origin, {
        connections: 1,
        pipelining: 1,
        keepAliveTimeout: 30_000,
        connect: { timeout: o.requestTimeoutMs },
        headersTimeout: o.requestTimeoutMs,
        bodyTimeout: o.requestTimeoutMs,
      });
    });
    this.phase = "running";
    this.flushTimer = setInterval(() => this.pump(), o.flushIntervalMs);
    this.flushTimer.unref();
    if (this.size >= o.maxBatch) this.pump();
  }

  /**
   * Stop the timers and send what is queued, one batch at a time, until the
   * queue is empty, a request fails, or `stopTimeoutMs` has passed (a request
   * still in flight then is aborted). Whatever is left is counted as
   * `dropped{reason="shutdown"}`. Never rejects; idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    if (this.disabled) {
      this.phase = "stopped";
      return;
    }
    const wasRunning = this.phase === "running";
    this.phase = "stopping";
    clearInterval(this.flushTimer);
    clearTimeout(this.retryTimer);
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
    this.backingOff = false;
    const budget = this.options.stopTimeoutMs;
    const deadline = Date.now() + budget;
    const deadlineTimer = setTimeout(() => this.abortCurrent?.abort(), budget);
    try {
      // one failed request ends the flush: the sink is not taking batches now
      let failed = this.current !== undefined && (await this.current) === "failed";
      while (wasRunning && !failed && this.size > 0) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        failed = (await this.send(Math.min(this.options.requestTimeoutMs, left))) === "failed";
      }
    } finally {
      clearTimeout(deadlineTimer);
      this.droppedShutdown += this.size;
      this.ring.fill(undefined);
      this.head = 0;
      this.size = 0;
      this.phase = "stopped";
      await this.poolReady?.catch(() => undefined);
      await this.pool?.destroy().catch(() => undefined);
    }
  }

  status(): DecisionLogStatus {
    const queued = this.size + this.inFlight;
    let state: DecisionLogState;
    if (this.disabled) state = "DISABLED";
    else if (this.consecutiveFailures > 0) state = "ERROR";
    else if (this.phase !== "running" || queued >= 0.8 * this.options.maxQueue || this.lastResult === "rejected") state = "WARN";
    else state = "OK";
    return {
      state,
      queued,
      shipped: this.shipped,
      dropped: this.droppedOverflow + this.droppedShutdown + this.droppedInvalid,
      rejected: this.rejected,
      failedBatches: this.failedBatches,
      lastError: this.lastError,
      lastShippedAt: this.lastShippedAtMs === 0 ? null : new Date(this.lastShippedAtMs).toISOString(),
    };
  }

  /** Prometheus text exposition (`aecp_decision_log_*`). */
  metrics(): string {
    const counter = (name: string, help: string, samples: Array<[string, number]>): string[] => [
      `# HELP ${name} ${help}`,
      `# TYPE ${name} counter`,
      ...samples.map(([labels, n]) => `${name}${labels} ${n}`),
    ];
    const gauge = (name: string, help: string, n: number): string[] => [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${n}`];
    return (
      [
        ...gauge("aecp_decision_log_enabled", "1 when a decision log sink is configured.", this.disabled ? 0 : 1),
        ...counter("aecp_decision_log_records_total", "Decision records passed to the log.", [["", this.recorded]]),
        ...counter("aecp_decision_log_shipped_total", "Records the sink acknowledged.", [["", this.shipped]]),
        ...counter("aecp_decision_log_dropped_total", "Records lost before shipping, by reason.", [
          ['{reason="overflow"}', this.droppedOverflow],
          ['{reason="shutdown"}', this.droppedShutdown],
          ['{reason="invalid"}', this.droppedInvalid],
        ]),
        ...counter("aecp_decision_log_rejected_total", "Records in batches the sink refused (not retried).", [["", this.rejected]]),
        ...counter("aecp_decision_log_batches_total", "Requests to the sink, by result.", [
          ['{result="shipped"}', this.batchesShipped],
          ['{result="rejected"}', this.batchesRejected],
          ['{result="failed"}', this.failedBatches],
        ]),
        ...gauge("aecp_decision_log_queued", "Records held in memory (waiting or in flight).", this.size + this.inFlight),
        ...gauge("aecp_decision_log_queue_capacity", "Most records held in memory (maxQueue).", this.disabled ? 0 : this.options.maxQueue),
        ...gauge("aecp_decision_log_consecutive_failures", "Failed requests since the last answer from the sink.", this.consecutiveFailures),
        ...gauge("aecp_decision_log_last_shipped_timestamp_seconds", "Unix time of the last acknowledged batch (0: never).", this.lastShippedAtMs / 1000),
      ].join("\n") + "\n"
    );
  }

  // --- shipping --------------------------------------------------------------

  /** Start a send if one is due: running, idle, not backing off, something queued. */
  private pump(): void {
    if (this.phase !== "running" || this.sending || this.backingOff || this.size === 0) return;
    void this.send(this.options.requestTimeoutMs).then((result) => {
      if (this.phase !== "running") return;
      if (result === "failed") {
        this.backingOff = true;
        const delay = Math.min(this.options.backoffMaxMs, Math.max(backoffDelayMs(this.consecutiveFailures, this.options.backoffBaseMs, this.options.backoffMaxMs), this.retryAfterMs));
        this.retryTimer = setTimeout(() => {
          this.backingOff = false;
          this.pump();
        }, delay);
        this.retryTimer.unref();
      } else if (this.size >= this.options.maxBatch) {
        // a backlog: keep draining, one batch per turn
        this.immediate ??= setImmediate(this.onImmediate);
        this.immediate.unref();
      }
    });
  }

  /** Send one batch and settle the counters. Never rejects. */
  private send(timeoutMs: number): Promise<SendResult> {
    this.sending = true;
    const p = this.sendBatch(timeoutMs)
      .catch((e: unknown): SendResult => {
        // not reachable by design; keep the invariants if it ever is
        this.lastError = { code: "AECP_INTERNAL", message: `decision log shipper failed: ${(e as Error)?.message ?? String(e)}`, status: null, at: new Date().toISOString() };
        return "failed";
      })
      .finally(() => {
        this.sending = false;
        this.current = undefined;
      });
    this.current = p;
    return p;
  }

  private async sendBatch(timeoutMs: number): Promise<SendResult> {
    if (this.pool === undefined) await this.poolReady;
    const pool = this.pool;
    const n = Math.min(this.size, this.options.maxBatch);
    if (n === 0 || pool === undefined) return "empty";
    const batch: PendingRecord[] = [];
    const parts: string[] = [];
    const cap = this.ring.length;
    for (let i = 0; i < n; i++) {
      const r = this.ring[this.head]!;
      this.ring[this.head] = undefined;
      this.head = this.head + 1 === cap ? 0 : this.head + 1;
      const json = this.serialize(r);
      if (json === undefined) this.droppedInvalid++;
      else {
        batch.push(r);
        parts.push(json);
      }
    }
    this.size -= n;
    if (batch.length === 0) return "empty";
    this.inFlight = batch.length;

    const abort = new AbortController();
    this.abortCurrent = abort;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, timeoutMs);
    let status = 0;
    let failure: unknown;
    this.retryAfterMs = 0;
    try {
      const res = await pool.request({
        path: this.requestPath,
        method: "POST",
        headers: this.headers,
        body: `{"records":[${parts.join(",")}]}`,
        signal: abort.signal,
      });
      status = res.statusCode;
      this.retryAfterMs = retryAfterMs(res.headers["retry-after"]);
      await res.body.dump({ limit: RESPONSE_DUMP_LIMIT }).catch(() => undefined); // the status is the answer
    } catch (e) {
      failure = e;
    } finally {
      clearTimeout(timer);
      this.abortCurrent = undefined;
      this.inFlight = 0;
    }

    const at = new Date().toISOString();
    if (failure === undefined && status >= 200 && status < 300) {
      this.shipped += batch.length;
      this.batchesShipped++;
      this.lastShippedAtMs = Date.now();
      this.consecutiveFailures = 0;
      return (this.lastResult = "shipped");
    }
    if (failure === undefined && status !== 408 && status !== 429 && status < 500) {
      this.rejected += batch.length;
      this.batchesRejected++;
      this.consecutiveFailures = 0; // the sink answered; retrying would not help
      this.lastError = { code: SINK_REJECTED, message: `decision log sink refused a batch of ${batch.length} with HTTP ${status}; the batch was dropped`, status, at };
      return (this.lastResult = "rejected");
    }
    // retryable: back to the head of the queue, oldest first
    // (fits: size + inFlight <= maxQueue held while it was in flight)
    for (let i = batch.length - 1; i >= 0; i--) {
      this.head = this.head === 0 ? cap - 1 : this.head - 1;
      this.ring[this.head] = batch[i];
    }
    this.size += batch.length;
    this.failedBatches++;
    this.consecutiveFailures++;
    const why =
      failure === undefined
        ? `HTTP ${status}`
        : timedOut
          ? `no answer within ${timeoutMs} ms`
          : abort.signal.aborted
            ? "aborted at shutdown"
            : `${(failure as { code?: string }).code ?? "error"}: ${(failure as Error).message ?? String(failure)}`;
    this.lastError = { code: SINK_ERROR, message: `decision log sink unavailable (${why}); ${this.size} records queued for retry`, status: failure === undefined ? status : null, at };
    return (this.lastResult = "failed");
  }

  /** The record as JSON text, built once per record; undefined if it cannot be serialized. */
  private serialize(r: PendingRecord): string | undefined {
    if (r.json !== undefined) return r.json;
    try {
      r.json = JSON.stringify(recordOf(r, this.mask, this.maskQuery));
    } catch {
      return undefined; // e.g. a body value JSON cannot represent
    }
    // the text is all a retry needs; let the request's objects go
    r.decision = undefined;
    r.attrs = undefined;
    return r.json;
  }
}

function retryAfterMs(v: string | string[] | undefined): number {
  const s = (Array.isArray(v) ? v[0] : v)?.trim();
  if (s === undefined || s === "") return 0;
  if (/^\d{1,9}$/.test(s)) return Number(s) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? 0 : Math.max(0, t - Date.now());
}
