// The audit log's Merkle tree against RFC 6962/9162: the published
// Certificate Transparency test vectors, and a brute-force cross-check
// against the RFC's recursive definitions (MTH, PATH, PROOF written straight
// from the text, on slices) for every tree size up to 70, every leaf and every
// pair of sizes; plus negative cases for the verifiers.

import { describe, expect, it } from "vitest";
import {
  consistencyRanges,
  EMPTY_ROOT,
  foldNodes,
  Frontier,
  inclusionRanges,
  leafHash,
  nodeHash,
  rangeNodes,
  splitPoint,
  toHex,
  verifyConsistency,
  verifyInclusion,
  type LeafRange,
} from "../src/audit/index.js";

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "hex"));

// RFC 6962 test vectors (certificate-transparency merkle_tree_test): 8 inputs,
// the root of every prefix, and two inclusion proofs in the 8-leaf tree.
const CT_INPUTS = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"].map(hex);
const CT_ROOTS = [
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];
const CT_INCLUSION = [
  { index: 0, size: 8, proof: ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"] },
  { index: 5, size: 8, proof: ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b", "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"] },
];

// --- the RFC's definitions, verbatim, on slices of leaf hashes --------------
function mth(d: readonly Uint8Array[]): Uint8Array {
  if (d.length === 0) return EMPTY_ROOT;
  if (d.length === 1) return d[0]!;
  const k = splitPoint(d.length);
  return nodeHash(mth(d.slice(0, k)), mth(d.slice(k)));
}
function path(m: number, d: readonly Uint8Array[]): Uint8Array[] {
  if (d.length <= 1) return [];
  const k = splitPoint(d.length);
  return m < k ? [...path(m, d.slice(0, k)), mth(d.slice(k))] : [...path(m - k, d.slice(k)), mth(d.slice(0, k))];
}
function subproof(m: number, d: readonly Uint8Array[], b: boolean): Uint8Array[] {
  if (m === d.length) return b ? [] : [mth(d)];
  const k = splitPoint(d.length);
  return m <= k ? [...subproof(m, d.slice(0, k), b), mth(d.slice(k))] : [...subproof(m - k, d.slice(k), false), mth(d.slice(0, k))];
}
const proof = (m: number, d: readonly Uint8Array[]): Uint8Array[] => (m === 0 || m === d.length ? [] : subproof(m, d, true));

/** Resolves proof ranges against an in-memory list of leaf hashes the way the stores do: through perfect-subtree nodes. */
function resolve(ranges: readonly LeafRange[], leaves: readonly Uint8Array[]): Uint8Array[] {
  return ranges.map(([lo, hi]) => foldNodes(rangeNodes(lo, hi).map((n) => mth(leaves.slice(n.index * 2 ** n.level, (n.index + 1) * 2 ** n.level)))));
}

const LEAVES = Array.from({ length: 70 }, (_, i) => leafHash(new Uint8Array(Buffer.from(`entry ${i}`))));
const hexes = (l: readonly Uint8Array[]): string[] => l.map(toHex);

describe("audit Merkle tree: RFC 6962 test vectors", () => {
  const leaves = CT_INPUTS.map(leafHash);

  it("has the empty root SHA-256('')", () => {
    expect(toHex(EMPTY_ROOT)).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(toHex(Frontier.empty().root())).toBe(toHex(EMPTY_ROOT));
  });

  it("gives the published root for every size 1..8 (frontier and node ranges)", () => {
    const f = Frontier.empty();
    for (let n = 1; n <= 8; n++) {
      f.push(leaves[n - 1]!);
      expect(toHex(f.root()), `size ${n}`).toBe(CT_ROOTS[n - 1]);
      expect(hexes(resolve([[0, n]], leaves))).toEqual([CT_ROOTS[n - 1]]);
    }
  });

  it("gives the published inclusion proofs and verifies them", () => {
    for (const v of CT_INCLUSION) {
      expect(hexes(resolve(inclusionRanges(v.index, v.size), leaves))).toEqual(v.proof);
      expect(verifyInclusion(leaves[v.index]!, v.index, v.size, v.proof.map(hex), hex(CT_ROOTS[v.size - 1]!))).toBe(true);
    }
  });
});

describe("audit Merkle tree: brute force against the RFC definitions", () => {
  it("frontier roots equal MTH for every size 0..70, and completed nodes are the perfect subtrees", () => {
    const f = Frontier.empty();
    for (let n = 0; n < LEAVES.length; n++) {
      expect(toHex(f.root())).toBe(toHex(mth(LEAVES.slice(0, n))));
      const restored = Frontier.fromBytes(n, f.bytes());
      expect(toHex(restored.root())).toBe(toHex(f.root()));
      const completed = f.push(LEAVES[n]!);
      completed.forEach((h, i) => {
        const level = i + 1;
        const width = 2 ** level;
        const lo = Math.floor(n / width) * width;
        expect(lo + width - 1).toBe(n);
        expect(toHex(h)).toBe(toHex(mth(LEAVES.slice(lo, lo + width))));
      });
    }
  });

  it("inclusion proofs equal PATH(m, D[n]) and verify, for every leaf of every size 1..70", () => {
    for (let size = 1; size <= LEAVES.length; size++) {
      const d = LEAVES.slice(0, size);
      const root = mth(d);
      for (let i = 0; i < size; i++) {
        const p = resolve(inclusionRanges(i, size), LEAVES);
        expect(hexes(p)).toEqual(hexes(path(i, d)));
        expect(verifyInclusion(d[i]!, i, size, p, root)).toBe(true);
      }
    }
  });

  it("consistency proofs equal PROOF(m, D[n]) and verify, for every pair of sizes up to 70", () => {
    for (let second = 0; second <= LEAVES.length; second++) {
      const d = LEAVES.slice(0, second);
      const root2 = mth(d);
      for (let first = 0; first <= second; first++) {
        const p = resolve(consistencyRanges(first, second), LEAVES);
        expect(hexes(p)).toEqual(hexes(proof(first, d)));
        expect(verifyConsistency(first, second, mth(d.slice(0, first)), root2, p), `${first}->${second}`).toBe(true);
      }
    }
  });
});

describe("audit Merkle tree: verifiers reject what they must", () => {
  const size = 37;
  const d = LEAVES.slice(0, size);
  const root = mth(d);

  it("inclusion: wrong leaf, index, size, root, any flipped bit, a dropped or extra hash", () => {
    for (const i of [0, 1, 17, 31, 32, 36]) {
      const p = resolve(inclusionRanges(i, size), LEAVES);
      expect(verifyInclusion(d[(i + 1) % size]!, i, size, p, root)).toBe(false);
      expect(verifyInclusion(d[i]!, (i + 1) % size, size, p, root)).toBe(false);
      // (a size of 38 can accept a 37-size proof: the size is authenticated by the signed checkpoint, not the proof)
      expect(verifyInclusion(d[i]!, i, size * 2, p, root)).toBe(false);
      expect(verifyInclusion(d[i]!, i, size, p, mth(LEAVES.slice(0, size + 1)))).toBe(false);
      expect(verifyInclusion(d[i]!, i, size, p.slice(1), root)).toBe(false);
      expect(verifyInclusion(d[i]!, i, size, [...p, p[0]!], root)).toBe(false);
      for (let k = 0; k < p.length; k++) {
        const bad = p.map((h) => new Uint8Array(h));
        const h = bad[k]!;
        h[k % 32] = h[k % 32]! ^ (1 << (k % 8));
        expect(verifyInclusion(d[i]!, i, size, bad, root)).toBe(false);
      }
    }
    expect(verifyInclusion(d[0]!, -1, size, [], root)).toBe(false);
    expect(verifyInclusion(d[0]!, size, size, [], root)).toBe(false);
    expect(verifyInclusion(d[0]!, 0, 1, [], d[0]!)).toBe(true);
  });

  it("consistency: wrong roots, swapped sizes, flipped bits, truncated proofs", () => {
    for (const [m, n] of [[1, 37], [7, 37], [16, 37], [32, 37], [36, 37], [5, 8]] as const) {
      const r1 = mth(LEAVES.slice(0, m));
      const r2 = mth(LEAVES.slice(0, n));
      const p = resolve(consistencyRanges(m, n), LEAVES);
      expect(verifyConsistency(m, n, r1, r2, p)).toBe(true);
      expect(verifyConsistency(m, n, r2, r2, p)).toBe(false);
      expect(verifyConsistency(m, n, r1, r1, p)).toBe(false);
      expect(verifyConsistency(n, m, r2, r1, p)).toBe(false);
      expect(verifyConsistency(m, n, r1, r2, p.slice(0, -1))).toBe(false);
      expect(verifyConsistency(m, n, r1, r2, [])).toBe(false);
      for (let k = 0; k < p.length; k++) {
        const bad = p.map((h) => new Uint8Array(h));
        const h = bad[k]!;
        h[3] = h[3]! ^ 0x80;
        expect(verifyConsistency(m, n, r1, r2, bad)).toBe(false);
      }
    }
    expect(verifyConsistency(5, 5, root, root, [])).toBe(true);
    expect(verifyConsistency(5, 5, root, EMPTY_ROOT, [])).toBe(false);
  });

  it("proof planning rejects indices and sizes outside the tree with a code", () => {
    expect(() => inclusionRanges(5, 5)).toThrow(expect.objectContaining({ code: "AECP_AUDIT_RANGE_INVALID" }));
    expect(() => inclusionRanges(0, 0)).toThrow(expect.objectContaining({ code: "AECP_AUDIT_RANGE_INVALID" }));
    expect(() => consistencyRanges(6, 5)).toThrow(expect.objectContaining({ code: "AECP_AUDIT_RANGE_INVALID" }));
    expect(() => inclusionRanges(1.5, 5)).toThrow(expect.objectContaining({ code: "AECP_AUDIT_RANGE_INVALID" }));
    expect(() => Frontier.fromBytes(3, new Uint8Array(32))).toThrow(expect.objectContaining({ code: "AECP_AUDIT_CORRUPT" }));
  });
});
