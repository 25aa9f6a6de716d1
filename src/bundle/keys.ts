// Ed25519 keys and signatures. Keys are standard PEM files (PKCS#8 private,
// SPKI public) so openssl and other tools read them; node:crypto parses and
// writes the PEM encoding.
//
// Signing is @noble/ed25519 (audited pure JS, the same deterministic bytes on
// every platform). Verification — on the sidecar's activation path, once for
// the manifest and once for the bundle, in every sidecar of the mesh — is
// node:crypto's native Ed25519 (OpenSSL): 0.08 ms against noble's 1.25 ms
// here, and it decides p99 publish → active (docs/performance.md). Both are
// RFC 8032 Ed25519; test/keys.test.ts checks them against each other on the
// RFC's vectors, random signatures and tampered ones.

import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, verify as nativeVerify, type KeyObject } from "node:crypto";
import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
import { AecpError } from "../common/index.js";

ed.hashes.sha512 = sha512;

export interface PrivateKey {
  /** 32-byte seed. */
  seed: Uint8Array;
  publicKey: Uint8Array;
  keyId: string;
}

export interface PublicKey {
  publicKey: Uint8Array;
  keyId: string;
}

/** Key id: hex of the first 16 bytes of SHA-256 over the raw 32-byte public key. */
export function keyIdOf(publicKey: Uint8Array): string {
  return createHash("sha256").update(publicKey).digest("hex").slice(0, 32);
}

function b64url(s: string | undefined, what: string): Uint8Array {
  if (s === undefined) throw new AecpError("AECP_KEY_INVALID", `${what} is missing from the key`);
  const b = Buffer.from(s, "base64url");
  if (b.length !== 32) throw new AecpError("AECP_KEY_INVALID", `${what} must be 32 bytes`);
  return new Uint8Array(b);
}

function asEd25519(k: KeyObject, label: string): void {
  if (k.asymmetricKeyType !== "ed25519") {
    throw new AecpError("AECP_KEY_INVALID", `${label} is a ${k.asymmetricKeyType ?? "unknown"} key; AECP signs with Ed25519`);
  }
}

export function generateKeyPairPem(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privatePem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
  };
}

export function parsePrivateKeyPem(pem: string, label = "private key"): PrivateKey {
  let k: KeyObject;
  try {
    k = createPrivateKey({ key: pem, format: "pem" });
  } catch (cause) {
    throw new AecpError("AECP_KEY_INVALID", `${label} is not a PKCS#8 PEM private key`, { cause });
  }
  asEd25519(k, label);
  const jwk = k.export({ format: "jwk" });
  const seed = b64url(jwk.d, "private scalar");
  const publicKey = b64url(jwk.x, "public point");
  return { seed, publicKey, keyId: keyIdOf(publicKey) };
}

export function parsePublicKeyPem(pem: string, label = "public key"): PublicKey {
  // node:crypto would derive a public key from a private PEM; refuse instead,
  // so a private key never ends up distributed as a trust anchor.
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    throw new AecpError("AECP_KEY_INVALID", `${label} is a private key; pass the public key (aecp.pub)`);
  }
  let k: KeyObject;
  try {
    k = createPublicKey({ key: pem, format: "pem" });
  } catch (cause) {
    throw new AecpError("AECP_KEY_INVALID", `${label} is not an SPKI PEM public key`, { cause });
  }
  asEd25519(k, label);
  const publicKey = b64url(k.export({ format: "jwk" }).x, "public point");
  return { publicKey, keyId: keyIdOf(publicKey) };
}

export function sign(message: Uint8Array, key: PrivateKey): Uint8Array {
  return ed.sign(message, key.seed);
}

/** Native key objects by raw public key (base64url); trusted keys are few, so this stays small. */
const nativeKeys = new Map<string, KeyObject>();
const NATIVE_KEYS_MAX = 256;

function nativeKeyOf(publicKey: Uint8Array): KeyObject {
  const x = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString("base64url");
  let k = nativeKeys.get(x);
  if (k === undefined) {
    if (nativeKeys.size >= NATIVE_KEYS_MAX) nativeKeys.clear();
    k = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x }, format: "jwk" });
    nativeKeys.set(x, k);
  }
  return k;
}

/** RFC 8032 Ed25519 verification (native); false for a bad signature and for malformed signature or key bytes. */
export function verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  try {
    return nativeVerify(null, message, nativeKeyOf(publicKey), signature);
  } catch {
    return false; // a public key that is not a curve point
  }
}

/** A set of trusted public keys, by key id (several at once for rotation). */
export class TrustedKeys {
  private readonly byId = new Map<string, PublicKey>();

  constructor(keys: Iterable<PublicKey> = []) {
    for (const k of keys) this.byId.set(k.keyId, k);
  }

  static fromPems(pems: Iterable<string>): TrustedKeys {
    return new TrustedKeys([...pems].map((p, i) => parsePublicKeyPem(p, `trusted key #${i + 1}`)));
  }

  get(keyId: string): PublicKey | undefined {
    return this.byId.get(keyId);
  }

  get size(): number {
    return this.byId.size;
  }

  ids(): string[] {
    return [...this.byId.keys()].sort();
  }
}
