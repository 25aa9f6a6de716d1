// `aecp audit verify (--db <sqlite-file | postgres-url> | --approvals <url>) [--pub <checkpoint key>]... [--schema <name>] [--strict]`
//   recomputes the whole audit log offline; exit 0 only when every entry,
//   node, checkpoint root, signature and consistency proof verifies, else 1
//   naming the first bad entry.
// `aecp audit proof <execution-id> (--db … | --approvals <url>) [--pub …]`
//   prints the execution's entries with inclusion proofs against the latest
//   checkpoint (JSON, verifiable offline); exit 1 when they do not verify.
// `aecp audit check-proof <proof.json> [--pub <checkpoint key>]...`
//   verifies such a document offline; exit 0 only when every proof (and,
//   with --pub, the checkpoint signature) verifies.
// The approvals token comes from AECP_APPROVALS_TOKEN (read here, in the CLI).

import Database from "better-sqlite3";
import { existsSync } from "node:fs";
import pg from "pg";
import {
  buildExecutionProof,
  HttpAuditReader,
  PgAuditLog,
  SqliteAuditLog,
  toHex,
  verifyAuditLog,
  verifyExecutionProof,
  type AuditReader,
  type VerifyReport,
} from "../../audit/index.js";
import type { TrustedKeys } from "../../bundle/index.js";
import { AecpError, isAecpError } from "../../common/index.js";
import { readText, EXIT_FAIL, EXIT_OK, EXIT_USAGE } from "../io.js";
import { trustedFrom } from "./verify.js";

export interface AuditSourceOptions {
  db?: string;
  approvals?: string;
  schema?: string;
}

/** An open audit source and how to close it. */
export interface AuditSource {
  reader: AuditReader;
  label: string;
  close(): Promise<void>;
}

const isPostgresUrl = (s: string): boolean => /^postgres(ql)?:\/\//.test(s);

