// ApprovalsOptions: the one options type of the approvals service, validated
// from approvals.yaml (snake_case keys, the fixed interface plus the
// documented additions below). `approvalsOptions()` fills defaults, freezes,
// and rejects unknown keys and bad values with AECP_CONFIG_INVALID naming the
// key. Key files named in the config are read here (bounded), relative to
// `baseDir` (the config file's folder).

import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { AecpError } from "../common/index.js";
import { parsePrivateKeyPem, type PrivateKey } from "../bundle/index.js";
import { telemetryOptions, type TelemetryOptions } from "../executive/index.js";
import type { Approver } from "./model.js";

export interface WebhookTarget {
  readonly url: string;
  readonly secret: string;
}

export interface ApprovalsOptions {
  /** Base URL of links in notifications (`public_url`), no trailing slash. Default "http://127.0.0.1:8282". */
  readonly publicUrl: string;
  /** SHA-256 hex of each service token (`service_tokens`) → its name (`service:<n>`, 1-based). */
  readonly serviceTokens: ReadonlyMap<string, string>;
  /** Approvers by id. */
  readonly approvers: ReadonlyMap<string, Approver>;
  /** SHA-256 hex of each approver token → approver id. */
  readonly approverTokens: ReadonlyMap<string, string>;
  /** Slack user id → approver id. */
  readonly slackUsers: ReadonlyMap<string, string>;
  readonly notify: {
    readonly slackWebhookUrl: string | undefined;
    readonly slackSigningSecret: string | undefined;
    readonly webhooks: readonly WebhookTarget[];
  };
  /** Ed25519 key that signs override exception grants (`grant_key`, PKCS#8 PEM path). Default none: override answers 503. */
  readonly grantKey: PrivateKey | undefined;
  /** Lifetime of an exception grant, seconds (`grant_ttl_s`). Default 300; 1 to 86,400. */
  readonly grantTtlS: number;
  /** Ed25519 key that signs audit checkpoints (`audit_key`, PEM path). Default: the grant key. */
  readonly auditKey: PrivateKey | undefined;
  /** HMAC key for decision links, CSRF and sessions (`link_secret`, ≥ 32 chars). Default: derived from the grant key. */
  readonly linkKey: Buffer;
  /** Pending time when no violated policy sets TIMEOUT, seconds (`default_timeout_s`). Default 3,600. */
  readonly defaultTimeoutS: number;
  /** One rejection rejects (`any_rejection_rejects`). Default true; false: rejections need the approval quorum. */
  readonly anyRejectionRejects: boolean;
  /** Sweeper period for expiring pending executions, ms (`expiry_sweep_ms`). Default 1,000. */
  readonly expirySweepMs: number;
  /** Outbox poll period, ms (`notify_poll_ms`). Default 500 (new rows are also delivered at once). */
  readonly notifyPollMs: number;
  /** Outbox delivery: first retry delay, ms (`notify_backoff_ms`); doubles per attempt up to 5 minutes. Default 1,000. */
  readonly notifyBackoffMs: number;
  /** Outbox delivery: attempts before a row is given up (`notify_max_attempts`). Default 20. */
  readonly notifyMaxAttempts: number;
  /** Longest long poll (`?wait=`), seconds (`max_wait_s`). Default 60. */
  readonly maxWaitS: number;
  /** OpenTelemetry export (`telemetry:`, the sidecar's keys: otlpEndpoint, serviceName, sampleRatio, metricIntervalMs, headers). Default off. */
  readonly telemetry: TelemetryOptions;
}

export const APPROVALS_DEFAULTS = Object.freeze({
  publicUrl: "http://127.0.0.1:8282",
  grantTtlS: 300,
  defaultTimeoutS: 3600,
  anyRejectionRejects: true,
  expirySweepMs: 1000,
  notifyPollMs: 500,
  notifyBackoffMs: 1000,
  notifyMaxAttempts: 20,
  maxWaitS: 60,
});

