// The Merkle tree of the audit log (RFC 6962 §2.1 / RFC 9162 §2.1), pure:
// domain-separated hashes, the tree shape for any size, the subtree ranges an
// inclusion or consistency proof is made of, the proof verifiers, and a
// compact frontier for O(log n) appends.
//
//   leaf hash  = SHA-256(0x00 || entry bytes)
//   node hash  = SHA-256(0x01 || left || right)
//   MTH(D[n])  = split at k = the largest power of two < n:
//                HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n]))
//
// Storage is not this module's business: a proof is *planned* here as a list
// of ranges, each range is resolved to the perfect subtrees ("nodes") that
// tile it, the store fetches those node hashes however it likes (one SQL
// query), and `foldNodes` combines them. A node (level L, index j) is the root
// of the perfect subtree over leaves [j·2^L, (j+1)·2^L); level 0 is a leaf.

import { createHash } from "node:crypto";
import { AecpError } from "../common/index.js";

export const HASH_BYTES = 32;
const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

/** SHA-256 of the empty string: the root of the empty tree (RFC 9162 §2.1.1). */
export const EMPTY_ROOT: Uint8Array = new Uint8Array(createHash("sha256").digest());

// Both return the digest Buffer itself (a Uint8Array): no copy, since
// verifying a million-entry log allocates two of these per entry.
export function leafHash(entryBytes: Uint8Array): Uint8Array {
  return createHash("sha256").update(LEAF_PREFIX).update(entryBytes).digest();
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return createHash("sha256").update(NODE_PREFIX).update(left).update(right).digest();
}

export function equalHashes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export const toHex = (h: Uint8Array): string => Buffer.from(h.buffer, h.byteOffset, h.byteLength).toString("hex");

/** Parses a 64-digit hex hash; throws AECP_AUDIT_PROOF_INVALID naming `what` otherwise. */
export function fromHex(s: unknown, what: string): Uint8Array {
  if (typeof s !== "string" || !/^[0-9a-f]{64}$/.test(s)) throw new AecpError("AECP_AUDIT_PROOF_INVALID", `${what} must be 64 lower-case hex digits`);
  return new Uint8Array(Buffer.from(s, "hex"));
}

/** Largest power of two strictly less than n (n >= 2). */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Largest tree size the arithmetic here handles exactly (2^52). */
export const MAX_TREE_SIZE = 2 ** 52;

export interface NodeRef {
  readonly level: number;
  readonly index: number;
}

/** A half-open leaf range [lo, hi) whose MTH a proof needs. */
export type LeafRange = readonly [lo: number, hi: number];

/**
 * The perfect subtrees tiling [lo, hi), left to right (largest first). Valid
 * for the ranges of a Merkle tree: lo is a multiple of the smallest power of
 * two >= hi - lo. MTH(D[lo:hi]) is the right fold of their hashes.
 */
export function rangeNodes(lo: number, hi: number): NodeRef[] {
  const out: NodeRef[] = [];
  let start = lo;
  while (start < hi) {
    let size = 1;
    let level = 0;
    while (size * 2 <= hi - start && start % (size * 2) === 0) {
      size *= 2;
      level++;
    }
    out.push({ level, index: start / size });
    start += size;
  }
  return out;
}

/** MTH of a range from the hashes of its `rangeNodes`, in the same order. */
export function foldNodes(hashes: readonly Uint8Array[]): Uint8Array {
  if (hashes.length === 0) return EMPTY_ROOT;
  let acc = hashes[hashes.length - 1]!;
  for (let i = hashes.length - 2; i >= 0; i--) acc = nodeHash(hashes[i]!, acc);
  return acc;
}

function checkSize(what: string, v: number, min: number): void {
  if (!Number.isSafeInteger(v) || v < min || v > MAX_TREE_SIZE) throw new AecpError("AECP_AUDIT_RANGE_INVALID", `${what} must be a whole number >= ${min}, not ${v}`);
}

/**
 * Ranges whose MTHs form the inclusion proof of leaf `index` in the tree of
 * `size` leaves, in proof order (RFC 9162 §2.1.3.1: nearest sibling first).
 * Throws AECP_AUDIT_RANGE_INVALID unless 0 <= index < size.
 */
export function inclusionRanges(index: number, size: number): LeafRange[] {
  checkSize("tree size", size, 1);
  checkSize("leaf index", index, 0);
  if (index >= size) throw new AecpError("AECP_AUDIT_RANGE_INVALID", `leaf index ${index} is not in a tree of ${size} entries`);
  const out: LeafRange[] = [];
  // PATH(m, D[lo:hi]) unrolled from the top; collected top-down, returned bottom-up.
  let lo = 0;
  let hi = size;
  while (hi - lo > 1) {
    const k = splitPoint(hi - lo);
    if (index < lo + k) {
      out.push([lo + k, hi]);
      hi = lo + k;
    } else {
      out.push([lo, lo + k]);
      lo += k;
    }
  }
  return out.reverse();
}

/**
 * Ranges whose MTHs form the consistency proof from `first` to `second`
 * leaves (RFC 9162 §2.1.4.1), in proof order. Empty when first == second or
 * first == 0. Throws AECP_AUDIT_RANGE_INVALID unless 0 <= first <= second.
 */
