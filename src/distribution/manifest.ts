// The signed distribution manifest: the second signing level, in the spirit of
// TUF. The bundle itself is deterministic and signed at compile time; a
// publish wraps it in a manifest saying WHICH bundle is current for a name, at
// which monotonically increasing revision, until when — signed with Ed25519 by
// one or more publisher keys (several at once, so keys rotate without
// downtime).
//
// Wire form (JSON, at most MAX_MANIFEST_BYTES):
//   { "signed": { "schema": "aecp.manifest.v1", "name", "revision",
//                 "blobDigest": "sha256:<hex>", "blobSize",
//                 "bundleDigest": "sha256:<hex>", "issuedAt", "expiresAt" },
//     "signatures": [ { "keyId", "algorithm": "ed25519", "signature": <base64> } ] }
// Each signature covers MANIFEST_SIGNING_PREFIX + RFC 8785 (JCS) canonical
// JSON of `signed`, so whitespace or key order on the wire never matters and
// a signature for one purpose can never be replayed as another.
//
// INVARIANT: `signed` has exactly the fields above; anything unknown is
// rejected (a verifier must never act on unsigned or unrecognised data).

import { createHash } from "node:crypto";
import canonicalizeModule from "canonicalize";
import { AecpError } from "../common/index.js";
import { sign, verify, type PrivateKey, type TrustedKeys } from "../bundle/index.js";

// canonicalize is CommonJS (`module.exports = fn`) with an ESM-style d.ts.
const canonicalize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

export const MANIFEST_SCHEMA = "aecp.manifest.v1";
/** Domain separation: what a manifest signature signs, before the canonical JSON. */
export const MANIFEST_SIGNING_PREFIX = "aecp-manifest-v1\n";
/** Largest manifest accepted anywhere (server, watcher, publish), bytes. */
export const MAX_MANIFEST_BYTES = 64 * 1024;
/** Most signatures a manifest may carry. */
export const MAX_MANIFEST_SIGNATURES = 16;
/** Bundle names: as `aecp compile --name` accepts them. */
export const BUNDLE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Content digests: `sha256:` + 64 lowercase hex digits. */
export const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** The signed part of a manifest. */
export interface ManifestBody {
  readonly schema: typeof MANIFEST_SCHEMA;
  /** Bundle name (the bundle's own metadata name). */
  readonly name: string;
  /** Monotonically increasing per name, from 1. */
  readonly revision: number;
  /** `sha256:<hex>` of the bundle FILE bytes (the blob served by GET /v1/blobs/…). */
  readonly blobDigest: string;
  /** Size of the bundle file, bytes. */
  readonly blobSize: number;
  /** `sha256:<hex>` of the bundle's signed content (what `aecp verify` and /status show). */
  readonly bundleDigest: string;
  /** RFC 3339 UTC time the publisher signed the manifest. */
  readonly issuedAt: string;
  /** RFC 3339 UTC time after which no verifier accepts it. */
  readonly expiresAt: string;
}

export interface ManifestSignature {
  readonly keyId: string;
  readonly algorithm: "ed25519";
  /** Base64 of the 64-byte Ed25519 signature. */
  readonly signature: string;
}

export interface SignedManifest {
  readonly signed: ManifestBody;
  readonly signatures: readonly ManifestSignature[];
}

/** A manifest that passed `verifyManifest`. */
export interface VerifiedManifest extends SignedManifest {
  /** Key id of the trusted key whose signature verified. */
  readonly keyId: string;
  /** The exact bytes it was parsed from (persisted with the last-known-good bundle). */
  readonly bytes: Uint8Array;
  readonly issuedAtMs: number;
  readonly expiresAtMs: number;
}

const BODY_KEYS = ["schema", "name", "revision", "blobDigest", "blobSize", "bundleDigest", "issuedAt", "expiresAt"] as const;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/;

function malformed(why: string): never {
  throw new AecpError("AECP_MANIFEST_MALFORMED", `manifest ${why}`);
}

function time(key: string, v: unknown): number {
  if (typeof v !== "string" || !RFC3339_UTC.test(v)) malformed(`\`${key}\` must be an RFC 3339 UTC time (…Z)`);
  const ms = Date.parse(v);
  if (!Number.isFinite(ms)) malformed(`\`${key}\` is not a valid time`);
  return ms;
}

/** The bytes a signature covers. */
export function signingInput(body: ManifestBody): Uint8Array {
  const canonical = canonicalize(body);
  if (canonical === undefined) throw new AecpError("AECP_INTERNAL", "manifest body does not canonicalize");
  return new TextEncoder().encode(MANIFEST_SIGNING_PREFIX + canonical);
}

