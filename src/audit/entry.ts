// Audit entries: what a caller appends, the exact bytes that are hashed into
// the Merkle tree, and what a read returns.
//
// Entry bytes (the leaf) = RFC 8785 canonical JSON (UTF-8) of
//   {"at":"<ISO-8601 UTC>","body":<body>,"kind":"<kind>","subject":<string|null>,"v":1}
// so kind, subject and the timestamp are covered by the hash as well as the
// body; the columns that repeat them beside the bytes are for humans and SQL
// filters, and `aecp audit verify` checks that they agree with the bytes.
// The timestamp is a claim for humans: the order of the log is the index.

import canonicalizeModule from "canonicalize";
import { AecpError } from "../common/index.js";

// canonicalize is CommonJS (`module.exports = fn`) with an ESM-style d.ts;
// under NodeNext the default import is the function at run time.
const canonicalize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

/** Entry format version inside the hashed bytes. */
export const ENTRY_VERSION = 1;

/** What a caller appends. `body` is any JSON value (objects, arrays, strings, finite numbers, booleans, null). */
export interface AuditEntryInput {
  /** What happened, e.g. `execution.transition`; 1-128 of [A-Za-z0-9_.:/-]. */
  kind: string;
  /** What it happened to (an execution id), or null; at most 256 characters. */
  subject: string | null;
  body: unknown;
}

/** One entry as read back from the log. */
export interface AuditEntry {
  /** Position in the log, 0-based: the sequence. */
  readonly index: number;
  readonly kind: string;
  readonly subject: string | null;
  /** ISO-8601 UTC time the entry was appended (a claim, not the order). */
  readonly createdAt: string;
  readonly body: unknown;
  /** The exact hashed bytes. */
  readonly bytes: Uint8Array;
  /** The stored leaf hash, SHA-256(0x00 || bytes) when intact. */
  readonly leafHash: Uint8Array;
  /** The stored interior nodes this entry completed, level 1 upward (see merkle.ts `completingLeaf`). */
  readonly nodes: readonly Uint8Array[];
  /** The stored hash column as is: leaf hash, then the nodes (32 bytes each). */
  readonly hashes: Uint8Array;
}

const KIND = /^[A-Za-z0-9_.:/-]{1,128}$/;
export const MAX_SUBJECT_CHARS = 256;

export function validKind(kind: unknown): kind is string {
  return typeof kind === "string" && KIND.test(kind);
}

export function validSubject(subject: unknown): subject is string | null {
  return subject === null || (typeof subject === "string" && subject.length > 0 && subject.length <= MAX_SUBJECT_CHARS);
}

/**
 * Encodes one entry to its hashed bytes. Throws AECP_AUDIT_ENTRY_INVALID for
 * a bad kind or subject, a body that is not JSON, or more than `maxBytes`.
 */
export function encodeEntry(input: AuditEntryInput, at: string, maxBytes: number): Uint8Array {
  if (input === null || typeof input !== "object") throw new AecpError("AECP_AUDIT_ENTRY_INVALID", "an audit entry must be an object {kind, subject, body}");
  if (!validKind(input.kind)) throw new AecpError("AECP_AUDIT_ENTRY_INVALID", `audit entry kind must be 1-128 characters of [A-Za-z0-9_.:/-], not ${JSON.stringify(String(input.kind)).slice(0, 140)}`);
  if (!validSubject(input.subject)) throw new AecpError("AECP_AUDIT_ENTRY_INVALID", `audit entry subject must be null or a string of 1-${MAX_SUBJECT_CHARS} characters`);
  if (input.body === undefined) throw new AecpError("AECP_AUDIT_ENTRY_INVALID", `audit entry body (kind \`${input.kind}\`) is missing; use null for none`);
  let text: string | undefined;
  try {
    text = canonicalize({ v: ENTRY_VERSION, kind: input.kind, subject: input.subject, at, body: input.body });
  } catch (cause) {
    throw new AecpError("AECP_AUDIT_ENTRY_INVALID", `audit entry body (kind \`${input.kind}\`) is not JSON: ${(cause as Error).message}`, { cause });
  }
  if (text === undefined) throw new AecpError("AECP_AUDIT_ENTRY_INVALID", `audit entry body (kind \`${input.kind}\`) is not JSON`);
  const bytes = new Uint8Array(Buffer.from(text, "utf8"));
  if (bytes.length > maxBytes) throw new AecpError("AECP_AUDIT_ENTRY_INVALID", `audit entry (kind \`${input.kind}\`) is ${bytes.length} bytes; the limit is ${maxBytes}`);
  return bytes;
}

