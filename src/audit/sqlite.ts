// The audit log on SQLite (better-sqlite3): appended inside the caller's
// transaction, so an audit entry commits or rolls back with the state change
// it records. Sequencing: the first statement of an append updates the
// one-row audit_head — a compare-and-set against the head this object last
// wrote (fast path), else `UPDATE audit_head … RETURNING` — which takes
// SQLite's write lock, so indices are contiguous and never depend on a clock.
//
// Tables (migration 1):
//   audit_head(id=1, size, frontier)       compact frontier: O(log n) append
//   audit_entries(idx PK, kind, subject, created_at, bytes, hashes)
//     hashes = leaf hash || the interior nodes this leaf completed (level 1 up)
//   audit_checkpoints(size PK, root, time, key_id, note)
//   audit_schema_migrations(version PK, applied_at)

import type BetterSqlite3 from "better-sqlite3";
import { AecpError, isAecpError } from "../common/index.js";
import { parseCheckpoint, signCheckpoint, type Checkpoint } from "./checkpoint.js";
import { encodeEntry, StoredEntry, type AuditEntry, type AuditEntryInput } from "./entry.js";
import { consistencyRanges, Frontier, inclusionRanges, leafHash, type LeafRange } from "./merkle.js";
import { auditLogOptions, type AuditLogOptions } from "./options.js";
import { checkInTree, hashesOfRanges, rowsNeeded, type AuditReader, type NodeRow } from "./reader.js";

/** Versioned migrations; index + 1 is the version. Never edit a shipped one. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL, frontier BLOB NOT NULL);
   INSERT INTO audit_head (id, size, frontier) VALUES (1, 0, x'');
   CREATE TABLE audit_entries (
     idx INTEGER PRIMARY KEY, kind TEXT NOT NULL, subject TEXT, created_at TEXT NOT NULL,
     bytes BLOB NOT NULL, hashes BLOB NOT NULL);
   CREATE INDEX audit_entries_subject ON audit_entries (subject, idx) WHERE subject IS NOT NULL;
   CREATE TABLE audit_checkpoints (size INTEGER PRIMARY KEY, root BLOB NOT NULL, time TEXT NOT NULL, key_id TEXT NOT NULL, note TEXT NOT NULL);`,
];

interface EntryRow {
  idx: number;
  kind: string;
  subject: string | null;
  created_at: string;
  bytes: Buffer;
  hashes: Buffer;
}

type RawEntryRow = [number, string, string | null, string, Buffer, Buffer];

export function entryFromRow(r: EntryRow): AuditEntry {
  // Buffers are Uint8Arrays: no copies (verify reads a million of these)
  return new StoredEntry(r.idx, r.kind, r.subject, r.created_at, r.bytes, r.hashes);
}

export function checkpointFromRow(r: { note: string }): Checkpoint {
  return parseCheckpoint(r.note);
}

function storeFailed(what: string, cause: unknown): never {
  if (isAecpError(cause)) throw cause;
  throw new AecpError("AECP_AUDIT_STORE_FAILED", `audit store: ${what} failed: ${(cause as Error).message}`, { cause });
}

type Statements = ReturnType<typeof prepare>;

function prepare(db: BetterSqlite3.Database) {
  return {
    bumpHead: db.prepare<[number], { size: number; frontier: Buffer }>("UPDATE audit_head SET size = size + ? WHERE id = 1 RETURNING size, frontier"),
    setFrontier: db.prepare<[Uint8Array]>("UPDATE audit_head SET frontier = ? WHERE id = 1"),
    casHead: db.prepare<[number, Uint8Array, number, Uint8Array]>("UPDATE audit_head SET size = ?, frontier = ? WHERE id = 1 AND size = ? AND frontier = ?"),
    head: db.prepare<[], { size: number; frontier: Buffer }>("SELECT size, frontier FROM audit_head WHERE id = 1"),
    size: db.prepare<[], { size: number }>("SELECT size FROM audit_head WHERE id = 1"),
    insert: db.prepare<[number, string, string | null, string, Uint8Array, Uint8Array]>(
      "INSERT INTO audit_entries (idx, kind, subject, created_at, bytes, hashes) VALUES (?, ?, ?, ?, ?, ?)",
    ),
    // raw rows (arrays): no per-row object with named keys on the verify path
    range: db.prepare<[number, number, number], RawEntryRow>("SELECT idx, kind, subject, created_at, bytes, hashes FROM audit_entries WHERE idx >= ? AND idx < ? ORDER BY idx LIMIT ?").raw(true),
    bySubject: db.prepare<[string, number, number], EntryRow>("SELECT * FROM audit_entries WHERE subject = ? AND idx > ? ORDER BY idx LIMIT ?"),
    nodeRow: db.prepare<[number], { hashes: Buffer }>("SELECT hashes FROM audit_entries WHERE idx = ?"),
    latestCheckpoint: db.prepare<[], { note: string }>("SELECT note FROM audit_checkpoints ORDER BY size DESC LIMIT 1"),
    checkpoints: db.prepare<[number, number], { note: string }>("SELECT note FROM audit_checkpoints WHERE size > ? ORDER BY size LIMIT ?"),
    insertCheckpoint: db.prepare<[number, Uint8Array, string, string, string]>(
      "INSERT INTO audit_checkpoints (size, root, time, key_id, note) VALUES (?, ?, ?, ?, ?) ON CONFLICT (size) DO NOTHING",
    ),
    checkpointAt: db.prepare<[number], { note: string }>("SELECT note FROM audit_checkpoints WHERE size = ?"),
  };
}

/**
 * The audit log in a better-sqlite3 database (the approvals service's own).
 * Reads are available synchronously (`…Sync`) and through `AuditReader`.
 */
