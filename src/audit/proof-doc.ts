// Execution proofs (`aecp audit proof <execution-id>`, replay): every audit
// entry of one execution with its inclusion proof against the latest signed
// checkpoint, as one JSON document that verifies offline with nothing but the
// checkpoint public key:
//
//   {"execution": "<id>",
//    "checkpoint": {"origin", "size", "root", "time", "key_id", "note"},
//    "entries": [{"index", "kind", "subject", "created_at", "leaf_hash", "nodes",
//                 "bytes" (base64 of the hashed bytes), "body",
//                 "inclusion": ["<hex>", ...] | null  (null: newer than the checkpoint)}]}

import type { TrustedKeys } from "../bundle/index.js";
import { AecpError } from "../common/index.js";
import { checkpointJson, checkpointSignatureProblem, parseCheckpoint, type Checkpoint } from "./checkpoint.js";
import { decodeEntry, entryJson, type AuditEntry } from "./entry.js";
import { entryFromJson } from "./http-reader.js";
import { equalHashes, fromHex, leafHash, toHex, verifyInclusion } from "./merkle.js";
import type { AuditReader } from "./reader.js";

/** Most entries one execution may have in a proof document. */
export const MAX_EXECUTION_ENTRIES = 100_000;

export interface ExecutionProofDocument {
  execution: string;
  checkpoint: Record<string, unknown>;
  entries: Array<Record<string, unknown> & { inclusion: string[] | null }>;
}

/**
 * Builds the proof document for `execution` from any AuditReader. Throws
 * AECP_AUDIT_NO_CHECKPOINT when nothing was signed yet and
 * AECP_AUDIT_NOT_FOUND when the execution has no entries.
 */
export async function buildExecutionProof(reader: AuditReader, execution: string): Promise<ExecutionProofDocument> {
  const cp = await reader.latestCheckpoint();
  if (!cp) throw new AecpError("AECP_AUDIT_NO_CHECKPOINT", "the audit log has no signed checkpoint yet; the approvals service signs one periodically");
  const entries: AuditEntry[] = [];
  for (let after = -1; ; ) {
    const page = await reader.entriesBySubject(execution, after);
    if (page.length === 0) break;
    entries.push(...page);
    after = page[page.length - 1]!.index;
    if (entries.length > MAX_EXECUTION_ENTRIES) throw new AecpError("AECP_AUDIT_RANGE_INVALID", `execution \`${execution}\` has more than ${MAX_EXECUTION_ENTRIES} audit entries`);
  }
  if (entries.length === 0) throw new AecpError("AECP_AUDIT_NOT_FOUND", `the audit log has no entries for execution \`${execution}\``);
  const out: ExecutionProofDocument["entries"] = [];
  for (const e of entries) {
    const inclusion = e.index < cp.size ? (await reader.inclusionProof(e.index, cp.size)).map(toHex) : null;
    out.push({ ...entryJson(e), inclusion });
  }
  return { execution, checkpoint: checkpointJson(cp), entries: out };
}

export interface ExecutionProofCheck {
  /** True when every entry is covered by the checkpoint and every proof (and, with keys, the signature) verifies. */
  ok: boolean;
  checkpoint: Checkpoint | undefined;
  /** Entries whose inclusion verified, by index. */
  verified: AuditEntry[];
  /** One line per problem, for humans; empty when ok. */
  problems: string[];
}

/**
 * Verifies a proof document offline: the checkpoint note (and its signature
 * when `trusted` is given), and for every entry: the leaf hash recomputed
 * from its bytes, that the bytes name this execution, and the inclusion proof
 * against the checkpoint root. Never throws.
 */
export function verifyExecutionProof(doc: unknown, trusted?: TrustedKeys): ExecutionProofCheck {
  const problems: string[] = [];
  const verified: AuditEntry[] = [];
  const d = doc as Partial<ExecutionProofDocument> | null;
  let cp: Checkpoint | undefined;
  try {
    cp = parseCheckpoint((d?.checkpoint as { note?: unknown } | undefined)?.note);
  } catch (e) {
    return { ok: false, checkpoint: undefined, verified, problems: [(e as Error).message] };
  }
  if (trusted && trusted.size > 0) {
    const sig = checkpointSignatureProblem(cp, trusted);
    if (sig) problems.push(`checkpoint at size ${cp.size}: ${sig}`);
  }
  if (typeof d?.execution !== "string" || !Array.isArray(d.entries) || d.entries.length === 0) {
    return { ok: false, checkpoint: cp, verified, problems: [...problems, "the proof document has no execution id or no entries"] };
  }
  for (const raw of d.entries) {
    let e: AuditEntry;
    try {
      e = entryFromJson(raw);
    } catch (err) {
      problems.push((err as Error).message);
      continue;
    }
    const label = `entry ${e.index} (kind \`${e.kind}\`)`;
    const leaf = leafHash(e.bytes);
    const decoded = decodeEntry(e.bytes);
    if (typeof decoded === "string") problems.push(`${label}: ${decoded}`);
    else if (decoded.subject !== d.execution) problems.push(`${label}: its hashed bytes name subject ${JSON.stringify(decoded.subject)}, not \`${d.execution}\``);
    else if (decoded.kind !== e.kind) problems.push(`${label}: its hashed bytes say kind \`${decoded.kind}\``);
    if (!equalHashes(leaf, e.leafHash)) problems.push(`${label}: its bytes hash to ${toHex(leaf)}, not the stated leaf hash ${toHex(e.leafHash)}`);
    const inclusion = (raw as { inclusion?: unknown }).inclusion;
    if (inclusion === null || inclusion === undefined) {
      problems.push(`${label} is newer than the latest checkpoint (size ${cp.size}); it can be proven once the next checkpoint is signed`);
      continue;
    }
    let proof: Uint8Array[];
    try {
      if (!Array.isArray(inclusion)) throw new Error("not a list");
      proof = inclusion.map((h) => fromHex(h, "proof hash"));
    } catch {
      problems.push(`${label}: its inclusion proof is malformed`);
      continue;
    }
    if (verifyInclusion(leaf, e.index, cp.size, proof, cp.root)) verified.push(e);
    else problems.push(`${label}: the inclusion proof does not verify against the checkpoint root ${toHex(cp.root)} (size ${cp.size})`);
  }
  return { ok: problems.length === 0, checkpoint: cp, verified, problems };
}