export interface DecodedEntry {
  kind: string;
  subject: string | null;
  at: string;
  body: unknown;
}

/**
 * Decodes hashed entry bytes; returns a reason string instead of throwing
 * (verify reports it against the entry): not UTF-8 JSON, not canonical, or
 * not the entry shape.
 */
export function decodeEntry(bytes: Uint8Array): DecodedEntry | string {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return "the stored bytes are not valid UTF-8";
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return "the stored bytes are not JSON";
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) return "the stored bytes are not a JSON object";
  const o = v as Record<string, unknown>;
  if (o["v"] !== ENTRY_VERSION) return `the stored entry has format version ${JSON.stringify(o["v"])}, expected ${ENTRY_VERSION}`;
  if (!validKind(o["kind"])) return "the stored entry has no valid kind";
  if (!validSubject(o["subject"])) return "the stored entry has no valid subject";
  if (typeof o["at"] !== "string") return "the stored entry has no timestamp";
  if (!("body" in o)) return "the stored entry has no body";
  if (Object.keys(o).length !== 5) return "the stored entry has unexpected fields";
  if (canonicalize(v) !== text) return "the stored bytes are not RFC 8785 canonical JSON";
  return { kind: o["kind"], subject: o["subject"], at: o["at"], body: o["body"] };
}

/** Body of stored bytes that were written by encodeEntry (reads trust the store; verify does not). */
export function bodyOf(bytes: Uint8Array): unknown {
  try {
    return (JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8")) as { body?: unknown }).body ?? null;
  } catch {
    return null;
  }
}

/** An entry read from a store; `body` is parsed from the bytes on first use (verify never needs it). */
export class StoredEntry implements AuditEntry {
  private parsed: { body: unknown } | undefined;
  /**
   * @param hashes the stored hash column: the leaf hash, then the interior
   *   nodes this entry completed (level 1 upward), 32 bytes each
   */
  constructor(
    readonly index: number,
    readonly kind: string,
    readonly subject: string | null,
    readonly createdAt: string,
    readonly bytes: Uint8Array,
    readonly hashes: Uint8Array,
  ) {}
  get body(): unknown {
    this.parsed ??= { body: bodyOf(this.bytes) };
    return this.parsed.body;
  }
  get leafHash(): Uint8Array {
    return this.hashes.subarray(0, 32);
  }
  get nodes(): Uint8Array[] {
    return splitNodes(this.hashes.subarray(32));
  }
}

/**
 * The bytes every entry with these columns starts and ends with: canonical
 * JSON sorts the keys, so the body sits between `{"at":…,"body":` and
 * `,"kind":…,"subject":…,"v":1}`. Verify compares these instead of parsing
 * every entry (the hash already proves the bytes are the ones appended).
 */
export function entryFraming(kind: string, subject: string | null, at: string): { prefix: Buffer; suffix: Buffer } {
  return {
    prefix: Buffer.from(`{"at":${JSON.stringify(at)},"body":`, "utf8"),
    suffix: Buffer.from(`,"kind":${JSON.stringify(kind)},"subject":${JSON.stringify(subject)},"v":${ENTRY_VERSION}}`, "utf8"),
  };
}

const hex = (h: Uint8Array): string => Buffer.from(h.buffer, h.byteOffset, h.byteLength).toString("hex");

/** The entry as JSON for the HTTP API and the CLI (bytes base64, hashes hex). */
export function entryJson(e: AuditEntry): Record<string, unknown> {
  return {
    index: e.index,
    kind: e.kind,
    subject: e.subject,
    created_at: e.createdAt,
    leaf_hash: hex(e.leafHash),
    nodes: e.nodes.map(hex),
    bytes: Buffer.from(e.bytes.buffer, e.bytes.byteOffset, e.bytes.byteLength).toString("base64"),
    body: e.body,
  };
}

/** Splits a stored node list (concatenated 32-byte hashes; a damaged tail stays visible as a short item). */
export function splitNodes(blob: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let o = 0; o < blob.length; o += 32) out.push(blob.subarray(o, Math.min(o + 32, blob.length)));
  return out;
}