/** Check the shape of a manifest body (no signature, no clock). */
function checkBody(raw: unknown): ManifestBody {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) malformed("`signed` must be an object");
  const r = raw as Record<string, unknown>;
  for (const k of Object.keys(r)) if (!(BODY_KEYS as readonly string[]).includes(k)) malformed(`has unknown field \`signed.${k}\``);
  if (r["schema"] !== MANIFEST_SCHEMA) malformed(`schema must be \`${MANIFEST_SCHEMA}\``);
  const name = r["name"];
  if (typeof name !== "string" || !BUNDLE_NAME.test(name)) malformed("`name` is not a valid bundle name");
  const revision = r["revision"];
  if (typeof revision !== "number" || !Number.isSafeInteger(revision) || revision < 1) malformed("`revision` must be a whole number >= 1");
  for (const k of ["blobDigest", "bundleDigest"] as const) {
    if (typeof r[k] !== "string" || !DIGEST.test(r[k] as string)) malformed(`\`${k}\` must be sha256:<64 lowercase hex>`);
  }
  const size = r["blobSize"];
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 1) malformed("`blobSize` must be a whole number >= 1");
  const issued = time("issuedAt", r["issuedAt"]);
  const expires = time("expiresAt", r["expiresAt"]);
  if (expires <= issued) malformed("`expiresAt` must be after `issuedAt`");
  return r as unknown as ManifestBody;
}

/**
 * Parse a manifest's structure (JSON, fields, limits) without verifying its
 * signatures. The server uses this on publish; watchers call verifyManifest.
 * Throws AECP_MANIFEST_MALFORMED or AECP_MANIFEST_UNSIGNED.
 */
export function parseManifest(bytes: Uint8Array): SignedManifest {
  if (bytes.length > MAX_MANIFEST_BYTES) malformed(`is ${bytes.length} bytes; the limit is ${MAX_MANIFEST_BYTES}`);
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    malformed("is not valid UTF-8 JSON");
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) malformed("must be a JSON object");
  const d = doc as Record<string, unknown>;
  for (const k of Object.keys(d)) if (k !== "signed" && k !== "signatures") malformed(`has unknown field \`${k}\``);
  const signed = checkBody(d["signed"]);
  const sigs = d["signatures"] ?? [];
  if (!Array.isArray(sigs)) malformed("`signatures` must be a list");
  if (sigs.length === 0) throw new AecpError("AECP_MANIFEST_UNSIGNED", `manifest for \`${signed.name}\` revision ${signed.revision} carries no signature`);
  if (sigs.length > MAX_MANIFEST_SIGNATURES) malformed(`carries ${sigs.length} signatures; the limit is ${MAX_MANIFEST_SIGNATURES}`);
  const signatures = sigs.map((s: unknown, i): ManifestSignature => {
    if (s === null || typeof s !== "object" || Array.isArray(s)) malformed(`signature #${i + 1} must be an object`);
    const o = s as Record<string, unknown>;
    for (const k of Object.keys(o)) if (k !== "keyId" && k !== "algorithm" && k !== "signature") malformed(`signature #${i + 1} has unknown field \`${k}\``);
    if (typeof o["keyId"] !== "string" || !/^[0-9a-f]{1,64}$/.test(o["keyId"])) malformed(`signature #${i + 1} has no valid \`keyId\``);
    if (o["algorithm"] !== "ed25519") malformed(`signature #${i + 1} algorithm must be \`ed25519\``);
    if (typeof o["signature"] !== "string" || o["signature"].length > 200) malformed(`signature #${i + 1} has no valid \`signature\``);
    return { keyId: o["keyId"], algorithm: "ed25519", signature: o["signature"] };
  });
  return { signed, signatures };
}

export interface VerifyManifestOptions {
  trustedKeys: TrustedKeys;
  /** The bundle name the verifier asked for; any other name is rejected. */
  name: string;
  /** Current time, ms since the epoch. Default Date.now(). */
  nowMs?: number;
}

/**
 * Parse and verify: a signature by a trusted key over the canonical body,
 * the expected bundle name, and expiry. Codes, in the order checked:
 * AECP_MANIFEST_MALFORMED, AECP_MANIFEST_UNSIGNED, AECP_MANIFEST_UNTRUSTED_KEY,
 * AECP_MANIFEST_SIGNATURE_INVALID, AECP_MANIFEST_NAME_MISMATCH,
 * AECP_MANIFEST_EXPIRED (its `detail` carries revision and expiresAt).
 */
