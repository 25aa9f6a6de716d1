// The audit log on PostgreSQL (pg), for several approvals-service replicas
// sharing one database. An append runs inside the caller's BEGIN..COMMIT:
// `UPDATE audit_head SET size = size + n … RETURNING` takes the row lock on
// the one-row head table, so appends from all replicas are serialized, the
// indices are contiguous, and a rolled-back transaction gives its indices
// back (the head update rolls back with it). Never a sequence, never a clock.
//
// Same tables as the SQLite store (see sqlite.ts), optionally in `schema`.

import type pg from "pg";
import { AecpError, isAecpError } from "../common/index.js";
import { signCheckpoint, parseCheckpoint, type Checkpoint } from "./checkpoint.js";
import { encodeEntry, StoredEntry, type AuditEntry, type AuditEntryInput } from "./entry.js";
import { consistencyRanges, Frontier, inclusionRanges, leafHash, type LeafRange } from "./merkle.js";
import { auditLogOptions, type AuditLogOptions } from "./options.js";
import { checkInTree, hashesOfRanges, rowsNeeded, type AuditReader, type NodeRow } from "./reader.js";

const MIGRATIONS: readonly ((q: (t: string) => string) => string)[] = [
  (q) => `CREATE TABLE ${q("audit_head")} (id INTEGER PRIMARY KEY CHECK (id = 1), size BIGINT NOT NULL, frontier BYTEA NOT NULL);
    INSERT INTO ${q("audit_head")} (id, size, frontier) VALUES (1, 0, '\\x');
    CREATE TABLE ${q("audit_entries")} (
      idx BIGINT PRIMARY KEY, kind TEXT NOT NULL, subject TEXT, created_at TEXT NOT NULL,
      bytes BYTEA NOT NULL, hashes BYTEA NOT NULL);
    CREATE INDEX audit_entries_subject ON ${q("audit_entries")} (subject, idx) WHERE subject IS NOT NULL;
    CREATE TABLE ${q("audit_checkpoints")} (size BIGINT PRIMARY KEY, root BYTEA NOT NULL, time TEXT NOT NULL, key_id TEXT NOT NULL, note TEXT NOT NULL);`,
];

interface PgEntryRow {
  idx: string;
  kind: string;
  subject: string | null;
  created_at: string;
  bytes: Buffer;
  hashes: Buffer;
}

function entryFromPgRow(r: PgEntryRow): AuditEntry {
  return new StoredEntry(Number(r.idx), r.kind, r.subject, r.created_at, r.bytes, r.hashes);
}

function storeFailed(what: string, cause: unknown): never {
  if (isAecpError(cause)) throw cause;
  throw new AecpError("AECP_AUDIT_STORE_FAILED", `audit store: ${what} failed: ${(cause as Error).message}`, { cause });
}

/** PostgreSQL SQLSTATE for "SAVEPOINT can only be used in transaction blocks". */
const NO_ACTIVE_TRANSACTION = "25P01";

/** The audit log in PostgreSQL; every read goes through the pool. */
export class PgAuditLog implements AuditReader {
  readonly options: AuditLogOptions;
  private readonly q: (table: string) => string;

  /** @param opts see AuditLogOptions (`schema` places the tables); throws AECP_CONFIG_INVALID. */
  constructor(
    private readonly pool: pg.Pool,
    opts?: Partial<AuditLogOptions>,
  ) {
    this.options = auditLogOptions(opts ?? {});
    const schema = this.options.schema;
    // INVARIANT: schema matches [a-z_][a-z0-9_]* (options.ts), so quoting it is safe.
    this.q = schema === undefined ? (t) => t : (t) => `"${schema}".${t}`;
  }

