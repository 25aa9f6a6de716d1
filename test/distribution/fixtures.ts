// Shared fixtures of the distribution tests: keys, bundles compiled here
// (three revisions of `mesh`, one of another name, one signed by an
// untrusted key, a wrong-ABI and an invalid-WebAssembly bundle re-signed with
// the test key), manifests, a hostile distribution server that serves
// whatever a test sets (for tamper and fault cases the real server would
// refuse to store), and small polling helpers.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { ABI_VERSION, BundleMetadataSchema, generateKeyPairPem, parsePrivateKeyPem, readBundle, writeBundle, type PrivateKey } from "../../src/bundle/index.js";
import { blobDigestOf, createManifest } from "../../src/distribution/index.js";
import { compile } from "../../src/judicial/index.js";

export interface Fixtures {
  dir: string;
  key: PrivateKey;
  keyPem: { privatePem: string; publicPem: string };
  pubPath: string;
  keyPath: string;
  other: PrivateKey;
  /** name → bundle bytes */
  v1: Uint8Array;
  v2: Uint8Array;
  v3: Uint8Array;
  otherName: Uint8Array;
  untrustedBundle: Uint8Array;
  wrongAbi: Uint8Array;
  invalidWasm: Uint8Array;
}

const policy = (path: string): string => `
DEFAULT: DENY
POLICY open_${path} {
  SCOPE: requests WHERE request.path MATCHES "/${path}/**"
  CONSTRAINT: TRUE
  ENFORCEMENT: BLOCKING
}
`;

async function build(name: string, path: string, key: PrivateKey): Promise<Uint8Array> {
  const r = await compile([{ path: "p.policy", text: policy(path) }], { name, key });
  if (!r.ok || !r.bundle) throw new Error(`fixture bundle ${name} does not compile: ${JSON.stringify(r.diagnostics)}`);
  return r.bundle;
}

export async function makeFixtures(): Promise<Fixtures> {
  const dir = mkdtempSync(join(tmpdir(), "aecp-dist-"));
  const keyPem = generateKeyPairPem();
  const key = parsePrivateKeyPem(keyPem.privatePem);
  const other = parsePrivateKeyPem(generateKeyPairPem().privatePem);
  const pubPath = join(dir, "aecp.pub");
  const keyPath = join(dir, "aecp.key");
  writeFileSync(pubPath, keyPem.publicPem);
  writeFileSync(keyPath, keyPem.privatePem, { mode: 0o600 });
  const [v1, v2, v3, otherName, untrustedBundle] = await Promise.all([
    build("mesh", "one", key),
    build("mesh", "two", key),
    build("mesh", "three", key),
    build("other", "one", key),
    build("mesh", "evil", other),
  ]);
  const opened = readBundle(v1, { skipVerification: true });
  const wrongAbi = writeBundle(create(BundleMetadataSchema, { ...opened.metadata, abiVersion: ABI_VERSION + 1 }), opened.component, key);
  // a component whose core module section holds three bytes of garbage
  const garbage = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00, 0x01, 0x03, 0x01, 0x02, 0x03]);
  const invalidWasm = writeBundle(opened.metadata, garbage, key);
  return { dir, key, keyPem, pubPath, keyPath, other, v1, v2, v3, otherName, untrustedBundle, wrongAbi, invalidWasm };
}

/** `sha256:<hex>` of the bundle's signed content. */
export function bundleDigest(bytes: Uint8Array): string {
  return `sha256:${readBundle(bytes, { skipVerification: true }).digest}`;
}

export function manifestFor(
  bundle: Uint8Array,
  revision: number,
  keys: PrivateKey[],
  o: { name?: string; issuedAt?: Date; lifetimeMs?: number } = {},
): Uint8Array {
  return createManifest(
    {
      name: o.name ?? readBundle(bundle, { skipVerification: true }).metadata.name,
      revision,
      blob: bundle,
      bundleDigest: bundleDigest(bundle),
      ...(o.issuedAt ? { issuedAt: o.issuedAt } : {}),
      lifetimeMs: o.lifetimeMs ?? 3_600_000,
    },
    keys,
  );
}

