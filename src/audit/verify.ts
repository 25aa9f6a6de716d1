// Offline verification of a whole audit log (`aecp audit verify`): streams
// every entry in index order and recomputes, from the stored bytes alone,
//   - that the bytes are a canonical entry whose kind/subject/time agree with
//     the columns beside them,
//   - the leaf hash, and every interior node the entry completed, against the
//     stored ones (so a changed byte is named at its entry),
//   - the root at every checkpoint's size against the signed root, each
//     checkpoint's Ed25519 signature (with the trusted keys), and a
//     consistency proof served by the store between successive checkpoints,
//   - the stored head (size and frontier root) against the recomputation.
// It stops at the first problem and reports it with the entry's index, kind
// and subject. Memory is O(page + log n); time is O(n).

import type { TrustedKeys } from "../bundle/index.js";
import { AecpError } from "../common/index.js";
import { checkpointSignatureProblem, type Checkpoint } from "./checkpoint.js";
import { decodeEntry, entryFraming, type AuditEntry } from "./entry.js";
import { equalHashes, Frontier, HASH_BYTES, leafHash, toHex, verifyConsistency } from "./merkle.js";
import type { AuditReader } from "./reader.js";

export interface VerifyProblem {
  /** Index of the first bad entry; undefined for a problem that is not one entry's. */
  index?: number;
  kind?: string;
  subject?: string | null;
  /** Size of the checkpoint involved, if any. */
  checkpointSize?: number;
  /** What differs, for humans. */
  what: string;
}

export interface VerifyReport {
  ok: boolean;
  /** Entries recomputed. */
  entries: number;
  /** Checkpoints whose root (and signature, with trusted keys) verified. */
  checkpoints: number;
  /** False when no trusted keys were given: roots were checked, signatures were not. */
  signaturesChecked: boolean;
  /** The last verified checkpoint. */
  latest: Checkpoint | undefined;
  problem: VerifyProblem | undefined;
}

export interface VerifyOptions {
  /** Keys that may sign checkpoints; without them signatures are not checked. */
  trusted?: TrustedKeys;
  /** Entries requested per read. Default 1,000 (the stores cap it at their maxPageEntries). */
  pageEntries?: number;
  /**
   * Also parse every entry and check it is RFC 8785 canonical JSON (slower).
   * Default false: the bytes are checked against their columns (kind,
   * subject, time) by their canonical framing and proven by the hashes.
   */
  strict?: boolean;
  /** Called after each page with the number of entries verified so far. */
  onProgress?: (entries: number) => void;
}

/** Streams the checkpoints of a log in ascending size order, a page at a time. */
async function* checkpointStream(reader: AuditReader): AsyncGenerator<Checkpoint> {
  let after = -1;
  for (;;) {
    const page = await reader.checkpoints(after);
    if (page.length === 0) return;
    for (const cp of page) {
      if (cp.size <= after) throw new AecpError("AECP_AUDIT_CORRUPT", `the store returned checkpoints out of order at size ${cp.size}`);
      yield cp;
      after = cp.size;
    }
  }
}

/** True when the 32 bytes of `h` equal those of `column` at `offset` (no views allocated). */
function equalAt(h: Uint8Array, column: Uint8Array, offset: number): boolean {
  if (column.length < offset + HASH_BYTES) return false;
  for (let i = 0; i < HASH_BYTES; i++) if (h[i] !== column[offset + i]) return false;
  return true;
}

/** True when `bytes` starts with `prefix` and ends with `suffix` (not overlapping). */
function framed(bytes: Uint8Array, prefix: Buffer, suffix: Buffer): boolean {
  if (bytes.length < prefix.length + suffix.length) return false;
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return prefix.equals(b.subarray(0, prefix.length)) && suffix.equals(b.subarray(b.length - suffix.length));
}

