// Exception grants: the short-lived, signed permission an override
// (break-glass) decision produces. The approvals service signs one with its
// Ed25519 grant key; the sidecar verifies it OFFLINE (no call to the service)
// and evaluates the request with the grant's exceptions waived, so an
// `EXCEPTION:` policy lets exactly this request through while it is valid.
//
// Wire form (header `x-aecp-exception-grant`):
//   <base64url(payload)>.<base64url(signature)>
//   payload   = RFC 8785 canonical JSON of ExceptionGrantPayload
//   signature = Ed25519 over "aecp-exception-grant.v1\n" || payload bytes
// The domain prefix keeps a grant signature from ever being a valid
// signature of anything else the same key signs.
//
// Binding: `fingerprint` is the request fingerprint (./fingerprint.ts) the
// approver saw; a grant presented with any other request is refused. A grant
// is valid from `iat` to `exp` (seconds); it is not single-use (offline
// verification cannot count uses) — keep `exp` short (the service default is
// 5 minutes).

import canonicalizeModule from "canonicalize";
import { AecpError } from "../common/index.js";
import { sign, verify, type PrivateKey, type TrustedKeys } from "../bundle/index.js";

const canonicalize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

export const HEADER_EXCEPTION_GRANT = "x-aecp-exception-grant";
const DOMAIN = new TextEncoder().encode("aecp-exception-grant.v1\n");
/** Largest token accepted, characters (a grant is a few hundred bytes). */
const MAX_TOKEN_CHARS = 16 * 1024;
/** Clock skew tolerated for `iat`, seconds. */
const SKEW_S = 60;

export interface ExceptionGrantPayload {
  v: 1;
  /** Key id of the signing key (bundle/keys.ts keyIdOf). */
  kid: string;
  execution_id: string;
  fingerprint: string;
  /** EXCEPTION names waived while the grant is valid. */
  exceptions: string[];
  /** Policies the override was decided for. */
  policies: string[];
  approver: string;
  /** Issued at / expires at, seconds since the epoch. */
  iat: number;
  exp: number;
}

export interface VerifiedExceptionGrant {
  exceptions: string[];
  policies: string[];
  executionId: string;
  approver: string;
  keyId: string;
  /** Expiry, seconds since the epoch. */
  expiresAt: number;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** Sign a grant (the approvals service). `payload.kid` is set from the key. */
export function encodeExceptionGrant(payload: Omit<ExceptionGrantPayload, "kid" | "v">, key: PrivateKey): string {
  const full: ExceptionGrantPayload = { v: 1, kid: key.keyId, ...payload };
  const bytes = new TextEncoder().encode(canonicalize(full)!);
  const sig = sign(concat(DOMAIN, bytes), key);
  return `${Buffer.from(bytes).toString("base64url")}.${Buffer.from(sig).toString("base64url")}`;
}

const invalid = (why: string): AecpError => new AecpError("AECP_GRANT_INVALID", `exception grant refused: ${why}`);
const NAME = /^[A-Za-z0-9_.:-]{1,256}$/;

/**
 * Verify a grant offline. Checks, in order: shape, trusted key, signature,
 * validity window (`now`, ms; default Date.now()), fingerprint binding.
 * Returns the waived exceptions; throws AECP_GRANT_INVALID naming the failed
 * check otherwise.
 */
export function verifyExceptionGrant(token: string, o: { trustedKeys: TrustedKeys; fingerprint: string; now?: number }): VerifiedExceptionGrant {
  if (typeof token !== "string" || token.length > MAX_TOKEN_CHARS) throw invalid("malformed token");
  const m = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(token.trim());
  if (!m) throw invalid("malformed token");
  const bytes = new Uint8Array(Buffer.from(m[1]!, "base64url"));
  const sig = new Uint8Array(Buffer.from(m[2]!, "base64url"));
  let p: ExceptionGrantPayload;
  try {
    p = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)) as ExceptionGrantPayload;
  } catch {
    throw invalid("payload is not JSON");
  }
  if (
    p === null ||
    typeof p !== "object" ||
    p.v !== 1 ||
    typeof p.kid !== "string" ||
    typeof p.execution_id !== "string" ||
    typeof p.fingerprint !== "string" ||
    typeof p.approver !== "string" ||
    !Number.isInteger(p.iat) ||
    !Number.isInteger(p.exp) ||
    !Array.isArray(p.exceptions) ||
    !p.exceptions.every((e) => typeof e === "string" && NAME.test(e)) ||
    !Array.isArray(p.policies) ||
    !p.policies.every((e) => typeof e === "string")
  ) {
    throw invalid("payload does not have the grant fields");
  }
  // the signed bytes must be the canonical form: no second encoding of the same grant
  if (canonicalize(p) !== new TextDecoder().decode(bytes)) throw invalid("payload is not canonical JSON");
  const key = o.trustedKeys.get(p.kid);
  if (!key) throw invalid(`signed by untrusted key \`${p.kid.slice(0, 32)}\``);
  if (sig.length !== 64 || !verify(sig, concat(DOMAIN, bytes), key.publicKey)) throw invalid("signature does not verify");
  const nowS = Math.floor((o.now ?? Date.now()) / 1000);
  if (p.exp <= nowS) throw invalid("expired");
  if (p.iat > nowS + SKEW_S) throw invalid("issued in the future");
  if (p.fingerprint !== o.fingerprint) throw invalid("bound to a different request");
  return { exceptions: [...p.exceptions], policies: [...p.policies], executionId: p.execution_id, approver: p.approver, keyId: p.kid, expiresAt: p.exp };
}
