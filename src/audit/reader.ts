// What every audit store offers readers (the HTTP routes, `aecp audit verify`,
// `aecp audit proof`, replay), and the store-independent half of proofs:
// turning the ranges a proof needs into stored node hashes.
//
// Node storage (see merkle.ts `completingLeaf`): the entry row of leaf i keeps
// its leaf hash and the hashes of the perfect subtrees leaf i completed, so a
// node is one primary-key lookup, and the root of any size or any proof needs
// at most O(log n) of them.

import { AecpError } from "../common/index.js";
import type { Checkpoint } from "./checkpoint.js";
import type { AuditEntry } from "./entry.js";
import { completingLeaf, foldNodes, HASH_BYTES, rangeNodes, type LeafRange, type NodeRef } from "./merkle.js";

/** Read side of an audit log: SqliteAuditLog, PgAuditLog and the HTTP client implement it. */
export interface AuditReader {
  /** Number of entries in the log and the root of all of them (from the stored frontier). */
  head(): Promise<{ size: number; root: Uint8Array }>;
  /** Entries [from, to), at most the page limit (fewer near the end); empty past the end. */
  entries(from: number, to: number): Promise<AuditEntry[]>;
  /** Entries whose subject is `subject`, by index, starting after `afterIndex` (default -1), at most the page limit. */
  entriesBySubject(subject: string, afterIndex?: number): Promise<AuditEntry[]>;
  /** The checkpoint with the largest size, or null when none was signed yet. */
  latestCheckpoint(): Promise<Checkpoint | null>;
  /** Checkpoints with size > afterSize, ascending by size, at most the page limit. */
  checkpoints(afterSize: number): Promise<Checkpoint[]>;
  /** Inclusion proof of entry `index` in the tree of `size` entries (RFC 9162 order). AECP_AUDIT_RANGE_INVALID outside the log. */
  inclusionProof(index: number, size: number): Promise<Uint8Array[]>;
  /** Consistency proof from `first` to `second` entries. AECP_AUDIT_RANGE_INVALID outside the log. */
  consistencyProof(first: number, second: number): Promise<Uint8Array[]>;
  /** Root hash of the tree of the first `size` entries. */
  rootAt(size: number): Promise<Uint8Array>;
}

/** The stored hash column of one entry row: leaf hash, then the nodes it completed, level 1 upward. */
export interface NodeRow {
  hashes: Uint8Array;
}

/** The hash of `ref` from the row of its completing leaf; AECP_AUDIT_CORRUPT when absent. */
export function nodeFromRow(ref: NodeRef, row: NodeRow | undefined): Uint8Array {
  const at = completingLeaf(ref);
  if (!row) throw new AecpError("AECP_AUDIT_CORRUPT", `audit entry ${at} is missing (needed for node level ${ref.level} index ${ref.index})`);
  const o = ref.level * HASH_BYTES;
  if (row.hashes.length < o + HASH_BYTES) throw new AecpError("AECP_AUDIT_CORRUPT", `audit entry ${at} does not hold node level ${ref.level} index ${ref.index}`);
  return row.hashes.subarray(o, o + HASH_BYTES);
}

/** Entry indices whose rows hold the nodes tiling `ranges` (deduplicated, ascending). */
export function rowsNeeded(ranges: readonly LeafRange[]): number[] {
  const set = new Set<number>();
  for (const [lo, hi] of ranges) for (const ref of rangeNodes(lo, hi)) set.add(completingLeaf(ref));
  return [...set].sort((a, b) => a - b);
}

/** The MTH of each range, from rows fetched by `rowsNeeded`. */
export function hashesOfRanges(ranges: readonly LeafRange[], rows: ReadonlyMap<number, NodeRow>): Uint8Array[] {
  return ranges.map(([lo, hi]) => foldNodes(rangeNodes(lo, hi).map((ref) => nodeFromRow(ref, rows.get(completingLeaf(ref))))));
}

export function checkInTree(what: string, value: number, size: number, inclusive: boolean): void {
  if (!Number.isSafeInteger(value) || value < 0 || (inclusive ? value > size : value >= size)) {
    throw new AecpError("AECP_AUDIT_RANGE_INVALID", `${what} ${value} is outside the log of ${size} entries`);
  }
}
