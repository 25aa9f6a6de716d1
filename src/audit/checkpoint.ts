// Signed checkpoints: a human-readable note, in the style of C2SP signed
// notes / transparency-log checkpoints, committing to the log's size and root
// hash, signed with Ed25519. Example:
//
//   aecp-audit
//   1024
//   3q2+7w...base64 root...=
//   time 2025-06-01T12:00:00.000Z
//   key 9f86d081884c7d659a2feaa0c55ad015
//
//   — 9f86d081884c7d659a2feaa0c55ad015 base64(64-byte Ed25519 signature)
//
// The signature covers the body: every line up to and including the newline
// before the blank line (UTF-8). Lines: origin, tree size (decimal), root hash
// (standard base64 of 32 bytes), `time <ISO-8601 UTC>` and `key <key id>`.

import { sign, verify, type PrivateKey, type TrustedKeys } from "../bundle/index.js";
import { AecpError } from "../common/index.js";
import { HASH_BYTES, MAX_TREE_SIZE, toHex } from "./merkle.js";

export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  readonly root: Uint8Array;
  /** ISO-8601 UTC time of signing (a claim; checkpoints are ordered by size). */
  readonly time: string;
  readonly keyId: string;
  readonly signature: Uint8Array;
  /** The full signed note text (body, blank line, signature line). */
  readonly note: string;
}

const SIG_DASH = "\u2014";

export function checkpointBody(origin: string, size: number, root: Uint8Array, time: string, keyId: string): string {
  return `${origin}\n${size}\n${Buffer.from(root).toString("base64")}\ntime ${time}\nkey ${keyId}\n`;
}

/** Signs a checkpoint for (size, root) with `key`. */
export function signCheckpoint(origin: string, size: number, root: Uint8Array, time: string, key: PrivateKey): Checkpoint {
  const body = checkpointBody(origin, size, root, time, key.keyId);
  const signature = sign(new Uint8Array(Buffer.from(body, "utf8")), key);
  const note = `${body}\n${SIG_DASH} ${key.keyId} ${Buffer.from(signature).toString("base64")}\n`;
  return Object.freeze({ origin, size, root: Uint8Array.from(root), time, keyId: key.keyId, signature, note });
}

function badNote(why: string): never {
  throw new AecpError("AECP_AUDIT_PROOF_INVALID", `checkpoint note is malformed: ${why}`);
}

/** Parses a signed note (does not verify the signature). Throws AECP_AUDIT_PROOF_INVALID. */
export function parseCheckpoint(note: unknown): Checkpoint {
  if (typeof note !== "string" || note.length > 4096) return badNote("not a text of at most 4096 characters");
  const split = note.indexOf("\n\n");
  if (split < 0) return badNote("no blank line before the signature");
  const body = note.slice(0, split + 1);
  const lines = body.slice(0, -1).split("\n");
  if (lines.length !== 5) return badNote(`the body has ${lines.length} lines, expected 5`);
  const [origin, sizeText, rootText, timeLine, keyLine] = lines as [string, string, string, string, string];
  if (!/^[\x21-\x7e]{1,128}$/.test(origin)) badNote("bad origin line");
  if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeText) || Number(sizeText) > MAX_TREE_SIZE) badNote("bad tree size line");
  const root = Buffer.from(rootText, "base64");
  if (root.length !== HASH_BYTES || root.toString("base64") !== rootText) badNote("bad root hash line");
  if (!timeLine.startsWith("time ") || Number.isNaN(Date.parse(timeLine.slice(5)))) badNote("bad time line");
  if (!/^key [0-9a-f]{32}$/.test(keyLine)) badNote("bad key line");
  const sigLine = note.slice(split + 2);
  const m = /^\u2014 ([0-9a-f]{32}) ([A-Za-z0-9+/]+={0,2})\n$/.exec(sigLine);
  if (!m) return badNote("bad signature line");
  if (m[1] !== keyLine.slice(4)) badNote("the signature line names a different key than the body");
  const signature = Buffer.from(m[2]!, "base64");
  if (signature.length !== 64) badNote("the signature is not 64 bytes");
  return Object.freeze({
    origin,
    size: Number(sizeText),
    root: new Uint8Array(root),
    time: timeLine.slice(5),
    keyId: keyLine.slice(4),
    signature: new Uint8Array(signature),
    note,
  });
}

/** Null when the checkpoint's signature verifies with a trusted key, else the reason. */
export function checkpointSignatureProblem(cp: Checkpoint, trusted: TrustedKeys): string | null {
  const key = trusted.get(cp.keyId);
  if (!key) return `signed by key ${cp.keyId}, which is not trusted (trusted: ${trusted.ids().join(", ") || "none"})`;
  const body = checkpointBody(cp.origin, cp.size, cp.root, cp.time, cp.keyId);
  if (!cp.note.startsWith(body + "\n")) return "the note text does not match its fields";
  return verify(cp.signature, new Uint8Array(Buffer.from(body, "utf8")), key.publicKey) ? null : `the Ed25519 signature does not verify with key ${cp.keyId}`;
}

/** JSON for the HTTP API and CLI output. */
export function checkpointJson(cp: Checkpoint): Record<string, unknown> {
  return { origin: cp.origin, size: cp.size, root: toHex(cp.root), time: cp.time, key_id: cp.keyId, note: cp.note };
}