export class SqliteAuditLog implements AuditReader {
  readonly options: AuditLogOptions;
  private stmts: Statements | undefined;
  /** The head as this object last wrote it; possibly stale (see appendSync). */
  private cache: { frontier: Frontier; bytes: Uint8Array } | undefined;

  /** @param opts see AuditLogOptions; throws AECP_CONFIG_INVALID. */
  constructor(
    private readonly db: BetterSqlite3.Database,
    opts?: Partial<AuditLogOptions>,
  ) {
    this.options = auditLogOptions(opts ?? {});
  }

  /** Creates or upgrades the audit tables (versioned; idempotent). Call at start, before any append. */
  migrate(): void {
    try {
      this.db.exec("CREATE TABLE IF NOT EXISTS audit_schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)");
      const done = new Set(this.db.prepare<[], { version: number }>("SELECT version FROM audit_schema_migrations").all().map((r) => r.version));
      this.db.transaction(() => {
        MIGRATIONS.forEach((sql, i) => {
          if (done.has(i + 1)) return;
          this.db.exec(sql);
          this.db.prepare("INSERT INTO audit_schema_migrations (version, applied_at) VALUES (?, ?)").run(i + 1, new Date().toISOString());
        });
      }).immediate();
    } catch (e) {
      storeFailed("migration", e);
    }
    this.stmts = undefined;
  }

  private get st(): Statements {
    if (!this.stmts) {
      try {
        this.stmts = prepare(this.db);
      } catch (e) {
        throw new AecpError("AECP_AUDIT_STORE_FAILED", `audit store: the audit tables are missing or damaged (${(e as Error).message}); run migrate() first`, { cause: e });
      }
    }
    return this.stmts;
  }

  /**
   * Appends entries; returns their indices (contiguous, ascending). Call it
   * inside the caller's `db.transaction(...)` so the entries commit or roll
   * back with the change they record (use `.immediate()` transactions when
   * several connections write). Outside a transaction it opens its own.
   * Throws AECP_AUDIT_ENTRY_INVALID (nothing is written) or AECP_AUDIT_STORE_FAILED.
   */
  appendSync(entries: readonly AuditEntryInput[]): number[] {
    const n = entries.length;
    if (!Array.isArray(entries)) throw new AecpError("AECP_AUDIT_ENTRY_INVALID", "appendSync takes an array of entries");
    if (n === 0) return [];
    if (n > this.options.maxEntriesPerAppend) throw new AecpError("AECP_AUDIT_ENTRY_INVALID", `${n} entries in one append; the limit is ${this.options.maxEntriesPerAppend}`);
    const at = this.options.now().toISOString();
    // Encode (and so validate) everything before touching the database.
    const encoded = entries.map((e) => encodeEntry(e, at, this.options.maxEntryBytes));
    const st = this.st;
    const leaves = encoded.map(leafHash);
    /** Pushes the leaves onto `frontier`; returns each entry's hash column. */
    const hashColumns = (frontier: Frontier): Buffer[] => leaves.map((leaf) => Buffer.concat([leaf, ...frontier.push(leaf)]));
    const run = (): number[] => {
      let start = -1;
      let frontier: Frontier | undefined;
      let columns: Buffer[] = [];
      const cached = this.cache;
      if (cached) {
        // Fast path: one compare-and-set on the head, valid only if the head
        // is exactly the state this object last wrote or read (a rolled-back
        // transaction or another writer makes it fail; then the slow path).
        const f = cached.frontier.clone();
        columns = hashColumns(f);
        const bytes = f.bytes();
        if (st.casHead.run(cached.frontier.size + n, bytes, cached.frontier.size, cached.bytes).changes === 1) {
          start = cached.frontier.size;
          frontier = f;
          this.cache = { frontier: f, bytes };
        }
      }
      if (frontier === undefined) {
        const head = st.bumpHead.get(n);
        if (!head) throw new AecpError("AECP_AUDIT_STORE_FAILED", "audit store: audit_head has no row; run migrate()");
        start = head.size - n;
        frontier = Frontier.fromBytes(start, head.frontier);
        columns = hashColumns(frontier);
        const bytes = frontier.bytes();
        st.setFrontier.run(bytes);
        this.cache = { frontier, bytes };
      }
      const indices: number[] = [];
      for (let i = 0; i < n; i++) {
        st.insert.run(start + i, entries[i]!.kind, entries[i]!.subject, at, encoded[i]!, columns[i]!);
        indices.push(start + i);
      }
      return indices;
    };
    try {
      return this.db.inTransaction ? run() : this.db.transaction(run).immediate();
    } catch (e) {
      this.cache = undefined;
      return storeFailed("append", e);
    }
  }