/** Opens --db (SQLite file read-only, or PostgreSQL URL) or --approvals (HTTP). */
export function openAuditSource(o: AuditSourceOptions): AuditSource {
  if ((o.db === undefined) === (o.approvals === undefined)) throw new AecpError("AECP_USAGE", "give exactly one of --db <sqlite-file | postgres-url> or --approvals <url>");
  if (o.approvals !== undefined) {
    let u: URL;
    try {
      u = new URL(o.approvals);
    } catch {
      throw new AecpError("AECP_USAGE", `--approvals must be an http(s) URL, not \`${o.approvals}\``);
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new AecpError("AECP_USAGE", "--approvals must be an http(s) URL");
    const token = process.env["AECP_APPROVALS_TOKEN"];
    return { reader: new HttpAuditReader(o.approvals, { token }), label: u.origin, close: async () => undefined };
  }
  const db = o.db!;
  if (isPostgresUrl(db)) {
    const pool = new pg.Pool({ connectionString: db, max: 2, connectionTimeoutMillis: 10_000 });
    pool.on("error", () => undefined); // an idle client's error surfaces on the next query
    const log = new PgAuditLog(pool, o.schema === undefined ? {} : { schema: o.schema });
    return { reader: log, label: new URL(db).host + (o.schema ? ` schema ${o.schema}` : ""), close: () => pool.end() };
  }
  if (o.schema !== undefined) throw new AecpError("AECP_USAGE", "--schema applies to PostgreSQL only");
  if (!existsSync(db)) throw new AecpError("AECP_IO", `no database file \`${db}\``);
  let sqlite: Database.Database;
  try {
    sqlite = new Database(db, { readonly: true, fileMustExist: true });
  } catch (cause) {
    throw new AecpError("AECP_IO", `cannot open \`${db}\` as SQLite: ${(cause as Error).message}`, { cause });
  }
  return { reader: new SqliteAuditLog(sqlite), label: db, close: async () => void sqlite.close() };
}

/**
 * Runs a command body; a database or service that cannot be read is an I/O
 * error (exit 2), not a failed verification (exit 1).
 */
export async function auditIoExit(run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (e) {
    if (!isAecpError(e) || (e.code !== "AECP_AUDIT_STORE_FAILED" && e.code !== "AECP_AUDIT_UNAVAILABLE")) throw e;
    process.stderr.write(`error[${e.code}]: ${e.message}\n`);
    return EXIT_USAGE;
  }
}

function trustedOrUndefined(pubs: readonly string[]): TrustedKeys | undefined {
  return pubs.length > 0 ? trustedFrom(pubs) : undefined;
}

export function renderReport(r: VerifyReport, label: string): string {
  if (!r.ok) {
    const p = r.problem!;
    const where = p.index !== undefined ? `first bad entry: ${p.index}` : p.checkpointSize !== undefined ? `checkpoint at size ${p.checkpointSize}` : "log head";
    return `FAILED: ${label}: ${where}\n  ${p.what}\n  (${r.entries} entries and ${r.checkpoints} checkpoints verified before it)\n`;
  }
  const latest = r.latest ? `; latest checkpoint: size ${r.latest.size}, root ${toHex(r.latest.root)}, key ${r.latest.keyId}, ${r.latest.time}` : "; no checkpoint signed yet";
  return `ok: ${label}: ${r.entries} entries, ${r.checkpoints} checkpoint${r.checkpoints === 1 ? "" : "s"} verified${latest}\n`;
}

/** Runs `body` on the opened source, closing it after; I/O failures exit 2 (auditIoExit). */
async function withSource(o: AuditSourceOptions, body: (src: AuditSource) => Promise<number>): Promise<number> {
  const src = openAuditSource(o);
  return auditIoExit(async () => {
    try {
      return await body(src);
    } finally {
      await src.close();
    }
  });
}

export async function auditVerifyCommand(o: AuditSourceOptions & { pub: string[]; strict?: boolean }): Promise<number> {
  const trusted = trustedOrUndefined(o.pub);
  return withSource(o, async (src) => {
    const report = await verifyAuditLog(src.reader, { ...(trusted ? { trusted } : {}), strict: o.strict === true });
    if (!trusted) process.stderr.write("warning: no --pub given; checkpoint roots were checked but their signatures were NOT\n");
    (report.ok ? process.stdout : process.stderr).write(renderReport(report, src.label));
    return report.ok ? EXIT_OK : EXIT_FAIL;
  });
}

export async function auditProofCommand(execution: string, o: AuditSourceOptions & { pub: string[] }): Promise<number> {
  const trusted = trustedOrUndefined(o.pub);
  return withSource(o, async (src) => {
    const doc = await buildExecutionProof(src.reader, execution);
    process.stdout.write(JSON.stringify(doc, null, 2) + "\n");
    const check = verifyExecutionProof(doc, trusted);
    if (!trusted) process.stderr.write("warning: no --pub given; the checkpoint signature was NOT checked\n");
    for (const p of check.problems) process.stderr.write(`problem: ${p}\n`);
    return check.ok ? EXIT_OK : EXIT_FAIL;
  });
}

export function auditCheckProofCommand(file: string, o: { pub: string[] }): number {
  const trusted = trustedOrUndefined(o.pub);
  let doc: unknown;
  try {
    doc = JSON.parse(readText(file));
  } catch (cause) {
    if (cause instanceof AecpError) throw cause;
    throw new AecpError("AECP_AUDIT_PROOF_INVALID", `\`${file}\` is not JSON`, { cause });
  }
  const check = verifyExecutionProof(doc, trusted);
  if (!trusted) process.stderr.write("warning: no --pub given; the checkpoint signature was NOT checked\n");
  const cp = check.checkpoint;
  if (!check.ok || !cp) {
    process.stderr.write(`FAILED: ${file}\n${check.problems.map((p) => `  ${p}\n`).join("")}`);
    return EXIT_FAIL;
  }
  const execution = (doc as { execution: string }).execution;
  process.stdout.write(
    `ok: ${check.verified.length} audit entries of execution \`${execution}\` proven against checkpoint size ${cp.size}, root ${toHex(cp.root)}, key ${cp.keyId}${trusted ? " (signature verified)" : ""}\n`,
  );
  return EXIT_OK;
}
