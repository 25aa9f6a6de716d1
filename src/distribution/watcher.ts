// The sidecar's bundle watcher: follows one bundle name on a distribution
// service by long poll (undici) and hands every new, fully verified revision
// to the sidecar's atomic swap.
//
// Per new manifest, in order (any failure keeps the active bundle and is
// reported with its code):
//   1. manifest: structure, a signature by a trusted key, bundle name, expiry
//      (./manifest.ts verifyManifest);
//   2. rollback protection: revision < active → AECP_MANIFEST_ROLLBACK;
//      = active with other content → AECP_MANIFEST_REVISION_CONFLICT;
//      = active with the same content → nothing to do;
//   3. size limit (before downloading), blob download, size and sha256 digest;
//   4. the bundle inside is the named bundle with the manifest's bundleDigest;
//   5. target.activate: bundle signature, ABI, instantiation, warm-up, swap,
//      last-known-good persisted with revision, issued-at and the manifest.
// Failures of the service (down, slow, truncated, 5xx) retry with
// exponential backoff and jitter; a rejected manifest's ETag is sent as
// If-None-Match so the server holds the next poll until something changes.
//
// INVARIANT: nothing here ever unloads or replaces the active bundle except
// step 5 with a bundle that passed steps 1–4.
//
// Freeze protection: when the ACTIVE bundle's manifest passes its expiresAt
// (a publisher that stopped, or an attacker replaying an old state), the
// bundle keeps serving but the component turns degraded with
// AECP_MANIFEST_EXPIRED and `aecp_distribution_manifest_expired 1`.
// Propagation lag (manifest issued-at → active here) is a metric and part of
// the component's /status detail.

import { createHash } from "node:crypto";
import { Agent, request, type Dispatcher } from "undici";
import { AecpError, discardBody, isAecpError, readBoundedBody, type ErrorCode } from "../common/index.js";
import { readBundle, type TrustedKeys } from "../bundle/index.js";
import { answerError } from "./client.js";
import { verifyManifest, type VerifiedManifest } from "./manifest.js";
import type { WatcherOptions } from "./options.js";

/** The part of the sidecar the watcher drives (the real `Sidecar` satisfies it; the propagation bench uses a lightweight one). */
export interface WatchTarget {
  readonly active: { readonly name: string; readonly digest: string; readonly revision: number | null } | undefined;
  activate(bytes: Uint8Array, source: "distribution", meta: { revision: number; issuedAt: string; manifest: Uint8Array }): unknown;
  reportComponent(name: string, status: { state: "ok" | "degraded" | "error"; code?: string; reason?: string; detail?: Record<string, unknown> }): void;
  addMetrics(source: () => string): void;
}

/** Component name under /status `components`. */
export const WATCHER_COMPONENT = "distribution";

export interface WatcherStatus {
  state: "starting" | "ok" | "degraded";
  /** Revision of the active bundle's manifest as this watcher knows it. */
  revision: number | null;
  /** Propagation lag of the last activation (issued-at → active), ms. */
  lastPropagationMs: number | null;
  activations: number;
  /** Manifests or blobs rejected so far. */
  rejected: number;
  /** Why the last manifest was rejected (sticky until a newer one activates). */
  rejection: { code: string; reason: string; revision: number | null; at: string } | null;
  /** The last connection problem (cleared by the next answer from the service). */
  connection: { code: string; reason: string; at: string } | null;
  /** True while the active bundle's manifest is past its expiresAt. */
  expired: boolean;
  expiresAt: string | null;
  consecutiveFailures: number;
}

/** Codes that mean "the service could not be used", as opposed to "it sent bad data". */
const CONNECTION_CODES: ReadonlySet<ErrorCode> = new Set(["AECP_DISTRIBUTION_UNAVAILABLE", "AECP_DISTRIBUTION_UNAUTHORIZED", "AECP_DISTRIBUTION_FORBIDDEN", "AECP_DISTRIBUTION_NOT_FOUND", "AECP_DISTRIBUTION_BAD_REQUEST", "AECP_INTERNAL"]);
const MAX_TIMER_MS = 2 ** 30;

interface Answer {
  status: number;
  etag: string | undefined;
  body: Uint8Array;
}

export class BundleWatcher {
  private readonly agent: Agent;
  private readonly abort = new AbortController();
  private stopped = false;
  private loop: Promise<void> | undefined;
  private sleepTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  /** Manifest of the active bundle (from an activation here, or the last-known-good meta). */
  private known: VerifiedManifest | undefined;
  private rejectedEtag: string | undefined;
  private readonly st: WatcherStatus = {
    state: "starting",
    revision: null,
    lastPropagationMs: null,
    activations: 0,
    rejected: 0,
    rejection: null,
    connection: null,
    expired: false,
    expiresAt: null,
    consecutiveFailures: 0,
  };
  private readonly rejections: Record<string, number> = {};
  private pollErrors = 0;
  private lagSumS = 0;