  /** Creates or upgrades the audit tables (versioned; safe to run from several replicas at once). */
  async migrate(): Promise<void> {
    const client = await this.pool.connect().catch((e: unknown) => storeFailed("connect", e));
    try {
      await client.query("BEGIN");
      await client.query("SELECT pg_advisory_xact_lock(hashtext('aecp-audit-migrate'))");
      if (this.options.schema !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS "${this.options.schema}"`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${this.q("audit_schema_migrations")} (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
      const done = new Set((await client.query<{ version: number }>(`SELECT version FROM ${this.q("audit_schema_migrations")}`)).rows.map((r) => r.version));
      for (let i = 0; i < MIGRATIONS.length; i++) {
        if (done.has(i + 1)) continue;
        await client.query(MIGRATIONS[i]!(this.q));
        await client.query(`INSERT INTO ${this.q("audit_schema_migrations")} (version) VALUES ($1)`, [i + 1]);
      }
      await client.query("COMMIT");
    } catch (e) {
      await client.query("ROLLBACK").catch(() => undefined);
      storeFailed("migration", e);
    } finally {
      client.release();
    }
  }

  /**
   * Appends entries with the caller's client, inside the caller's open
   * transaction (BEGIN..COMMIT); returns their indices. The head row stays
   * locked until the caller commits or rolls back, so keep the transaction
   * short. Throws AECP_AUDIT_ENTRY_INVALID (nothing sent),
   * AECP_AUDIT_NOT_IN_TRANSACTION, or AECP_AUDIT_STORE_FAILED (the caller's
   * transaction is left usable: the append is rolled back to a savepoint).
   */
  async append(client: pg.PoolClient | pg.Client, entries: readonly AuditEntryInput[]): Promise<number[]> {
    if (!Array.isArray(entries)) throw new AecpError("AECP_AUDIT_ENTRY_INVALID", "append takes an array of entries");
    const n = entries.length;
    if (n === 0) return [];
    if (n > this.options.maxEntriesPerAppend) throw new AecpError("AECP_AUDIT_ENTRY_INVALID", `${n} entries in one append; the limit is ${this.options.maxEntriesPerAppend}`);
    const at = this.options.now().toISOString();
    const encoded = entries.map((e) => encodeEntry(e, at, this.options.maxEntryBytes));
    try {
      await client.query("SAVEPOINT aecp_audit_append");
    } catch (e) {
      if ((e as { code?: string }).code === NO_ACTIVE_TRANSACTION) {
        throw new AecpError("AECP_AUDIT_NOT_IN_TRANSACTION", "PgAuditLog.append must run inside the caller's BEGIN..COMMIT (so the entries commit with the change they record)", { cause: e });
      }
      storeFailed("append", e);
    }
    try {
      const head = await client.query<{ size: string; frontier: Buffer }>(`UPDATE ${this.q("audit_head")} SET size = size + $1 WHERE id = 1 RETURNING size, frontier`, [n]);
      const row = head.rows[0];
      if (!row) throw new AecpError("AECP_AUDIT_STORE_FAILED", "audit store: audit_head has no row; run migrate()");
      const start = Number(row.size) - n;
      const frontier = Frontier.fromBytes(start, row.frontier);
      const idx: number[] = [];
      const hashes: Buffer[] = [];
      for (let i = 0; i < n; i++) {
        const leaf = leafHash(encoded[i]!);
        hashes.push(Buffer.concat([leaf, ...frontier.push(leaf)]));
        idx.push(start + i);
      }
      await client.query(
        `WITH ins AS (
           INSERT INTO ${this.q("audit_entries")} (idx, kind, subject, created_at, bytes, hashes)
           SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::bytea[]))
         UPDATE ${this.q("audit_head")} SET frontier = $7 WHERE id = 1`,
        [
          idx,
          entries.map((e) => e.kind),
          entries.map((e) => e.subject),
          idx.map(() => at),
          encoded.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength)),
          hashes,
          Buffer.from(frontier.bytes()),
        ],
      );
      await client.query("RELEASE SAVEPOINT aecp_audit_append");
      return idx;
    } catch (e) {
      await client.query("ROLLBACK TO SAVEPOINT aecp_audit_append").catch(() => undefined);
      return storeFailed("append", e);
    }
  }

  /** Signs a checkpoint of the current size and root (idempotent per size; replicas may race). */
  async checkpoint(): Promise<Checkpoint> {
    const key = this.options.signingKey;
    if (!key) throw new AecpError("AECP_CONFIG_INVALID", "audit log option `signingKey` is required to sign checkpoints");
    try {
      const { size, frontier } = await this.headState();
      const cp = signCheckpoint(this.options.origin, size, frontier.root(), this.options.now().toISOString(), key);
      const ins = await this.pool.query(
        `INSERT INTO ${this.q("audit_checkpoints")} (size, root, time, key_id, note) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (size) DO NOTHING`,
        [cp.size, Buffer.from(cp.root), cp.time, cp.keyId, cp.note],
      );
      if (ins.rowCount === 1) return cp;
      const existing = await this.pool.query<{ note: string }>(`SELECT note FROM ${this.q("audit_checkpoints")} WHERE size = $1`, [size]);
      return parseCheckpoint(existing.rows[0]?.note);
    } catch (e) {
      return storeFailed("checkpoint", e);
    }
  }

  private async select<R extends pg.QueryResultRow>(what: string, sql: string, params: unknown[]): Promise<R[]> {
    try {
      return (await this.pool.query<R>(sql, params)).rows;
    } catch (e) {
      return storeFailed(what, e);
    }
  }

  /** Size and compact frontier as stored in audit_head. */
  async headState(): Promise<{ size: number; frontier: Frontier }> {
    const rows = await this.select<{ size: string; frontier: Buffer }>("read head", `SELECT size, frontier FROM ${this.q("audit_head")} WHERE id = 1`, []);
    const h = rows[0];
    if (!h) throw new AecpError("AECP_AUDIT_STORE_FAILED", "audit store: audit_head has no row; run migrate()");
    return { size: Number(h.size), frontier: Frontier.fromBytes(Number(h.size), h.frontier) };
  }

  async treeSize(): Promise<number> {
    const rows = await this.select<{ size: string }>("read head", `SELECT size FROM ${this.q("audit_head")} WHERE id = 1`, []);
    if (!rows[0]) throw new AecpError("AECP_AUDIT_STORE_FAILED", "audit store: audit_head has no row; run migrate()");
    return Number(rows[0].size);
  }

  async head(): Promise<{ size: number; root: Uint8Array }> {
    const { size, frontier } = await this.headState();
    return { size, root: frontier.root() };
  }

  async entries(from: number, to: number): Promise<AuditEntry[]> {
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || to < from) throw new AecpError("AECP_AUDIT_RANGE_INVALID", `bad entry range [${from}, ${to})`);
    const rows = await this.select<PgEntryRow>("read entries", `SELECT * FROM ${this.q("audit_entries")} WHERE idx >= $1 AND idx < $2 ORDER BY idx LIMIT $3`, [from, to, this.options.maxPageEntries]);
    return rows.map(entryFromPgRow);
  }

  async entriesBySubject(subject: string, afterIndex = -1): Promise<AuditEntry[]> {
    const rows = await this.select<PgEntryRow>("read entries", `SELECT * FROM ${this.q("audit_entries")} WHERE subject = $1 AND idx > $2 ORDER BY idx LIMIT $3`, [subject, afterIndex, this.options.maxPageEntries]);
    return rows.map(entryFromPgRow);
  }

  async latestCheckpoint(): Promise<Checkpoint | null> {
    const rows = await this.select<{ note: string }>("read checkpoint", `SELECT note FROM ${this.q("audit_checkpoints")} ORDER BY size DESC LIMIT 1`, []);
    return rows[0] ? parseCheckpoint(rows[0].note) : null;
  }

  async checkpoints(afterSize: number): Promise<Checkpoint[]> {
    const rows = await this.select<{ note: string }>("read checkpoints", `SELECT note FROM ${this.q("audit_checkpoints")} WHERE size > $1 ORDER BY size LIMIT $2`, [afterSize, this.options.maxPageEntries]);
    return rows.map((r) => parseCheckpoint(r.note));
  }

  private async rows(ranges: readonly LeafRange[]): Promise<Map<number, NodeRow>> {
    const need = rowsNeeded(ranges);
    const rows = await this.select<{ idx: string; hashes: Buffer }>("read nodes", `SELECT idx, hashes FROM ${this.q("audit_entries")} WHERE idx = ANY($1::bigint[])`, [need]);
    return new Map(rows.map((r) => [Number(r.idx), { hashes: r.hashes }]));
  }

  async inclusionProof(index: number, size: number): Promise<Uint8Array[]> {
    checkInTree("tree size", size, await this.treeSize(), true);
    const ranges = inclusionRanges(index, size);
    return hashesOfRanges(ranges, await this.rows(ranges));
  }

  async consistencyProof(first: number, second: number): Promise<Uint8Array[]> {
    checkInTree("tree size", second, await this.treeSize(), true);
    const ranges = consistencyRanges(first, second);
    return hashesOfRanges(ranges, await this.rows(ranges));
  }

  async rootAt(size: number): Promise<Uint8Array> {
    checkInTree("tree size", size, await this.treeSize(), true);
    const ranges: LeafRange[] = [[0, size]];
    return hashesOfRanges(ranges, await this.rows(ranges))[0]!;
  }
}
