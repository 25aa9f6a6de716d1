// Import surface of the audit layer: the tamper-evident audit log (an RFC
// 6962/9162 Merkle tree over canonical-JSON entries) on SQLite and
// PostgreSQL, signed checkpoints, inclusion and consistency proofs, the HTTP
// routes the approvals service mounts, and offline verification.
export * from "./merkle.js";
export type { AuditEntry, AuditEntryInput, DecodedEntry } from "./entry.js";
export { decodeEntry, encodeEntry, entryJson, ENTRY_VERSION } from "./entry.js";
export * from "./checkpoint.js";
export * from "./options.js";
export type { AuditReader } from "./reader.js";
export { SqliteAuditLog } from "./sqlite.js";
export { PgAuditLog } from "./pg.js";
export type { AuditRoutesOptions } from "./routes.js";
export { auditRoutes, AUDIT_PREFIX } from "./routes.js";
export type { VerifyOptions, VerifyProblem, VerifyReport } from "./verify.js";
export { verifyAuditLog } from "./verify.js";
export type { HttpOptions } from "./http-reader.js";
export { answerError, entryFromJson, httpGet, httpGetJson, HttpAuditReader } from "./http-reader.js";
export type { ExecutionProofCheck, ExecutionProofDocument } from "./proof-doc.js";
export { buildExecutionProof, verifyExecutionProof, MAX_EXECUTION_ENTRIES } from "./proof-doc.js";