export function consistencyRanges(first: number, second: number): LeafRange[] {
  checkSize("first tree size", first, 0);
  checkSize("second tree size", second, 0);
  if (first > second) throw new AecpError("AECP_AUDIT_RANGE_INVALID", `first tree size ${first} is larger than the second ${second}`);
  if (first === 0 || first === second) return [];
  const out: LeafRange[] = [];
  // SUBPROOF(m, D[lo:hi], b) unrolled; collected top-down, returned bottom-up.
  let lo = 0;
  let hi = second;
  let m = first;
  let b = true;
  while (m !== hi - lo) {
    const k = splitPoint(hi - lo);
    if (m <= k) {
      out.push([lo + k, hi]);
      hi = lo + k;
    } else {
      out.push([lo, lo + k]);
      lo += k;
      m -= k;
      b = false;
    }
  }
  if (!b) out.push([lo, hi]);
  return out.reverse();
}

const isOdd = (n: number): boolean => n % 2 === 1;

/**
 * RFC 9162 §2.1.3.2: true when `proof` proves that `leaf` (a leaf hash) is
 * entry `index` of the tree of `size` leaves with root `root`. Never throws.
 */
export function verifyInclusion(leaf: Uint8Array, index: number, size: number, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (p.length !== HASH_BYTES || sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalHashes(r, root);
}

/**
 * RFC 9162 §2.1.4.2: true when `proof` proves that the tree of `first`
 * leaves with root `firstRoot` is a prefix of the tree of `second` leaves
 * with root `secondRoot`. Equal sizes need an empty proof and equal roots; a
 * first size of 0 is consistent with anything (empty proof). Never throws.
 */
export function verifyConsistency(first: number, second: number, firstRoot: Uint8Array, secondRoot: Uint8Array, proof: readonly Uint8Array[]): boolean {
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(second) || first < 0 || first > second) return false;
  if (proof.some((p) => p.length !== HASH_BYTES)) return false;
  if (first === second) return proof.length === 0 && equalHashes(firstRoot, secondRoot);
  if (first === 0) return proof.length === 0;
  if (proof.length === 0) return false;
  const path = isPowerOfTwo(first) ? [firstRoot, ...proof] : [...proof];
  let fn = first - 1;
  let sn = second - 1;
  while (isOdd(fn)) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalHashes(fr, firstRoot) && equalHashes(sr, secondRoot);
}

function isPowerOfTwo(n: number): boolean {
  let k = 1;
  while (k < n) k *= 2;
  return k === n;
}

/**
 * The compact frontier of a tree: the roots of the perfect subtrees that tile
 * [0, size), largest first (one per set bit of size). Appending a leaf merges
 * equal-sized subtrees (a binary counter), so append is O(log n) hashes
 * amortized O(1), and the root is the right fold of the frontier.
 */
export class Frontier {
  private constructor(
    private sizeValue: number,
    private readonly stack: Uint8Array[],
  ) {}

  static empty(): Frontier {
    return new Frontier(0, []);
  }

  /**
   * Restores a frontier from its serialized hashes (`bytes()`); throws
   * AECP_AUDIT_CORRUPT when the byte count does not match `size`.
   */
  static fromBytes(size: number, bytes: Uint8Array): Frontier {
    const expected = popcount(size) * HASH_BYTES;
    if (bytes.length !== expected) throw new AecpError("AECP_AUDIT_CORRUPT", `the stored frontier of a ${size}-entry log has ${bytes.length} bytes, expected ${expected}`);
    const stack: Uint8Array[] = [];
    for (let o = 0; o < bytes.length; o += HASH_BYTES) stack.push(bytes.slice(o, o + HASH_BYTES));
    return new Frontier(size, stack);
  }

  get size(): number {
    return this.sizeValue;
  }

  /**
   * Appends one leaf hash. Returns the interior nodes completed by this leaf,
   * level 1 upward (their level is their position + 1; the index of the node
   * at level L is floor(leafIndex / 2^L)).
   */
  push(leaf: Uint8Array): Uint8Array[] {
    const completed: Uint8Array[] = [];
    let h = leaf;
    let n = this.sizeValue;
    // INVARIANT: stack[i] (from the end) has the size of the i-th set bit of n, lowest first.
    while (isOdd(n)) {
      h = nodeHash(this.stack.pop()!, h);
      completed.push(h);
      n = Math.floor(n / 2);
    }
    this.stack.push(h);
    this.sizeValue++;
    return completed;
  }

  root(): Uint8Array {
    return foldNodes(this.stack);
  }

  bytes(): Uint8Array {
    return new Uint8Array(Buffer.concat(this.stack));
  }

  clone(): Frontier {
    return new Frontier(this.sizeValue, [...this.stack]);
  }
}

function popcount(n: number): number {
  let c = 0;
  while (n > 0) {
    if (isOdd(n)) c++;
    n = Math.floor(n / 2);
  }
  return c;
}

/**
 * Where a node is stored: every perfect subtree is completed by exactly one
 * leaf, the last one it covers. Its hash is kept with that entry: level 0 is
 * the entry's leaf hash, level L >= 1 is item L-1 of the entry's node list.
 */
export function completingLeaf(ref: NodeRef): number {
  return (ref.index + 1) * 2 ** ref.level - 1;
}