/** Edit a manifest's JSON (after signing: the signature no longer covers it). */
export function editManifest(bytes: Uint8Array, edit: (doc: { signed: Record<string, unknown>; signatures: unknown[] }) => void): Uint8Array {
  const doc = JSON.parse(Buffer.from(bytes).toString("utf8")) as { signed: Record<string, unknown>; signatures: unknown[] };
  edit(doc);
  return new TextEncoder().encode(JSON.stringify(doc));
}

/**
 * A distribution server under the test's control. It speaks the API well
 * enough for a watcher (long poll honouring `after` and If-None-Match, ETag,
 * blobs) but serves whatever the test set, with optional faults.
 */
export class HostileDistribution {
  manifest: Uint8Array | undefined;
  revision = 0;
  readonly blobs = new Map<string, Uint8Array>();
  /** Ignore `after` (serve the manifest even when it is not newer). */
  ignoreAfter = false;
  /** Delay before answering any request, ms. */
  delayMs = 0;
  /** Send only half of each 200 body (with the full content-length), then cut the connection. */
  truncate = false;
  requests = 0;
  private server: Server | undefined;
  private held = new Set<() => void>();
  url = "";

  /** Serve `manifest` (its etag is its digest); `blobs` are added to the store. */
  set(manifest: Uint8Array, revision: number, ...blobs: Uint8Array[]): void {
    this.manifest = manifest;
    this.revision = revision;
    for (const b of blobs) this.blobs.set(blobDigestOf(b), b);
    for (const wake of [...this.held]) wake();
  }

  /** Serve `bytes` under `digest` (to hand out a blob other than the one named). */
  setBlob(digest: string, bytes: Uint8Array): void {
    this.blobs.set(digest, bytes);
  }

  async start(port = 0): Promise<void> {
    this.server = createServer((req, res) => {
      this.requests++;
      setTimeout(() => this.handle(req, res), this.delayMs);
    });
    await new Promise<void>((resolve) => this.server!.listen(port, "127.0.0.1", () => resolve()));
    const a = this.server.address();
    this.url = `http://127.0.0.1:${typeof a === "object" && a ? a.port : port}`;
  }

  private send(res: ServerResponse, status: number, body: Uint8Array | undefined, headers: Record<string, string> = {}): void {
    if (res.destroyed) return;
    if (!body) {
      res.writeHead(status, headers);
      return void res.end();
    }
    res.writeHead(status, { ...headers, "content-length": String(body.length) });
    if (this.truncate && status === 200) {
      res.write(body.subarray(0, Math.floor(body.length / 2)));
      setTimeout(() => res.destroy(), 10);
      return;
    }
    res.end(body);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://x");
    const blob = /^\/v1\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
    if (blob) {
      const b = this.blobs.get(blob[1]!);
      return b ? this.send(res, 200, b) : this.send(res, 404, new TextEncoder().encode('{"error":{"code":"AECP_BLOB_NOT_FOUND","message":"no blob"}}'));
    }
    if (!/^\/v1\/bundles\/[^/]+\/manifest$/.test(url.pathname)) return this.send(res, 404, undefined);
    const after = Number(url.searchParams.get("after") ?? "0");
    const wait = Number(url.searchParams.get("wait") ?? "0");
    const etagOf = (): string => `"${blobDigestOf(this.manifest!).slice(7)}"`;
    const fresh = (): boolean => this.manifest !== undefined && (this.ignoreAfter || this.revision > after) && req.headers["if-none-match"] !== etagOf();
    if (fresh()) return this.send(res, 200, this.manifest, { etag: etagOf() });
    if (wait <= 0) return this.send(res, 304, undefined);
    const wake = (): void => {
      if (!fresh()) return;
      this.held.delete(wake);
      clearTimeout(timer);
      this.send(res, 200, this.manifest, { etag: etagOf() });
    };
    const timer = setTimeout(() => {
      this.held.delete(wake);
      this.send(res, 304, undefined);
    }, wait * 1000);
    this.held.add(wake);
    res.once("close", () => {
      this.held.delete(wake);
      clearTimeout(timer);
    });
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    const s = this.server;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }
}

/** Poll `probe` until it returns a truthy value (bounded; throws with `what` on timeout). */
export async function until<T>(probe: () => T | Promise<T>, what: string, timeoutMs = 15_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