export function verifyManifest(bytes: Uint8Array, opts: VerifyManifestOptions): VerifiedManifest {
  const m = parseManifest(bytes);
  const trusted = opts.trustedKeys;
  if (trusted.size === 0) throw new AecpError("AECP_MANIFEST_UNTRUSTED_KEY", "no trusted public keys configured; refusing an unverifiable manifest");
  const message = signingInput(m.signed);
  let keyId: string | undefined;
  let sawTrusted = false;
  for (const s of m.signatures) {
    const k = trusted.get(s.keyId);
    if (!k) continue;
    sawTrusted = true;
    const sig = Buffer.from(s.signature, "base64");
    if (sig.length === 64 && verify(new Uint8Array(sig), message, k.publicKey)) {
      keyId = s.keyId;
      break;
    }
  }
  if (keyId === undefined) {
    if (!sawTrusted) {
      throw new AecpError("AECP_MANIFEST_UNTRUSTED_KEY", `manifest is signed by ${m.signatures.map((s) => `\`${s.keyId}\``).join(", ")}, not by a trusted key`, {
        detail: { keyIds: m.signatures.map((s) => s.keyId), trusted: trusted.ids() },
      });
    }
    throw new AecpError("AECP_MANIFEST_SIGNATURE_INVALID", `manifest for \`${m.signed.name}\` revision ${m.signed.revision} has a signature that does not verify`);
  }
  if (m.signed.name !== opts.name) {
    throw new AecpError("AECP_MANIFEST_NAME_MISMATCH", `manifest is for bundle \`${m.signed.name}\`, not \`${opts.name}\``);
  }
  const issuedAtMs = Date.parse(m.signed.issuedAt);
  const expiresAtMs = Date.parse(m.signed.expiresAt);
  const now = opts.nowMs ?? Date.now();
  if (now >= expiresAtMs) {
    throw new AecpError("AECP_MANIFEST_EXPIRED", `manifest for \`${m.signed.name}\` revision ${m.signed.revision} expired at ${m.signed.expiresAt}`, {
      detail: { revision: m.signed.revision, expiresAt: m.signed.expiresAt },
    });
  }
  return { ...m, keyId, bytes, issuedAtMs, expiresAtMs };
}

export interface ManifestParams {
  name: string;
  revision: number;
  /** The bundle file. */
  blob: Uint8Array;
  /** `sha256:<hex>` of the bundle's signed content. */
  bundleDigest: string;
  /** Default now. */
  issuedAt?: Date;
  /** Lifetime, ms. */
  lifetimeMs: number;
}

/** Build and sign a manifest with one or more keys; returns its wire bytes. */
export function createManifest(p: ManifestParams, keys: readonly PrivateKey[]): Uint8Array {
  if (keys.length === 0) throw new AecpError("AECP_USAGE", "a manifest needs at least one signing key");
  const issued = p.issuedAt ?? new Date();
  const body: ManifestBody = {
    schema: MANIFEST_SCHEMA,
    name: p.name,
    revision: p.revision,
    blobDigest: blobDigestOf(p.blob),
    blobSize: p.blob.length,
    bundleDigest: p.bundleDigest,
    issuedAt: issued.toISOString(),
    expiresAt: new Date(issued.getTime() + p.lifetimeMs).toISOString(),
  };
  checkBody(body);
  const message = signingInput(body);
  const signatures = keys.map((k): ManifestSignature => ({ keyId: k.keyId, algorithm: "ed25519", signature: Buffer.from(sign(message, k)).toString("base64") }));
  return new TextEncoder().encode(JSON.stringify({ signed: body, signatures }));
}

/** `sha256:<hex>` of bytes (blob digests, ETags). */
export function blobDigestOf(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `30d`, `12h`, `90m`, `3600s` → ms (at most 10 years). AECP_USAGE when malformed. */
export function parseDuration(text: string): number {
  const m = /^(\d{1,6})([smhd])$/.exec(text.trim());
  if (!m) throw new AecpError("AECP_USAGE", `invalid duration \`${text}\`: use a whole number with s, m, h or d (e.g. 30d)`);
  const ms = Number(m[1]) * UNIT_MS[m[2]!]!;
  if (ms < 1000 || ms > 3650 * UNIT_MS["d"]!) throw new AecpError("AECP_USAGE", `duration \`${text}\` must be from 1s to 3650d`);
  return ms;
}