  /** Signs a checkpoint of the current size and root (idempotent per size). Throws AECP_CONFIG_INVALID without a signing key. */
  checkpointSync(): Checkpoint {
    const key = this.options.signingKey;
    if (!key) throw new AecpError("AECP_CONFIG_INVALID", "audit log option `signingKey` is required to sign checkpoints");
    try {
      return this.db.transaction(() => {
        const { size, frontier } = this.headStateSync();
        const existing = this.st.checkpointAt.get(size);
        if (existing) return checkpointFromRow(existing);
        const cp = signCheckpoint(this.options.origin, size, frontier.root(), this.options.now().toISOString(), key);
        this.st.insertCheckpoint.run(cp.size, cp.root, cp.time, cp.keyId, cp.note);
        return cp;
      }).immediate();
    } catch (e) {
      return storeFailed("checkpoint", e);
    }
  }

  async checkpoint(): Promise<Checkpoint> {
    return this.checkpointSync();
  }

  /** Size and compact frontier as stored in audit_head. */
  headStateSync(): { size: number; frontier: Frontier } {
    const h = this.st.head.get();
    if (!h) throw new AecpError("AECP_AUDIT_STORE_FAILED", "audit store: audit_head has no row; run migrate()");
    return { size: h.size, frontier: Frontier.fromBytes(h.size, h.frontier) };
  }

  treeSizeSync(): number {
    const h = this.st.size.get();
    if (!h) throw new AecpError("AECP_AUDIT_STORE_FAILED", "audit store: audit_head has no row; run migrate()");
    return h.size;
  }

  headSync(): { size: number; root: Uint8Array } {
    const { size, frontier } = this.headStateSync();
    return { size, root: frontier.root() };
  }

  entriesSync(from: number, to: number): AuditEntry[] {
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || to < from) throw new AecpError("AECP_AUDIT_RANGE_INVALID", `bad entry range [${from}, ${to})`);
    return this.st.range.all(from, to, this.options.maxPageEntries).map((r) => new StoredEntry(r[0], r[1], r[2], r[3], r[4], r[5]));
  }

  entriesBySubjectSync(subject: string, afterIndex = -1): AuditEntry[] {
    return this.st.bySubject.all(subject, afterIndex, this.options.maxPageEntries).map(entryFromRow);
  }

  latestCheckpointSync(): Checkpoint | null {
    const r = this.st.latestCheckpoint.get();
    return r ? checkpointFromRow(r) : null;
  }

  checkpointsSync(afterSize: number): Checkpoint[] {
    return this.st.checkpoints.all(afterSize, this.options.maxPageEntries).map(checkpointFromRow);
  }

  private rows(ranges: readonly LeafRange[]): Map<number, NodeRow> {
    const rows = new Map<number, NodeRow>();
    for (const idx of rowsNeeded(ranges)) {
      const r = this.st.nodeRow.get(idx);
      if (r) rows.set(idx, { hashes: r.hashes });
    }
    return rows;
  }

  inclusionProofSync(index: number, size: number): Uint8Array[] {
    checkInTree("tree size", size, this.treeSizeSync(), true);
    const ranges = inclusionRanges(index, size);
    return hashesOfRanges(ranges, this.rows(ranges));
  }

  consistencyProofSync(first: number, second: number): Uint8Array[] {
    checkInTree("tree size", second, this.treeSizeSync(), true);
    const ranges = consistencyRanges(first, second);
    return hashesOfRanges(ranges, this.rows(ranges));
  }

  rootAtSync(size: number): Uint8Array {
    checkInTree("tree size", size, this.treeSizeSync(), true);
    const ranges: LeafRange[] = [[0, size]];
    return hashesOfRanges(ranges, this.rows(ranges))[0]!;
  }

  // --- AuditReader -----------------------------------------------------------
  async head(): Promise<{ size: number; root: Uint8Array }> {
    return this.headSync();
  }
  async entries(from: number, to: number): Promise<AuditEntry[]> {
    return this.entriesSync(from, to);
  }
  async entriesBySubject(subject: string, afterIndex = -1): Promise<AuditEntry[]> {
    return this.entriesBySubjectSync(subject, afterIndex);
  }
  async latestCheckpoint(): Promise<Checkpoint | null> {
    return this.latestCheckpointSync();
  }
  async checkpoints(afterSize: number): Promise<Checkpoint[]> {
    return this.checkpointsSync(afterSize);
  }
  async inclusionProof(index: number, size: number): Promise<Uint8Array[]> {
    return this.inclusionProofSync(index, size);
  }
  async consistencyProof(first: number, second: number): Promise<Uint8Array[]> {
    return this.consistencyProofSync(first, second);
  }
  async rootAt(size: number): Promise<Uint8Array> {
    return this.rootAtSync(size);
  }
}
