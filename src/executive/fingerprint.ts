// The canonical fingerprint of a request: what an approval is bound to. A
// human approves *this* request; the retried request is let through only if
// its fingerprint is identical (same method, authority, path and query, body
// digest, source principal, and headers other than volatile ones).
//
// fingerprint = "sha256:" + hex(SHA-256(RFC 8785 canonical JSON of the fields))

import { createHash } from "node:crypto";
import canonicalizeModule from "canonicalize";
import type { RequestAttributes } from "../bundle/index.js";

// canonicalize is CommonJS (`module.exports = fn`) with an ESM-style d.ts;
// under NodeNext the default import is the function at run time.
const canonicalize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

export const FINGERPRINT_VERSION = 1;
export const HEADER_EXECUTION_ID = "x-aecp-execution-id";

/** Headers that legitimately differ between the paused request and its retry. */
const VOLATILE_HEADERS = new Set([
  HEADER_EXECUTION_ID,
  "x-aecp-exception-grant", // the grant is bound to this fingerprint; it cannot be part of it
  "x-aecp-decision-id",
  "x-request-id",
  "traceparent",
  "tracestate",
  "b3",
  "content-length",
  "date",
  "grpc-timeout",
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-port",
  "x-real-ip",
  "forwarded",
  "via",
]);
const VOLATILE_PREFIXES = ["x-envoy-", "x-b3-", ":"];

/** True for headers that legitimately differ between the paused request and its retry (not part of the fingerprint). */
export function isVolatile(name: string): boolean {
  return VOLATILE_HEADERS.has(name) || VOLATILE_PREFIXES.some((p) => name.startsWith(p));
}

export interface FingerprintFields {
  v: number;
  method: string | null;
  authority: string | null;
  path: string | null;
  query: Record<string, string>;
  body_sha256: string | null;
  source_principal: string | null;
  headers: Record<string, string>;
}

export function bodyDigest(raw: string | Uint8Array | undefined): string | null {
  if (raw === undefined) return null;
  return createHash("sha256").update(raw).digest("hex");
}

export function fingerprintFields(a: RequestAttributes): FingerprintFields {
  const headers: Record<string, string> = {};
  for (const k of Object.keys(a.headers)) if (!isVolatile(k)) headers[k] = a.headers[k]!;
  return {
    v: FINGERPRINT_VERSION,
    method: a.method ?? null,
    authority: a.host ?? null,
    path: a.path ?? null,
    query: { ...a.query },
    body_sha256: bodyDigest(a.rawBody),
    source_principal: a.source.principal ?? null,
    headers,
  };
}

/** `sha256:<hex>` over the RFC 8785 canonical JSON of `fingerprintFields(a)`. */
export function requestFingerprint(a: RequestAttributes): string {
  const canonical = canonicalize(fingerprintFields(a));
  if (canonical === undefined) throw new Error("compiler bug: fingerprint fields are not serializable");
  return `sha256:${createHash("sha256").update(canonical).digest("hex")}`;
}