const KEYS = [
  "public_url",
  "service_tokens",
  "approvers",
  "notify",
  "grant_key",
  "grant_ttl_s",
  "audit_key",
  "link_secret",
  "default_timeout_s",
  "any_rejection_rejects",
  "expiry_sweep_ms",
  "notify_poll_ms",
  "notify_backoff_ms",
  "notify_max_attempts",
  "max_wait_s",
  "telemetry",
] as const;
const APPROVER_KEYS = ["id", "token", "groups", "roles", "slack_user_id", "principals"];
const NOTIFY_KEYS = ["slack_webhook_url", "slack_signing_secret", "webhooks"];
const WEBHOOK_KEYS = ["url", "secret"];

function bad(key: string, why: string): never {
  throw new AecpError("AECP_CONFIG_INVALID", `approvals config \`${key}\` ${why}`);
}

function map(key: string, v: unknown, known: readonly string[]): Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) bad(key, "must be a map");
  for (const k of Object.keys(v as object)) if (!known.includes(k)) bad(`${key}.${k}`, `is not a known key (known: ${known.join(", ")})`);
  return v as Record<string, unknown>;
}

function int(key: string, v: unknown, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) bad(key, `must be a whole number from ${min} to ${max}`);
  return v;
}

/** A bearer token: visible ASCII, at least 16 characters (guessing must be hopeless). */
function token(key: string, v: unknown): string {
  if (typeof v !== "string" || !/^[\x21-\x7e]{16,512}$/.test(v)) bad(key, "must be 16 to 512 visible ASCII characters");
  return v;
}

function name(key: string, v: unknown): string {
  if (typeof v !== "string" || !/^[A-Za-z0-9._@:/+-]{1,256}$/.test(v)) bad(key, "must be 1 to 256 characters of [A-Za-z0-9._@:/+-]");
  return v;
}

function names(key: string, v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) bad(key, "must be a list");
  return v.map((x, i) => name(`${key}[${i}]`, x));
}

function httpUrl(key: string, v: unknown): string {
  if (typeof v !== "string") bad(key, "must be an http or https URL");
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return bad(key, "is not a valid URL");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") bad(key, "must use http or https");
  return u.href;
}

export const sha256hex = (s: string): string => createHash("sha256").update(s).digest("hex");

function readKey(key: string, v: unknown, baseDir: string): PrivateKey | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string" || v === "") bad(key, "must be the path of a PKCS#8 PEM Ed25519 private key");
  const p = isAbsolute(v) ? v : join(baseDir, v);
  let pem: string;
  try {
    if (statSync(p).size > 64 * 1024) bad(key, `\`${v}\` is larger than 64 KiB; not a PEM key`);
    pem = readFileSync(p, "utf8");
  } catch (e) {
    if (e instanceof AecpError) throw e;
    return bad(key, `\`${v}\` cannot be read`);
  }
  return parsePrivateKeyPem(pem, `\`${key}\` (${v})`);
}

/**
 * Validate approvals.yaml (already parsed), fill defaults, freeze. Throws
 * AECP_CONFIG_INVALID naming the key (unknown keys included), AECP_KEY_INVALID
 * for a key file that is not an Ed25519 PKCS#8 PEM.
 */
