// The publishing client (`aecp publish`) and the shared mapping of a
// distribution service's error answers to AecpErrors. Publishing is two
// requests: upload the bundle file as a content-addressed blob, then publish a
// manifest signed here (the private key never leaves the publisher) with
// revision = current + 1. A concurrent publish of the same name makes the
// server answer AECP_MANIFEST_ROLLBACK; the client re-reads and retries.

import { request, type Dispatcher } from "undici";
import { AecpError, errorFromAnswer, readBoundedBody, type ErrorCode } from "../common/index.js";
import { readBundle, type PrivateKey } from "../bundle/index.js";
import { blobDigestOf, createManifest, parseManifest } from "./manifest.js";

export interface PublishOptions {
  /** Distribution service base URL. */
  url: string;
  /** The signed bundle file. */
  bundle: Uint8Array;
  /** Manifest signing keys (one or more, e.g. old and new during a rotation). */
  keys: readonly PrivateKey[];
  /** Manifest lifetime, ms. */
  lifetimeMs: number;
  /** Publish bearer token. Default none (loopback-only servers). */
  token?: string | undefined;
  /** Per-request timeout, ms. Default 30000. */
  timeoutMs?: number;
}

export interface PublishResult {
  name: string;
  revision: number;
  blobDigest: string;
  bundleDigest: string;
  expiresAt: string;
  /** Watchers the server held on this bundle when it accepted the publish. */
  watchers: number;
}

/** Turn a non-success answer of the distribution service into an AecpError. */
export function answerError(status: number, body: Uint8Array, what: string): AecpError {
  const fallback: ErrorCode =
    status === 401 ? "AECP_DISTRIBUTION_UNAUTHORIZED" : status === 403 ? "AECP_DISTRIBUTION_FORBIDDEN" : status === 404 ? "AECP_DISTRIBUTION_NOT_FOUND" : "AECP_DISTRIBUTION_UNAVAILABLE";
  return errorFromAnswer(status, body, fallback, `distribution service answered ${what} with`);
}

async function call(method: Dispatcher.HttpMethod, url: string, opts: PublishOptions, body?: Uint8Array, contentType?: string): Promise<{ status: number; body: Uint8Array }> {
  const timeout = opts.timeoutMs ?? 30_000;
  try {
    const res = await request(url, {
      method,
      headers: { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), ...(contentType ? { "content-type": contentType } : {}) },
      ...(body ? { body } : {}),
      headersTimeout: timeout,
      bodyTimeout: timeout,
    });
    const answer = await readBoundedBody(res.body, 1024 * 1024, () => new AecpError("AECP_DISTRIBUTION_UNAVAILABLE", `distribution service answer to ${method} is too large`));
    return { status: res.statusCode, body: answer };
  } catch (cause) {
    if (cause instanceof AecpError) throw cause;
    throw new AecpError("AECP_DISTRIBUTION_UNAVAILABLE", `cannot reach the distribution service at ${new URL(url).origin}`, { cause });
  }
}

/** Upload and publish a bundle; see the file header. */
export async function publishBundle(opts: PublishOptions): Promise<PublishResult> {
  const base = opts.url.replace(/\/+$/, "");
  const opened = readBundle(opts.bundle, { skipVerification: true, maxBundleBytes: opts.bundle.length });
  const name = opened.metadata.name;
  const blobDigest = blobDigestOf(opts.bundle);
  const put = await call("PUT", `${base}/v1/blobs/${blobDigest}`, opts, opts.bundle, "application/vnd.aecp.bundle.v1");
  if (put.status !== 201 && put.status !== 200) throw answerError(put.status, put.body, "the blob upload");
  for (let attempt = 0; ; attempt++) {
    const cur = await call("GET", `${base}/v1/bundles/${encodeURIComponent(name)}/manifest`, opts);
    let current = 0;
    if (cur.status === 200) current = parseManifest(cur.body).signed.revision;
    else if (cur.status !== 404) throw answerError(cur.status, cur.body, "the current-manifest read");
    const manifest = createManifest({ name, revision: current + 1, blob: opts.bundle, bundleDigest: `sha256:${opened.digest}`, lifetimeMs: opts.lifetimeMs }, opts.keys);
    const pub = await call("PUT", `${base}/v1/bundles/${encodeURIComponent(name)}/manifest`, opts, manifest, "application/vnd.aecp.manifest.v1+json");
    if (pub.status === 201) {
      const signed = parseManifest(manifest).signed;
      const watchers = (JSON.parse(Buffer.from(pub.body).toString("utf8")) as { watchers?: number }).watchers ?? 0;
      return { name, revision: signed.revision, blobDigest, bundleDigest: signed.bundleDigest, expiresAt: signed.expiresAt, watchers };
    }
    const err = answerError(pub.status, pub.body, "the manifest publish");
    if (err.code !== "AECP_MANIFEST_ROLLBACK" || attempt >= 4) throw err;
  }
}