  /**
   * `known` is the manifest of the bundle already active (the last-known-good
   * copy's), so rollback and freeze protection hold from the first poll.
   */
  constructor(
    readonly options: WatcherOptions,
    private readonly target: WatchTarget,
    private readonly trustedKeys: TrustedKeys,
    known?: VerifiedManifest,
  ) {
    this.agent = new Agent({ connections: 1, keepAliveTimeout: 60_000, connectTimeout: options.requestTimeoutMs });
    target.addMetrics(() => this.metrics());
    if (known) this.setKnown(known);
  }

  /** Start following (returns at once; the loop runs until stop()). */
  start(): void {
    this.report();
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.wake?.();
    await this.loop;
    await this.agent.destroy();
  }

  status(): WatcherStatus {
    return { ...this.st };
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const started = Date.now();
      let etag: string | undefined;
      try {
        const after = this.target.active?.revision ?? 0;
        const a = await this.get(`/v1/bundles/${encodeURIComponent(this.options.name)}/manifest?wait=${this.options.waitS}&after=${after}`, {
          limit: 64 * 1024,
          headersTimeoutMs: this.options.waitS * 1000 + this.options.requestTimeoutMs,
          ...(this.rejectedEtag ? { ifNoneMatch: this.rejectedEtag } : {}),
        });
        etag = a.etag;
        if (a.status === 304) {
          this.connected();
          const rest = this.options.minPollIntervalMs - (Date.now() - started);
          if (rest > 0) await this.sleep(rest);
          continue;
        }
        if (a.status !== 200) throw answerError(a.status, a.body, "the manifest long poll");
        this.connected();
        const activated = await this.apply(a.body);
        this.st.consecutiveFailures = 0;
        this.rejectedEtag = undefined;
        if (!activated) {
          // the active revision again: only a server that ignores `after` does this; do not spin
          const rest = this.options.minPollIntervalMs - (Date.now() - started);
          if (rest > 0) await this.sleep(rest);
        }
      } catch (e) {
        if (this.stopped) break;
        const err = isAecpError(e) ? e : new AecpError("AECP_DISTRIBUTION_UNAVAILABLE", String(e), { cause: e });
        this.st.consecutiveFailures++;
        const at = new Date().toISOString();
        if (CONNECTION_CODES.has(err.code)) {
          this.pollErrors++;
          this.st.connection = { code: err.code, reason: err.message, at };
        } else {
          this.rejections[err.code] = (this.rejections[err.code] ?? 0) + 1;
          this.st.rejected++;
          const rev = typeof err.detail?.["revision"] === "number" ? (err.detail["revision"] as number) : null;
          this.st.rejection = { code: err.code, reason: err.message, revision: rev, at };
          if (etag) this.rejectedEtag = etag;
        }
        this.report();
        await this.sleep(this.backoffMs());
      }
    }
  }

  /** Full verification and activation of one manifest (see the file header); false when it was already active. */
  private async apply(bytes: Uint8Array): Promise<boolean> {
    let m: VerifiedManifest;
    try {
      m = verifyManifest(bytes, { trustedKeys: this.trustedKeys, name: this.options.name });
    } catch (e) {
      throw withRevision(e, bytes);
    }
    const s = m.signed;
    const active = this.target.active;
    if (active && active.revision !== null) {
      if (s.revision < active.revision) {
        throw new AecpError("AECP_MANIFEST_ROLLBACK", `revision ${s.revision} is older than the active revision ${active.revision}; keeping it`, { detail: { revision: s.revision } });
      }
      if (s.revision === active.revision) {
        if (s.bundleDigest === active.digest) {
          if (!this.known) this.setKnown(m);
          return false; // already active
        }
        throw new AecpError("AECP_MANIFEST_REVISION_CONFLICT", `revision ${s.revision} is already active with different content; refusing the second one`, {
          detail: { revision: s.revision },
        });
      }
    }
    const detail = { revision: s.revision };
    if (s.blobSize > this.options.maxBundleBytes) {
      throw new AecpError("AECP_BUNDLE_TOO_LARGE", `revision ${s.revision} is ${s.blobSize} bytes; the limit is ${this.options.maxBundleBytes}`, { detail });
    }
    const blob = await this.get(`/v1/blobs/${s.blobDigest}`, { limit: s.blobSize, limitCode: "AECP_BLOB_DIGEST_MISMATCH", headersTimeoutMs: this.options.requestTimeoutMs });
    if (blob.status !== 200) throw answerError(blob.status, blob.body, "the blob download");
    this.connected();
    if (blob.body.length !== s.blobSize) {
      throw new AecpError("AECP_BLOB_DIGEST_MISMATCH", `blob of revision ${s.revision} is ${blob.body.length} bytes; the manifest says ${s.blobSize}`, { detail });
    }
    const digest = `sha256:${createHash("sha256").update(blob.body).digest("hex")}`;
    if (digest !== s.blobDigest) throw new AecpError("AECP_BLOB_DIGEST_MISMATCH", `blob of revision ${s.revision} hashes to ${digest}, not ${s.blobDigest}`, { detail });
    try {
      // steps 4 and 5: what the blob says it is, then the sidecar's own verification and swap
      const opened = readBundle(blob.body, { skipVerification: true, maxBundleBytes: this.options.maxBundleBytes });
      if (opened.metadata.name !== this.options.name) {
        throw new AecpError("AECP_MANIFEST_NAME_MISMATCH", `revision ${s.revision} carries bundle \`${opened.metadata.name}\`, not \`${this.options.name}\``);
      }
      if (`sha256:${opened.digest}` !== s.bundleDigest) throw new AecpError("AECP_BLOB_DIGEST_MISMATCH", `revision ${s.revision}'s bundle digest differs from the manifest's`);
      this.target.activate(blob.body, "distribution", { revision: s.revision, issuedAt: s.issuedAt, manifest: m.bytes });
    } catch (e) {
      throw withRevision(e, bytes);
    }
    const lagMs = Math.max(0, Date.now() - m.issuedAtMs); // clamped: publisher clock skew
    this.st.lastPropagationMs = lagMs;
    this.lagSumS += lagMs / 1000;
    this.st.activations++;
    this.st.rejection = null;
    this.setKnown(m);
    return true;
  }

  private setKnown(m: VerifiedManifest): void {
    this.known = m;
    this.st.revision = m.signed.revision;
    this.st.expiresAt = m.signed.expiresAt;
    this.checkExpiry();
  }

  /** Mark expiry of the active manifest now or schedule the check. */
  private checkExpiry(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    const m = this.known;
    if (!m) return;
    const rest = m.expiresAtMs - Date.now();
    this.st.expired = rest <= 0;
    if (!this.st.expired && !this.stopped) {
      this.expiryTimer = setTimeout(() => this.checkExpiry(), Math.min(rest + 1, MAX_TIMER_MS));
      this.expiryTimer.unref();
    }
    this.report();
  }

  private connected(): void {
    this.st.connection = null;
    if (this.st.rejection === null) this.st.consecutiveFailures = 0;
    this.report();
  }

  /** Push the current state to the sidecar's /status components. */
  private report(): void {
    const st = this.st;
    const detail: Record<string, unknown> = {
      url: this.options.url,
      name: this.options.name,
      revision: st.revision,
      expiresAt: st.expiresAt,
      lastPropagationMs: st.lastPropagationMs,
      activations: st.activations,
      consecutiveFailures: st.consecutiveFailures,
      ...(st.rejection ? { rejection: st.rejection } : {}),
      ...(st.connection ? { connection: st.connection } : {}),
    };
    let status: { state: "ok" | "degraded"; code?: string; reason?: string };
    if (st.expired && this.known) {
      status = {
        state: "degraded",
        code: "AECP_MANIFEST_EXPIRED",
        reason: `the active bundle's manifest (revision ${this.known.signed.revision}) expired at ${this.known.signed.expiresAt}; still serving it — the publisher stopped or updates are being withheld`,
      };
    } else if (st.rejection) status = { state: "degraded", code: st.rejection.code, reason: st.rejection.reason };
    else if (st.connection) status = { state: "degraded", code: st.connection.code, reason: st.connection.reason };
    else status = { state: "ok" };
    if (status.state === "ok" && this.target.active === undefined) {
      status = { state: "degraded", code: "AECP_NO_BUNDLE", reason: `waiting for the first revision of \`${this.options.name}\`` };
    }
    st.state = status.state;
    this.target.reportComponent(WATCHER_COMPONENT, { ...status, detail });
  }

  private backoffMs(): number {
    const n = Math.min(this.st.consecutiveFailures - 1, 20);
    const cap = Math.min(this.options.backoffMaxMs, this.options.backoffMinMs * 2 ** n);
    return cap / 2 + Math.random() * (cap / 2); // "equal jitter": never 0, never in lockstep
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopped) return resolve();
      this.wake = resolve;
      this.sleepTimer = setTimeout(resolve, ms);
    });
  }

  /** GET with a byte limit; transport failures become AECP_DISTRIBUTION_UNAVAILABLE. */
  private async get(path: string, o: { limit: number; limitCode?: ErrorCode; headersTimeoutMs: number; ifNoneMatch?: string }): Promise<Answer> {
    const headers: Record<string, string> = {};
    if (this.options.token) headers["authorization"] = `Bearer ${this.options.token}`;
    if (o.ifNoneMatch) headers["if-none-match"] = o.ifNoneMatch;
    let res: Dispatcher.ResponseData;
    try {
      res = await request(`${this.options.url}${path}`, {
        dispatcher: this.agent,
        headers,
        signal: this.abort.signal,
        headersTimeout: o.headersTimeoutMs,
        bodyTimeout: this.options.requestTimeoutMs,
      });
    } catch (cause) {
      throw new AecpError("AECP_DISTRIBUTION_UNAVAILABLE", `distribution service ${this.options.url} cannot be reached (${describe(cause)})`, { cause });
    }
    const declared = Number(res.headers["content-length"] ?? "0");
    const limit = res.statusCode === 200 ? o.limit : 64 * 1024;
    if (declared > limit) {
      discardBody(res.body);
      throw new AecpError(res.statusCode === 200 ? (o.limitCode ?? "AECP_MANIFEST_MALFORMED") : "AECP_DISTRIBUTION_UNAVAILABLE", `answer is ${declared} bytes; at most ${limit} expected`);
    }
    let body: Uint8Array;
    try {
      body = await readBoundedBody(
        res.body,
        limit,
        () => new AecpError(res.statusCode === 200 ? (o.limitCode ?? "AECP_MANIFEST_MALFORMED") : "AECP_DISTRIBUTION_UNAVAILABLE", `answer exceeds ${limit} bytes`),
      );
    } catch (cause) {
      if (cause instanceof AecpError) throw cause;
      // a connection cut mid-body (truncated response): the service failed, not the data
      throw new AecpError("AECP_DISTRIBUTION_UNAVAILABLE", `answer from ${this.options.url} was cut off (${describe(cause)})`, { cause });
    }
    const etag = res.headers["etag"];
    return { status: res.statusCode, etag: typeof etag === "string" ? etag : undefined, body };
  }

  /** Prometheus text lines (added to the sidecar's /metrics). */
  metrics(): string {
    const n = `name="${this.options.name}"`;
    const st = this.st;
    return [
      "# HELP aecp_distribution_active_revision Revision of the active bundle's manifest (0 = none).",
      "# TYPE aecp_distribution_active_revision gauge",
      `aecp_distribution_active_revision{${n}} ${st.revision ?? 0}`,
      "# HELP aecp_distribution_propagation_seconds Manifest issued-at to active here, per activation.",
      "# TYPE aecp_distribution_propagation_seconds summary",
      `aecp_distribution_propagation_seconds_sum{${n}} ${this.lagSumS.toFixed(3)}`,
      `aecp_distribution_propagation_seconds_count{${n}} ${st.activations}`,
      "# HELP aecp_distribution_last_propagation_seconds Propagation lag of the last activation.",
      "# TYPE aecp_distribution_last_propagation_seconds gauge",
      `aecp_distribution_last_propagation_seconds{${n}} ${st.lastPropagationMs === null ? "NaN" : (st.lastPropagationMs / 1000).toFixed(3)}`,
      "# HELP aecp_distribution_rejections_total Manifests or blobs rejected, by reason code.",
      "# TYPE aecp_distribution_rejections_total counter",
      ...Object.entries(this.rejections).map(([c, k]) => `aecp_distribution_rejections_total{${n},code="${c}"} ${k}`),
      "# HELP aecp_distribution_poll_errors_total Failed requests to the distribution service.",
      "# TYPE aecp_distribution_poll_errors_total counter",
      `aecp_distribution_poll_errors_total{${n}} ${this.pollErrors}`,
      "# HELP aecp_distribution_manifest_expired 1 while the active bundle's manifest is past its expiresAt.",
      "# TYPE aecp_distribution_manifest_expired gauge",
      `aecp_distribution_manifest_expired{${n}} ${st.expired ? 1 : 0}`,
      "",
    ].join("\n");
  }
}

/** Attach the manifest's revision (when it parses) to an error's detail, for /status. */
function withRevision(e: unknown, manifest: Uint8Array): unknown {
  if (!isAecpError(e) || typeof e.detail?.["revision"] === "number") return e;
  let revision: unknown;
  try {
    revision = (JSON.parse(Buffer.from(manifest).toString("utf8")) as { signed?: { revision?: unknown } }).signed?.revision;
  } catch {
    return e;
  }
  if (typeof revision !== "number") return e;
  return new AecpError(e.code, e.message, { cause: e.cause, detail: { ...(e.detail ?? {}), revision } });
}

function describe(cause: unknown): string {
  const c = cause as { code?: string; message?: string };
  return c?.code ?? c?.message ?? String(cause);
}