const describeEntry = (e: AuditEntry): string => `entry ${e.index} (kind \`${e.kind}\`, subject ${e.subject === null ? "none" : `\`${e.subject}\``})`;

/** Verifies the whole log; never throws for tampering (reports it), throws for I/O (the reader's codes). */
export async function verifyAuditLog(reader: AuditReader, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const trusted = opts.trusted && opts.trusted.size > 0 ? opts.trusted : undefined;
  const page = opts.pageEntries ?? 1000;
  const report: VerifyReport = { ok: false, entries: 0, checkpoints: 0, signaturesChecked: trusted !== undefined, latest: undefined, problem: undefined };
  const fail = (problem: VerifyProblem): VerifyReport => ({ ...report, ok: false, problem });
  // A damaged head is reported after the entries (they name a more precise problem first).
  const readHead = (): Promise<{ size: number; root: Uint8Array } | AecpError> =>
    reader.head().catch((e: unknown) => {
      if (e instanceof AecpError && e.code === "AECP_AUDIT_CORRUPT") return e;
      throw e;
    });
  // INVARIANT: entries below the head read here are committed and never
  // change, so a live log can be verified while it grows: verify up to this
  // head, and past it only as far as a checkpoint requires.
  let head = await readHead();
  let limit = head instanceof AecpError ? Number.MAX_SAFE_INTEGER : head.size;
  const frontier = Frontier.empty();
  const cps = checkpointStream(reader);
  let next: Checkpoint | undefined;
  let prev: Checkpoint | undefined;

  const advance = async (): Promise<void> => {
    const r = await cps.next();
    next = r.done ? undefined : r.value;
  };

  /** Checks every checkpoint at the current size; returns a problem or undefined. */
  const checkCheckpoints = async (): Promise<VerifyProblem | undefined> => {
    while (next && next.size === frontier.size) {
      const cp = next;
      const root = frontier.root();
      if (!equalHashes(root, cp.root)) {
        const from = prev?.size ?? 0;
        return {
          index: from,
          checkpointSize: cp.size,
          what:
            `the checkpoint at size ${cp.size} (signed ${cp.time}) has root ${toHex(cp.root)}, but the entries recompute to ${toHex(root)}: ` +
            `entries ${from}..${cp.size - 1} were rewritten consistently (leaf and node hashes too) after that checkpoint was signed`,
        };
      }
      if (trusted) {
        const sig = checkpointSignatureProblem(cp, trusted);
        if (sig) return { checkpointSize: cp.size, what: `the checkpoint at size ${cp.size}: ${sig}` };
      }
      if (prev && prev.size > 0) {
        const proof = await reader.consistencyProof(prev.size, cp.size);
        if (!verifyConsistency(prev.size, cp.size, prev.root, cp.root, proof)) {
          return { checkpointSize: cp.size, what: `the consistency proof served from checkpoint size ${prev.size} to ${cp.size} does not verify (stored interior nodes differ)` };
        }
      }
      prev = cp;
      report.latest = cp;
      report.checkpoints++;
      await advance();
    }
    if (next && next.size < frontier.size) return { checkpointSize: next.size, what: `checkpoint sizes are out of order at ${next.size}` };
    return undefined;
  };

  // Consecutive entries usually share their time (one append) and often kind
  // and subject: reuse the framing Buffers instead of rebuilding them.
  let lastAt: string | undefined;
  let lastKind: string | undefined;
  let lastSubject: string | null | undefined;
  let prefix: Buffer = Buffer.alloc(0);
  let suffix: Buffer = Buffer.alloc(0);
  const framingOf = (e: AuditEntry): { prefix: Buffer; suffix: Buffer } => {
    if (e.createdAt !== lastAt || e.kind !== lastKind || e.subject !== lastSubject) {
      const f = entryFraming(e.kind, e.subject, e.createdAt);
      if (e.createdAt !== lastAt) prefix = f.prefix;
      if (e.kind !== lastKind || e.subject !== lastSubject) suffix = f.suffix;
      [lastAt, lastKind, lastSubject] = [e.createdAt, e.kind, e.subject];
    }
    return { prefix, suffix };
  };

  await advance();
  let problem = await checkCheckpoints();
  if (problem) return fail(problem);

  for (;;) {
    const from = frontier.size;
    if (from >= limit) {
      // A checkpoint beyond the head read at the start: the log grew since, or its tail was cut.
      if (!next || head instanceof AecpError) break;
      head = await readHead();
      if (head instanceof AecpError || head.size <= limit) break;
      limit = head.size;
    }
    const entries = await reader.entries(from, Math.min(from + page, limit));
    if (entries.length === 0) break;
    for (const e of entries) {
      const i = frontier.size;
      if (e.index !== i) return fail({ index: i, what: `entry ${i} is missing (the next stored entry is ${e.index})` });
      const framing = opts.strict ? undefined : framingOf(e);
      if (!framing || !framed(e.bytes, framing.prefix, framing.suffix)) {
        // strict mode, or the cheap check failed: the full decoder says what is wrong
        const decoded = decodeEntry(e.bytes);
        if (typeof decoded === "string") return fail({ index: i, kind: e.kind, subject: e.subject, what: `${describeEntry(e)}: ${decoded}` });
        if (decoded.kind !== e.kind || decoded.subject !== e.subject || decoded.at !== e.createdAt) {
          const col = decoded.kind !== e.kind ? "kind" : decoded.subject !== e.subject ? "subject" : "created_at";
          const [stored, hashed] = col === "kind" ? [e.kind, decoded.kind] : col === "subject" ? [e.subject, decoded.subject] : [e.createdAt, decoded.at];
          return fail({ index: i, kind: decoded.kind, subject: decoded.subject, what: `${describeEntry(e)}: the ${col} column says ${JSON.stringify(stored)} but the hashed bytes say ${JSON.stringify(hashed)}` });
        }
        if (framing) return fail({ index: i, kind: e.kind, subject: e.subject, what: `${describeEntry(e)}: the stored bytes are not framed as an entry with these columns` });
      }
      const leaf = leafHash(e.bytes);
      const stored = e.hashes;
      if (!equalAt(leaf, stored, 0)) {
        return fail({ index: i, kind: e.kind, subject: e.subject, what: `${describeEntry(e)}: the stored bytes hash to ${toHex(leaf)} but the recorded leaf hash is ${toHex(e.leafHash)} (the bytes or the hash were changed)` });
      }
      const completed = frontier.push(leaf);
      if (stored.length !== HASH_BYTES * (1 + completed.length) || completed.some((h, k) => !equalAt(h, stored, HASH_BYTES * (k + 1)))) {
        const nodes = e.nodes;
        const k = completed.findIndex((h, j) => !nodes[j] || !equalHashes(h, nodes[j]!));
        const level = (k < 0 ? completed.length : k) + 1;
        // The node covers entries lo..i; each of them is self-consistent, so
        // one was changed together with its leaf hash: name the range's first.
        const lo = k < 0 ? i : i - 2 ** level + 1;
        const first = lo === i ? e : ((await reader.entries(lo, lo + 1))[0] ?? e);
        return fail({
          index: lo,
          kind: first.kind,
          subject: first.subject,
          what:
            k < 0
              ? `${describeEntry(e)}: ${nodes.length} interior nodes are recorded with it, ${completed.length} expected`
              : `entries ${lo}..${i}: their hashes no longer combine to the interior node (level ${level}) recorded with entry ${i} when it was appended: ` +
                `one of them was changed together with its leaf hash`,
        });
      }
      report.entries++;
      problem = await checkCheckpoints();
      if (problem) return fail(problem);
    }
    opts.onProgress?.(report.entries);
  }
  if (next) return fail({ checkpointSize: next.size, what: `a checkpoint was signed at size ${next.size}, but the log has only ${frontier.size} entries (entries were removed)` });
  if (head instanceof AecpError) return fail({ what: head.message });
  if (head.size !== frontier.size) return fail({ what: `the log head says ${head.size} entries, but ${frontier.size} contiguous entries are stored` });
  if (!equalHashes(head.root, frontier.root())) return fail({ what: `the stored head (frontier) has root ${toHex(head.root)}, but the entries recompute to ${toHex(frontier.root())}` });
  return { ...report, ok: true };
}
