// The distribution service (`aecp distribution`): a node:http server that
// stores published bundles (filesystem or OCI registry, ./storage.ts and
// ./oci.ts) and pushes them to sidecars through long polls (./hub.ts).
//
// HTTP API (docs/distribution.md):
//   PUT  /v1/blobs/sha256:<hex>              upload a bundle file (publish auth)
//   PUT  /v1/bundles/<name>/manifest         publish a signed manifest (publish auth)
//   GET  /v1/bundles/<name>/manifest         current manifest; ETag/If-None-Match → 304;
//        ?wait=<s>&after=<rev>               long poll: answers the moment a revision > after
//                                            (and ≠ If-None-Match) exists, else 304 after <s>
//   GET  /v1/bundles                         bundles with their current revision
//   GET  /v1/bundles/<name>/revisions        revision numbers
//   GET  /v1/bundles/<name>/revisions/<n>    one revision's manifest
//   GET  /v1/blobs/sha256:<hex>              bundle file; immutable, served from memory
//   GET  /healthz /readyz /metrics
// The server never signs: the publisher signs the manifest, the server checks
// its structure, that the blob exists and is the named bundle, and that the
// revision is newer than the current one. Watchers verify signatures.

import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { AecpError, isAecpError, type ErrorCode } from "../common/index.js";
import { readBundle } from "../bundle/index.js";
import { LongPollHub } from "./hub.js";
import { BUNDLE_NAME, DIGEST, MAX_MANIFEST_BYTES, parseManifest, type ManifestBody } from "./manifest.js";
import { OciStorage } from "./oci.js";
import type { DistributionServerOptions } from "./options.js";
import { FsStorage, type BundleStorage, type StoredManifest } from "./storage.js";

/** The current revision of one bundle, as served. */
export interface BundleState {
  readonly name: string;
  readonly revision: number;
  /** Exact manifest bytes. */
  readonly bytes: Uint8Array;
  /** Quoted strong ETag: "<sha256 hex of the manifest bytes>". */
  readonly etag: string;
  readonly signed: ManifestBody;
}

const MANIFEST_TYPE = "application/vnd.aecp.manifest.v1+json";
const BLOB_TYPE = "application/vnd.aecp.bundle.v1";
const IMMUTABLE = "public, max-age=31536000, immutable";
const READY_CACHE_MS = 2000;

function stateOf(m: StoredManifest): BundleState {
  const parsed = parseManifest(m.bytes);
  return { name: m.name, revision: m.revision, bytes: m.bytes, etag: `"${createHash("sha256").update(m.bytes).digest("hex")}"`, signed: parsed.signed };
}

