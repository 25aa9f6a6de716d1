// Ed25519: @noble/ed25519 signs, node:crypto's native Ed25519 verifies
// (src/bundle/keys.ts). The two must agree: RFC 8032's test vectors, random
// keys and messages, tampered signatures, messages and keys, malformed bytes.

import { randomBytes } from "node:crypto";
import * as ed from "@noble/ed25519";
import { describe, expect, it } from "vitest";
import { generateKeyPairPem, keyIdOf, parsePrivateKeyPem, sign, verify } from "../src/bundle/index.js";

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "hex"));

// RFC 8032, 7.1 (Ed25519): TEST 1, TEST 2, TEST 3.
const VECTORS = [
  {
    seed: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    pub: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    msg: "",
    sig: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
  },
  {
    seed: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    pub: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    msg: "72",
    sig: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
  },
  {
    seed: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
    pub: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
    msg: "af82",
    sig: "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
  },
];

function flipBit(b: Uint8Array, bit: number): Uint8Array {
  const c = new Uint8Array(b);
  c[bit >> 3]! ^= 1 << (bit & 7);
  return c;
}

describe("Ed25519: noble signs, native verifies, and they agree", () => {
  it("RFC 8032 vectors: noble's signature is the RFC's, and both verifiers accept it", () => {
    for (const v of VECTORS) {
      const pub = hex(v.pub);
      const msg = hex(v.msg);
      expect(Buffer.from(ed.getPublicKey(hex(v.seed))).toString("hex")).toBe(v.pub);
      const sig = sign(msg, { seed: hex(v.seed), publicKey: pub, keyId: keyIdOf(pub) });
      expect(Buffer.from(sig).toString("hex")).toBe(v.sig);
      expect(verify(sig, msg, pub)).toBe(true);
      expect(ed.verify(sig, msg, pub)).toBe(true);
    }
  });

  it("random keys and messages: valid signatures verify; any flipped bit in signature, message or key is rejected by both", () => {
    for (let i = 0; i < 60; i++) {
      const key = parsePrivateKeyPem(generateKeyPairPem().privatePem);
      const msg = new Uint8Array(randomBytes(1 + (i * 37) % 300));
      const sig = sign(msg, key);
      expect(verify(sig, msg, key.publicKey)).toBe(true);
      expect(ed.verify(sig, msg, key.publicKey)).toBe(true);
      const badSig = flipBit(sig, (i * 53) % 512);
      const badMsg = flipBit(msg, (i * 29) % (msg.length * 8));
      const badKey = flipBit(key.publicKey, (i * 11) % 255);
      for (const [s, m, k] of [[badSig, msg, key.publicKey], [sig, badMsg, key.publicKey], [sig, msg, badKey]] as const) {
        expect(verify(s, m, k)).toBe(false);
        let noble: boolean;
        try {
          noble = ed.verify(s, m, k);
        } catch {
          noble = false;
        }
        expect(noble).toBe(false);
      }
    }
  });

  it("malformed bytes are a false, never a throw", () => {
    const key = parsePrivateKeyPem(generateKeyPairPem().privatePem);
    const msg = new Uint8Array([1, 2, 3]);
    const sig = sign(msg, key);
    expect(verify(sig.subarray(0, 63), msg, key.publicKey)).toBe(false);
    expect(verify(new Uint8Array(65), msg, key.publicKey)).toBe(false);
    expect(verify(sig, msg, key.publicKey.subarray(0, 31))).toBe(false);
    expect(verify(sig, msg, new Uint8Array(32).fill(0xff))).toBe(false); // not a curve point
    expect(verify(new Uint8Array(64), msg, key.publicKey)).toBe(false);
    // A key given as a view into a larger buffer is read at its offset.
    const padded = new Uint8Array(40);
    padded.set(key.publicKey, 5);
    expect(verify(sig, msg, padded.subarray(5, 37))).toBe(true);
  });
});