export function approvalsOptions(raw: unknown, baseDir: string = process.cwd()): ApprovalsOptions {
  const r = map("(top level)", raw ?? {}, KEYS);
  const D = APPROVALS_DEFAULTS;
  const publicUrl = r["public_url"] === undefined ? D.publicUrl : httpUrl("public_url", r["public_url"]).replace(/\/+$/, "");

  const serviceTokens = new Map<string, string>();
  const st = r["service_tokens"] ?? [];
  if (!Array.isArray(st)) bad("service_tokens", "must be a list of tokens");
  st.forEach((t, i) => serviceTokens.set(sha256hex(token(`service_tokens[${i}]`, t)), `service:${i + 1}`));

  const approvers = new Map<string, Approver>();
  const approverTokens = new Map<string, string>();
  const slackUsers = new Map<string, string>();
  const ap = r["approvers"] ?? [];
  if (!Array.isArray(ap)) bad("approvers", "must be a list");
  ap.forEach((a, i) => {
    const k = `approvers[${i}]`;
    const o = map(k, a, APPROVER_KEYS);
    const id = name(`${k}.id`, o["id"]);
    if (approvers.has(id)) bad(`${k}.id`, `repeats approver \`${id}\``);
    const th = sha256hex(token(`${k}.token`, o["token"]));
    if (approverTokens.has(th) || serviceTokens.has(th)) bad(`${k}.token`, "is used twice (every token names one identity)");
    const slack = o["slack_user_id"] === undefined || o["slack_user_id"] === null ? null : name(`${k}.slack_user_id`, o["slack_user_id"]);
    if (slack !== null && slackUsers.has(slack)) bad(`${k}.slack_user_id`, `maps Slack user \`${slack}\` twice`);
    const roles = names(`${k}.roles`, o["roles"]);
    for (const role of roles) if (role !== "override" && role !== "approver") bad(`${k}.roles`, `has unknown role \`${role}\` (known: override, approver)`);
    approvers.set(id, Object.freeze({ id, groups: Object.freeze(names(`${k}.groups`, o["groups"])), roles: Object.freeze(roles), slack_user_id: slack, principals: Object.freeze(names(`${k}.principals`, o["principals"])) }));
    approverTokens.set(th, id);
    if (slack !== null) slackUsers.set(slack, id);
  });

  const n = map("notify", r["notify"] ?? {}, NOTIFY_KEYS);
  const webhooks: WebhookTarget[] = [];
  const wh = n["webhooks"] ?? [];
  if (!Array.isArray(wh)) bad("notify.webhooks", "must be a list");
  wh.forEach((w, i) => {
    const o = map(`notify.webhooks[${i}]`, w, WEBHOOK_KEYS);
    webhooks.push(Object.freeze({ url: httpUrl(`notify.webhooks[${i}].url`, o["url"]), secret: token(`notify.webhooks[${i}].secret`, o["secret"]) }));
  });
  const slackSecret = n["slack_signing_secret"];
  if (slackSecret !== undefined && (typeof slackSecret !== "string" || slackSecret.length < 8)) bad("notify.slack_signing_secret", "must be a string of at least 8 characters");

  const grantKey = readKey("grant_key", r["grant_key"], baseDir);
  const auditKey = readKey("audit_key", r["audit_key"], baseDir) ?? grantKey;
  const ls = r["link_secret"];
  let linkKey: Buffer;
  if (ls !== undefined) {
    if (typeof ls !== "string" || ls.length < 32) bad("link_secret", "must be a string of at least 32 characters");
    linkKey = createHash("sha256").update("aecp-link-key\n").update(ls).digest();
  } else if (grantKey) {
    linkKey = createHash("sha256").update("aecp-link-key-from-grant\n").update(grantKey.seed).digest();
  } else {
    // Links must verify on every replica and after a restart: a random key would not.
    return bad("link_secret", "is required when `grant_key` is not set (decision links are HMAC-signed with it)");
  }
  const any = r["any_rejection_rejects"];
  if (any !== undefined && typeof any !== "boolean") bad("any_rejection_rejects", "must be true or false");

  return Object.freeze({
    publicUrl,
    serviceTokens,
    approvers,
    approverTokens,
    slackUsers,
    notify: Object.freeze({
      slackWebhookUrl: n["slack_webhook_url"] === undefined ? undefined : httpUrl("notify.slack_webhook_url", n["slack_webhook_url"]),
      slackSigningSecret: slackSecret as string | undefined,
      webhooks: Object.freeze(webhooks),
    }),
    grantKey,
    grantTtlS: int("grant_ttl_s", r["grant_ttl_s"], D.grantTtlS, 1, 86_400),
    auditKey,
    linkKey,
    defaultTimeoutS: int("default_timeout_s", r["default_timeout_s"], D.defaultTimeoutS, 1, 30 * 86_400),
    anyRejectionRejects: any === undefined ? D.anyRejectionRejects : (any as boolean),
    expirySweepMs: int("expiry_sweep_ms", r["expiry_sweep_ms"], D.expirySweepMs, 10, 3_600_000),
    notifyPollMs: int("notify_poll_ms", r["notify_poll_ms"], D.notifyPollMs, 10, 3_600_000),
    notifyBackoffMs: int("notify_backoff_ms", r["notify_backoff_ms"], D.notifyBackoffMs, 1, 3_600_000),
    notifyMaxAttempts: int("notify_max_attempts", r["notify_max_attempts"], D.notifyMaxAttempts, 1, 1000),
    maxWaitS: int("max_wait_s", r["max_wait_s"], D.maxWaitS, 0, 600),
    telemetry: telemetryOptions(r["telemetry"] ?? {}),
  });
}