/** RFC 9110 If-None-Match (a list of entity tags, or *). */
function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((t) => t.trim().replace(/^W\//, "") === etag);
}

function isLoopback(addr: string | undefined): boolean {
  return addr !== undefined && (addr === "::1" || /^127\./.test(addr) || /^::ffff:127\./.test(addr));
}

function sameSecret(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

/** An LRU of blobs bounded by total bytes. */
class BlobCache {
  private readonly map = new Map<string, Uint8Array>();
  private bytes = 0;
  constructor(private readonly capacity: number) {}
  get(d: string): Uint8Array | undefined {
    const v = this.map.get(d);
    if (v) {
      this.map.delete(d);
      this.map.set(d, v);
    }
    return v;
  }
  set(d: string, v: Uint8Array): void {
    if (v.length > this.capacity || this.map.has(d)) return;
    this.map.set(d, v);
    this.bytes += v.length;
    for (const [k, old] of this.map) {
      if (this.bytes <= this.capacity) break;
      this.map.delete(k);
      this.bytes -= old.length;
    }
  }
}

export class DistributionServer {
  readonly storage: BundleStorage;
  private readonly states = new Map<string, BundleState>();
  private readonly hub: LongPollHub<BundleState | undefined>;
  private readonly blobs: BlobCache;
  private readonly publishLocks = new Map<string, Promise<unknown>>();
  private server: Server | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private loaded = false;
  private readyCheck: { at: number; ok: boolean } = { at: 0, ok: false };
  private boundUrl = "";
  private readonly counters = { publishes: 0, blobHits: 0, blobMisses: 0, blobBytesSent: 0, pollErrors: 0 };
  private readonly rejections: Record<string, number> = {};

  /** `deps.storage` replaces the backend chosen by the options. */
  constructor(
    readonly options: DistributionServerOptions,
    deps: { storage?: BundleStorage } = {},
  ) {
    this.storage =
      deps.storage ??
      (options.oci !== undefined
        ? new OciStorage({ url: options.oci, username: options.ociUsername, password: options.ociPassword, maxBlobBytes: options.maxBundleBytes })
        : new FsStorage(options.data!));
    this.hub = new LongPollHub(options.wakeSpreadMaxMs);
    this.blobs = new BlobCache(options.blobCacheBytes);
  }

  /** Base URL once listening, e.g. http://127.0.0.1:8181. */
  get url(): string {
    return this.boundUrl;
  }

  /** True when publishes are accepted only from loopback (no token configured). */
  get loopbackOnlyPublish(): boolean {
    return this.options.publishToken === undefined;
  }

  /** Current state of every bundle (a copy). */
  bundles(): BundleState[] {
    return [...this.states.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Load the current revisions from storage, then listen. */
  async start(): Promise<void> {
    try {
      await this.refresh();
      this.loaded = true;
    } catch (e) {
      // a registry that is down at start: serve (not ready) and keep polling; a local disk error is fatal
      if (this.storage.kind !== "oci") throw e;
      this.counters.pollErrors++;
    }
    const i = this.options.listen.lastIndexOf(":");
    const host = this.options.listen.slice(0, i).replace(/^\[|\]$/g, "");
    const port = Number(this.options.listen.slice(i + 1));
    const server = createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 120_000, keepAliveTimeout: 75_000 }, (req, res) => {
      void this.route(req, res).catch((e: unknown) => this.sendError(res, e));
    });
    server.headersTimeout = 80_000; // > keepAliveTimeout (idle watchers reconnect between polls)
    server.maxConnections = this.options.maxWatchers + 1024;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", (cause) => reject(new AecpError("AECP_IO", `cannot listen on \`${this.options.listen}\``, { cause })));
      // a deep accept queue: thousands of watchers reconnect at once after a restart
      server.listen({ port, host, backlog: 4096 }, () => resolve());
    });
    const addr = server.address();
    const p = typeof addr === "object" && addr ? addr.port : port;
    this.boundUrl = `http://${host.includes(":") ? `[${host}]` : host}:${p}`;
    if (this.options.pollIntervalMs > 0) this.schedulePoll();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.hub.closeAll();
    if (this.server) {
      const s = this.server;
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeIdleConnections();
      });
    }
    await this.storage.close();
  }

  /** Re-read every bundle's latest revision from storage; wake waiters on news (other replicas' publishes). */
  private async refresh(): Promise<void> {
    let failed: unknown;
    for (const name of await this.storage.names()) {
      try {
        const m = await this.storage.latest(name);
        const cur = this.states.get(name);
        if (m && (!cur || m.revision > cur.revision)) this.setState(stateOf(m));
      } catch (e) {
        failed ??= e; // one unreadable bundle does not hide the others
      }
    }
    if (failed !== undefined) throw failed;
  }

  private schedulePoll(): void {
    this.pollTimer = setTimeout(() => {
      this.refresh()
        .then(() => void (this.loaded = true))
        .catch(() => this.counters.pollErrors++)
        .finally(() => {
          if (!this.stopped) this.schedulePoll();
        });
    }, this.options.pollIntervalMs);
    this.pollTimer.unref();
  }

  private setState(s: BundleState): void {
    // INVARIANT: the served revision of a name never goes backwards
    const cur = this.states.get(s.name);
    if (cur && cur.revision >= s.revision) return;
    this.states.set(s.name, s);
    this.hub.publish(s.name, () => this.states.get(s.name));
  }

  // --- routing -----------------------------------------------------------------

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    const path = url.pathname;
    const method = req.method ?? "GET";
    if (path === "/healthz") return this.text(res, 200, "ok\n");
    if (path === "/readyz") return (await this.ready()) ? this.text(res, 200, "ready\n") : this.text(res, 503, "storage not ready\n");
    const parts = path.split("/").slice(1);
    if (parts[0] !== "v1" && path !== "/metrics") throw new AecpError("AECP_DISTRIBUTION_NOT_FOUND", `no route ${path.slice(0, 100)}`);
    const write = method === "PUT" || method === "POST";
    if (write) this.authorizePublish(req);
    else if (method === "GET" || method === "HEAD") this.authorizeRead(req);
    else return this.json(res, 405, { error: { code: "AECP_DISTRIBUTION_BAD_REQUEST", message: "method not allowed" } });
    if (path === "/metrics") return this.text(res, 200, this.metrics(), "text/plain; version=0.0.4");
    // /v1/blobs/sha256:<hex>
    if (parts[1] === "blobs" && parts.length === 3) {
      const digest = decodePart(parts[2]!);
      if (!DIGEST.test(digest)) throw new AecpError("AECP_DISTRIBUTION_BAD_REQUEST", "blob digest must be sha256:<64 lowercase hex>");
      return write ? this.putBlob(req, res, digest) : this.getBlob(req, res, digest);
    }
    if (parts[1] === "bundles") {
      if (parts.length === 2 && !write) return this.json(res, 200, { bundles: this.bundles().map((s) => this.summary(s)) });
      const name = decodePart(parts[2] ?? "");
      if (!BUNDLE_NAME.test(name)) throw new AecpError("AECP_DISTRIBUTION_BAD_REQUEST", "invalid bundle name in path");
      if (parts.length === 4 && parts[3] === "manifest") return write ? this.publish(req, res, name) : this.getManifest(req, res, name, url.searchParams);
      if (!write && parts.length === 4 && parts[3] === "revisions") return this.json(res, 200, { name, revisions: await this.storage.revisions(name) });
      if (!write && parts.length === 5 && parts[3] === "revisions" && /^\d{1,15}$/.test(parts[4]!)) {
        const m = await this.storage.getManifest(name, Number(parts[4]));
        if (!m) throw new AecpError("AECP_DISTRIBUTION_NOT_FOUND", `bundle \`${name}\` has no revision ${parts[4]}`);
        return this.sendManifest(res, stateOf(m), 200);
      }
    }
    throw new AecpError("AECP_DISTRIBUTION_NOT_FOUND", `no route ${method} ${path.slice(0, 100)}`);
  }

  private summary(s: BundleState) {
    return {
      name: s.name,
      revision: s.revision,
      blobDigest: s.signed.blobDigest,
      bundleDigest: s.signed.bundleDigest,
      issuedAt: s.signed.issuedAt,
      expiresAt: s.signed.expiresAt,
      watchers: this.hub.sizeOf(s.name),
    };
  }

  private async ready(): Promise<boolean> {
    if (!this.loaded) return false;
    const now = Date.now();
    if (now - this.readyCheck.at < READY_CACHE_MS) return this.readyCheck.ok;
    let ok = true;
    try {
      await this.storage.check();
    } catch {
      ok = false;
    }
    this.readyCheck = { at: now, ok };
    return ok;
  }

  private bearer(req: IncomingMessage): string | undefined {
    const h = req.headers["authorization"];
    const m = typeof h === "string" ? /^Bearer\s+(\S+)$/i.exec(h) : null;
    return m?.[1];
  }

  private authorizePublish(req: IncomingMessage): void {
    const token = this.options.publishToken;
    if (token === undefined) {
      if (!isLoopback(req.socket.remoteAddress)) {
        throw new AecpError("AECP_DISTRIBUTION_FORBIDDEN", "no publish token is configured, so publishes are accepted only from loopback");
      }
      return;
    }
    const given = this.bearer(req);
    if (given === undefined || !sameSecret(given, token)) throw new AecpError("AECP_DISTRIBUTION_UNAUTHORIZED", "publishing needs `Authorization: Bearer <publish token>`");
  }

  private authorizeRead(req: IncomingMessage): void {
    const token = this.options.readToken;
    if (token === undefined) return;
    const given = this.bearer(req);
    // the publish token may read too
    const ok = given !== undefined && (sameSecret(given, token) || (this.options.publishToken !== undefined && sameSecret(given, this.options.publishToken)));
    if (!ok) throw new AecpError("AECP_DISTRIBUTION_UNAUTHORIZED", "reading needs `Authorization: Bearer <token>`");
  }

  // --- blobs -------------------------------------------------------------------

  private async loadBlob(digest: string): Promise<Uint8Array | undefined> {
    const cached = this.blobs.get(digest);
    if (cached) {
      this.counters.blobHits++;
      return cached;
    }
    this.counters.blobMisses++;
    const b = await this.storage.getBlob(digest);
    if (b) this.blobs.set(digest, b);
    return b;
  }

  private async getBlob(req: IncomingMessage, res: ServerResponse, digest: string): Promise<void> {
    const b = await this.loadBlob(digest);
    if (!b) throw new AecpError("AECP_BLOB_NOT_FOUND", `no blob ${digest}`);
    const etag = `"${digest.slice(7)}"`;
    if (etagMatches(req.headers["if-none-match"], etag)) {
      res.writeHead(304, { etag, "cache-control": IMMUTABLE });
      return void res.end();
    }
    res.writeHead(200, { "content-type": BLOB_TYPE, "content-length": b.length, etag, "cache-control": IMMUTABLE, "docker-content-digest": digest });
    if (req.method === "HEAD") return void res.end();
    this.counters.blobBytesSent += b.length;
    res.end(b);
  }

  private async putBlob(req: IncomingMessage, res: ServerResponse, digest: string): Promise<void> {
    const bytes = await readBody(req, this.options.maxBundleBytes, "AECP_BUNDLE_TOO_LARGE");
    const actual = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
    if (actual !== digest) throw new AecpError("AECP_BLOB_DIGEST_MISMATCH", `uploaded bytes hash to ${actual}, not ${digest}`);
    await this.storage.putBlob(digest, bytes);
    this.blobs.set(digest, bytes);
    this.json(res, 201, { digest, size: bytes.length });
  }

  // --- manifests ---------------------------------------------------------------

  private async publish(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    const bytes = await readBody(req, MAX_MANIFEST_BYTES, "AECP_MANIFEST_MALFORMED");
    try {
      const m = parseManifest(bytes);
      const s = m.signed;
      if (s.name !== name) throw new AecpError("AECP_MANIFEST_NAME_MISMATCH", `manifest is for \`${s.name}\`, published as \`${name}\``);
      if (Date.parse(s.expiresAt) <= Date.now()) throw new AecpError("AECP_MANIFEST_EXPIRED", `manifest expired at ${s.expiresAt}`);
      const blob = await this.loadBlob(s.blobDigest);
      if (!blob) throw new AecpError("AECP_BLOB_NOT_FOUND", `blob ${s.blobDigest} is not uploaded; PUT /v1/blobs/${s.blobDigest} first`);
      if (blob.length !== s.blobSize) throw new AecpError("AECP_BLOB_DIGEST_MISMATCH", `blob is ${blob.length} bytes; the manifest says ${s.blobSize}`);
      const opened = readBundle(blob, { skipVerification: true, maxBundleBytes: this.options.maxBundleBytes });
      if (opened.metadata.name !== name) throw new AecpError("AECP_MANIFEST_NAME_MISMATCH", `the blob is bundle \`${opened.metadata.name}\`, not \`${name}\``);
      if (`sha256:${opened.digest}` !== s.bundleDigest) throw new AecpError("AECP_BLOB_DIGEST_MISMATCH", "the blob's bundle digest differs from the manifest's bundleDigest");
      const state = await this.serialized(name, async () => {
        // the storage, not only memory: another replica may have published meanwhile (OCI)
        const stored = await this.storage.latest(name);
        if (stored) this.setState(stateOf(stored));
        const cur = this.states.get(name);
        if (cur && s.revision <= cur.revision) {
          throw new AecpError("AECP_MANIFEST_ROLLBACK", `revision ${s.revision} is not newer than the current revision ${cur.revision} of \`${name}\``, {
            detail: { current: cur.revision },
          });
        }
        try {
          await this.storage.putManifest({ name, revision: s.revision, bytes });
        } catch (e) {
          // another replica wrote this revision first: learn the newer state, so the publisher's retry computes the next revision
          if (isAecpError(e, "AECP_MANIFEST_ROLLBACK")) await this.storage.latest(name).then((m) => m && this.setState(stateOf(m)), () => undefined);
          throw e;
        }
        const next = stateOf({ name, revision: s.revision, bytes });
        this.counters.publishes++;
        const watchers = this.hub.sizeOf(name); // before the wake-up empties the set
        this.setState(next);
        return { next, watchers };
      });
      this.json(res, 201, { name, revision: state.next.revision, etag: state.next.etag, watchers: state.watchers });
    } catch (e) {
      const code = isAecpError(e) ? e.code : "AECP_INTERNAL";
      this.rejections[code] = (this.rejections[code] ?? 0) + 1;
      throw e;
    }
  }

  /** Run publishes of one name one at a time (the revision check and the write are one step). */
  private serialized<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.publishLocks.get(name) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.publishLocks.set(name, tail);
    void tail.then(() => {
      if (this.publishLocks.get(name) === tail) this.publishLocks.delete(name);
    });
    return run;
  }

  private getManifest(req: IncomingMessage, res: ServerResponse, name: string, q: URLSearchParams): void {
    const after = q.has("after") ? Number(q.get("after")) : 0;
    const wait = q.has("wait") ? Number(q.get("wait")) : 0;
    if (!Number.isSafeInteger(after) || after < 0) throw new AecpError("AECP_DISTRIBUTION_BAD_REQUEST", "`after` must be a whole number >= 0");
    if (!Number.isFinite(wait) || wait < 0 || wait > this.options.maxWaitS) throw new AecpError("AECP_DISTRIBUTION_BAD_REQUEST", `\`wait\` must be from 0 to ${this.options.maxWaitS} seconds`);
    const inm = req.headers["if-none-match"];
    const isFresh = (s: BundleState | undefined): boolean => s !== undefined && s.revision > after && !etagMatches(inm, s.etag);
    const cur = this.states.get(name);
    if (isFresh(cur)) return this.sendManifest(res, cur!, 200);
    if (wait === 0) {
      if (!cur) throw new AecpError("AECP_DISTRIBUTION_NOT_FOUND", `bundle \`${name}\` has not been published`);
      return this.sendManifest(res, cur, 304);
    }
    if (this.hub.size >= this.options.maxWatchers) {
      res.writeHead(503, { "retry-after": "5", "content-type": "application/json" });
      return void res.end(JSON.stringify({ error: { code: "AECP_DISTRIBUTION_UNAVAILABLE", message: "too many watchers; retry later" } }) + "\n");
    }
    const cancel = this.hub.hold(
      name,
      {
        isFresh,
        answer: (s) => this.sendManifest(res, s!, 200),
        timeout: () => {
          const now = this.states.get(name);
          if (now) this.sendManifest(res, now, 304);
          else {
            res.writeHead(304, { "cache-control": "no-store" });
            res.end();
          }
        },
      },
      Math.round(wait * 1000),
    );
    res.once("close", cancel);
  }

  private sendManifest(res: ServerResponse, s: BundleState, status: 200 | 304): void {
    if (res.writableEnded || res.destroyed) return;
    const headers = { etag: s.etag, "cache-control": "no-cache", "x-aecp-revision": String(s.revision) };
    if (status === 304) {
      res.writeHead(304, headers);
      return void res.end();
    }
    res.writeHead(200, { ...headers, "content-type": MANIFEST_TYPE, "content-length": s.bytes.length });
    res.end(s.bytes);
  }

  // --- responses -----------------------------------------------------------------

  private text(res: ServerResponse, status: number, body: string, type = "text/plain"): void {
    res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
    res.end(body);
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(JSON.stringify(body) + "\n");
  }

  private sendError(res: ServerResponse, e: unknown): void {
    const err = isAecpError(e) ? e : new AecpError("AECP_INTERNAL", "internal error", { cause: e });
    if (res.headersSent) return void res.destroy();
    const headers: Record<string, string> = { "content-type": "application/json", "cache-control": "no-store" };
    if (err.code === "AECP_DISTRIBUTION_UNAUTHORIZED") headers["www-authenticate"] = 'Bearer realm="aecp-distribution"';
    // refused before its body was read: do not keep reading a (possibly large) upload on this connection
    if (err.httpStatus === 413 || err.httpStatus === 401 || err.httpStatus === 403) headers["connection"] = "close";
    res.writeHead(err.httpStatus, headers);
    // the request body may be unread (413, 401): answer, then close the connection
    res.end(JSON.stringify({ error: err.toJSON() }) + "\n");
  }

  /** Prometheus text exposition. */
  metrics(): string {
    const lines = [
      "# HELP aecp_distribution_watchers Long polls currently held.",
      "# TYPE aecp_distribution_watchers gauge",
      `aecp_distribution_watchers ${this.hub.size}`,
      "# HELP aecp_distribution_publishes_total Manifests accepted.",
      "# TYPE aecp_distribution_publishes_total counter",
      `aecp_distribution_publishes_total ${this.counters.publishes}`,
      "# HELP aecp_distribution_publish_rejections_total Manifest publishes refused, by code.",
      "# TYPE aecp_distribution_publish_rejections_total counter",
      ...Object.entries(this.rejections).map(([c, n]) => `aecp_distribution_publish_rejections_total{code="${c}"} ${n}`),
      "# HELP aecp_distribution_wakeups_total Long polls answered by a publish.",
      "# TYPE aecp_distribution_wakeups_total counter",
      `aecp_distribution_wakeups_total ${this.hub.woken}`,
      "# HELP aecp_distribution_blob_requests_total Blob reads by cache result.",
      "# TYPE aecp_distribution_blob_requests_total counter",
      `aecp_distribution_blob_requests_total{cache="hit"} ${this.counters.blobHits}`,
      `aecp_distribution_blob_requests_total{cache="miss"} ${this.counters.blobMisses}`,
      "# HELP aecp_distribution_blob_bytes_sent_total Blob bytes sent.",
      "# TYPE aecp_distribution_blob_bytes_sent_total counter",
      `aecp_distribution_blob_bytes_sent_total ${this.counters.blobBytesSent}`,
      "# HELP aecp_distribution_storage_poll_errors_total Failed re-reads of the storage.",
      "# TYPE aecp_distribution_storage_poll_errors_total counter",
      `aecp_distribution_storage_poll_errors_total ${this.counters.pollErrors}`,
      "# HELP aecp_distribution_bundle_revision Current revision per bundle.",
      "# TYPE aecp_distribution_bundle_revision gauge",
      ...this.bundles().map((s) => `aecp_distribution_bundle_revision{name="${s.name}"} ${s.revision}`),
    ];
    return lines.join("\n") + "\n";
  }
}

function decodePart(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    throw new AecpError("AECP_DISTRIBUTION_BAD_REQUEST", "malformed percent-encoding in the path");
  }
}

/** Read a request body of at most `limit` bytes; larger bodies fail with `code` (413 for bundles). */
function readBody(req: IncomingMessage, limit: number, code: ErrorCode): Promise<Uint8Array> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > limit) return Promise.reject(new AecpError(code, `request body is ${declared} bytes; the limit is ${limit}`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    req.on("data", (c: Buffer) => {
      total += c.length;
      if (total > limit) {
        req.removeAllListeners("data");
        req.resume();
        reject(new AecpError(code, `request body exceeds ${limit} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.once("end", () => resolve(new Uint8Array(Buffer.concat(chunks))));
    req.once("error", (cause) => reject(new AecpError("AECP_DISTRIBUTION_BAD_REQUEST", "request body could not be read", { cause })));
  });
}
