// The embedded store: one SQLite file through better-sqlite3 12 (WAL,
// synchronous=NORMAL: a killed process loses nothing committed).
//
// better-sqlite3 is synchronous, but the service's transaction bodies are
// async (the same code drives PostgreSQL). So every use of the connection
// goes through one in-process queue, and a transaction is BEGIN IMMEDIATE …
// COMMIT around the awaited body: nothing else touches the connection until
// it ends. BEGIN IMMEDIATE takes the database write lock up front, so a
// second process on the same file waits (busy_timeout) instead of racing:
// every transaction is serialized, which is what compare-and-set needs.

import Database from "better-sqlite3";
import { AecpError } from "../common/index.js";
import type { DecisionAttempt, ExecutionState, Transition } from "./model.js";
import { MIGRATIONS, MIGRATIONS_TABLE_SQL } from "./migrations.js";
import type { ApprovalsStore, AuditEntryInput, ExecutionRow, ListFilter, NewExecution, OutboxItem, OutboxRow, StoreStatus, StoreTx } from "./store.js";

/** The audit log's SQLite side (src/audit SqliteAuditLog satisfies it). */
export interface SqliteAuditSink {
  migrate(): void;
  /** Called inside the caller's transaction on the same connection. */
  appendSync(entries: AuditEntryInput[]): number[];
  /** Signs a checkpoint of the current tree (src/audit SqliteAuditLog). Optional. */
  checkpointSync?(): unknown;
}

export interface SqliteStoreOptions {
  /** Builds the audit log on this store's connection. Default: no audit log. */
  audit?: (db: Database.Database) => SqliteAuditSink;
  /** How long a writer waits for another process's lock, ms. Default 10,000. */
  busyTimeoutMs?: number;
}

type Row = Record<string, unknown>;

function execRow(r: Row): ExecutionRow {
  return {
    id: r["id"] as string,
    fingerprint: r["fingerprint"] as string,
    state: r["state"] as ExecutionState,
    version: Number(r["version"]),
    requester: (r["requester"] as string | null) ?? null,
    createdAtMs: Number(r["created_at"]),
    expiresAtMs: Number(r["expires_at"]),
    updatedAtMs: Number(r["updated_at"]),
    consumedAtMs: r["consumed_at"] === null || r["consumed_at"] === undefined ? null : Number(r["consumed_at"]),
    proposal: JSON.parse(r["proposal"] as string) as ExecutionRow["proposal"],
    grant: (r["grant_json"] as string | null) ?? null,
  };
}

export function transitionOf(r: Row): Transition {
  const t: Transition = { state: r["state"] as ExecutionState, at: r["at"] as string, actor: r["actor"] as string };
  if (r["justification"] !== null && r["justification"] !== undefined) t.justification = r["justification"] as string;
  return t;
}

export function decisionOf(r: Row): DecisionAttempt {
  return {
    approver: r["approver"] as string,
    decision: r["decision"] as DecisionAttempt["decision"],
    justification: (r["justification"] as string | null) ?? null,
    at: r["at"] as string,
    channel: r["channel"] as DecisionAttempt["channel"],
    accepted: Number(r["accepted"]) === 1,
    reason: (r["reason"] as string | null) ?? null,
  };
}

export function outboxOf(r: Row): OutboxRow {
  return {
    id: Number(r["id"]),
    executionId: (r["execution_id"] as string | null) ?? null,
    channel: r["channel"] as OutboxRow["channel"],
    target: r["target"] as string,
    event: r["event"] as string,
    payload: r["payload"] as string,
    attempts: Number(r["attempts"]),
    createdAtMs: Number(r["created_at"]),
  };
}

function storeFailed(e: unknown): AecpError {
  return e instanceof AecpError ? e : new AecpError("AECP_STORE_FAILED", `approvals database (SQLite) failed: ${(e as Error).message}`, { cause: e });
}

export class SqliteStore implements ApprovalsStore {
  readonly kind = "sqlite" as const;
  readonly db: Database.Database;
  private readonly auditSink: SqliteAuditSink | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  /** Opens (creates) the database file. Throws AECP_STORE_FAILED when it cannot. */
  constructor(
    readonly path: string,
    opts: SqliteStoreOptions = {},
  ) {
    try {
      this.db = new Database(path);
      this.db.pragma("journal_mode = WAL");
      this.db.pragma("synchronous = NORMAL");
      this.db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 10_000}`);
      this.db.pragma("foreign_keys = ON");
    } catch (e) {
      throw storeFailed(e);
    }
    this.auditSink = opts.audit?.(this.db);
  }

  /** Run `fn` when the connection is free (INVARIANT: one user of the connection at a time). */
  private serial<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.queue.then(async () => {
      if (this.closed) throw new AecpError("AECP_STORE_FAILED", "approvals database is closed");
      try {
        return await fn();
      } catch (e) {
        throw storeFailed(e);
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  async migrate(): Promise<void> {
    await this.serial(() => {
      this.db.exec(MIGRATIONS_TABLE_SQL);
      const apply = this.db.transaction(() => {
        const done = new Set((this.db.prepare("SELECT version FROM approvals_migrations").all() as Row[]).map((r) => Number(r["version"])));
        for (const m of MIGRATIONS) {
          if (done.has(m.version)) continue;
          this.db.exec(m.sqlite);
          this.db.prepare("INSERT INTO approvals_migrations (version, name, applied_at) VALUES (?, ?, ?)").run(m.version, m.name, Date.now());
        }
      });
      apply.immediate();
      this.auditSink?.migrate();
    });
  }

  async migrations(): Promise<number[]> {
    return this.serial(() => (this.db.prepare("SELECT version FROM approvals_migrations ORDER BY version").all() as Row[]).map((r) => Number(r["version"])));
  }

  async tx<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.serial(async () => {
      this.db.exec("BEGIN IMMEDIATE");
      try {
        const result = await fn(this.txOps());
        this.db.exec("COMMIT");
        return result;
      } catch (e) {
        if (this.db.inTransaction) this.db.exec("ROLLBACK");
        throw e;
      }
    });
  }

  private txOps(): StoreTx {
    const db = this.db;
    return {
      lockExecution: async (id) => {
        const r = db.prepare("SELECT * FROM executions WHERE id = ?").get(id) as Row | undefined;
        return r ? execRow(r) : undefined;
      },
      lockFingerprint: async () => undefined, // BEGIN IMMEDIATE already serializes writers
      findOpen: async (fp) => {
        const r = db.prepare("SELECT * FROM executions WHERE fingerprint = ? AND state IN ('pending', 'approved', 'overridden')").get(fp) as Row | undefined;
        return r ? execRow(r) : undefined;
      },
      insertExecution: async (e: NewExecution) => {
        db.prepare(
          "INSERT INTO executions (id, fingerprint, state, version, requester, created_at, expires_at, updated_at, proposal) VALUES (?, ?, 'pending', 1, ?, ?, ?, ?, ?)",
        ).run(e.id, e.fingerprint, e.requester, e.createdAtMs, e.expiresAtMs, e.createdAtMs, JSON.stringify(e.proposal));
      },
      casState: async (id, fromVersion, state, atMs, extra) => {
        const r = db
          .prepare(
            "UPDATE executions SET state = ?, version = version + 1, updated_at = ?, consumed_at = COALESCE(?, consumed_at), grant_json = COALESCE(?, grant_json) WHERE id = ? AND version = ?",
          )
          .run(state, atMs, extra?.consumedAtMs ?? null, extra?.grant ?? null, id, fromVersion);
        return r.changes === 1;
      },
      appendTransition: async (id, t) => {
        db.prepare("INSERT INTO transitions (execution_id, seq, state, at, actor, justification) SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ? FROM transitions WHERE execution_id = ?").run(
          id,
          t.state,
          t.at,
          t.actor,
          t.justification ?? null,
          id,
        );
      },
      appendDecision: async (id, d) => {
        db.prepare(
          "INSERT INTO decisions (execution_id, seq, approver, decision, justification, at, channel, accepted, reason) SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ?, ?, ?, ? FROM decisions WHERE execution_id = ?",
        ).run(id, d.approver, d.decision, d.justification, d.at, d.channel, d.accepted ? 1 : 0, d.reason, id);
      },
      decisions: async (id) => (db.prepare("SELECT * FROM decisions WHERE execution_id = ? ORDER BY seq").all(id) as Row[]).map(decisionOf),
      useOnce: async (kind, value, atMs) => db.prepare("INSERT INTO used_once (kind, value, used_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING").run(kind, value, atMs).changes === 1,
      enqueue: async (items: readonly OutboxItem[], atMs) => {
        const ins = db.prepare("INSERT INTO outbox (execution_id, channel, target, event, payload, created_at, next_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
        for (const i of items) ins.run(i.executionId, i.channel, i.target, i.event, i.payload, atMs, atMs);
      },
      audit: async (entries) => {
        if (entries.length > 0) this.auditSink?.appendSync([...entries]);
      },
      notifyChanged: async () => undefined,
    };
  }

  async get(id: string): Promise<ExecutionRow | undefined> {
    return this.serial(() => {
      const r = this.db.prepare("SELECT * FROM executions WHERE id = ?").get(id) as Row | undefined;
      return r ? execRow(r) : undefined;
    });
  }

  async transitions(id: string): Promise<Transition[]> {
    return this.serial(() => (this.db.prepare("SELECT * FROM transitions WHERE execution_id = ? ORDER BY seq").all(id) as Row[]).map(transitionOf));
  }

  async decisions(id: string): Promise<DecisionAttempt[]> {
    return this.serial(() => (this.db.prepare("SELECT * FROM decisions WHERE execution_id = ? ORDER BY seq").all(id) as Row[]).map(decisionOf));
  }

  async list(f: ListFilter): Promise<ExecutionRow[]> {
    return this.serial(() => {
      const where: string[] = [];
      const args: unknown[] = [];
      if (f.state) (where.push("state = ?"), args.push(f.state));
      if (f.before) (where.push("(created_at < ? OR (created_at = ? AND id < ?))"), args.push(f.before.createdAtMs, f.before.createdAtMs, f.before.id));
      const sql = `SELECT * FROM executions ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY created_at DESC, id DESC LIMIT ?`;
      return (this.db.prepare(sql).all(...args, f.limit) as Row[]).map(execRow);
    });
  }

  async states(ids: readonly string[]): Promise<Map<string, ExecutionState>> {
    if (ids.length === 0) return new Map();
    return this.serial(
      () => new Map((this.db.prepare(`SELECT id, state FROM executions WHERE id IN (${ids.map(() => "?").join(", ")})`).all(...ids) as Row[]).map((r) => [r["id"] as string, r["state"] as ExecutionState])),
    );
  }

  async countByState(): Promise<Record<string, number>> {
    return this.serial(() => Object.fromEntries((this.db.prepare("SELECT state, COUNT(*) AS n FROM executions GROUP BY state").all() as Row[]).map((r) => [r["state"] as string, Number(r["n"])])));
  }

  async expiredPending(nowMs: number, limit: number): Promise<ExecutionRow[]> {
    return this.serial(() => (this.db.prepare("SELECT * FROM executions WHERE state = 'pending' AND expires_at <= ? ORDER BY expires_at LIMIT ?").all(nowMs, limit) as Row[]).map(execRow));
  }

  async claimOutbox(nowMs: number, limit: number, leaseMs: number): Promise<OutboxRow[]> {
    return this.serial(() =>
      this.db.transaction(() => {
        const rows = this.db
          .prepare("SELECT * FROM outbox WHERE delivered_at IS NULL AND dead = 0 AND next_at <= ? AND (lease_until IS NULL OR lease_until < ?) ORDER BY id LIMIT ?")
          .all(nowMs, nowMs, limit) as Row[];
        const lease = this.db.prepare("UPDATE outbox SET lease_until = ?, attempts = attempts + 1 WHERE id = ?");
        for (const r of rows) lease.run(nowMs + leaseMs, r["id"]);
        return rows.map((r) => ({ ...outboxOf(r), attempts: Number(r["attempts"]) + 1 }));
      }).immediate(),
    );
  }

  async outboxDelivered(id: number, atMs: number): Promise<void> {
    await this.serial(() => this.db.prepare("UPDATE outbox SET delivered_at = ?, lease_until = NULL, last_error = NULL WHERE id = ?").run(atMs, id));
  }

  async outboxFailed(id: number, error: string, nextAtMs: number, dead: boolean): Promise<void> {
    await this.serial(() => this.db.prepare("UPDATE outbox SET next_at = ?, lease_until = NULL, last_error = ?, dead = ? WHERE id = ?").run(nextAtMs, error.slice(0, 500), dead ? 1 : 0, id));
  }

  async outboxStats(): Promise<{ pending: number; dead: number; delivered: number }> {
    return this.serial(() => {
      const r = this.db
        .prepare(
          "SELECT SUM(CASE WHEN delivered_at IS NULL AND dead = 0 THEN 1 ELSE 0 END) AS pending, SUM(dead) AS dead, SUM(CASE WHEN delivered_at IS NOT NULL THEN 1 ELSE 0 END) AS delivered FROM outbox",
        )
        .get() as Row;
      return { pending: Number(r["pending"] ?? 0), dead: Number(r["dead"] ?? 0), delivered: Number(r["delivered"] ?? 0) };
    });
  }

  async pruneOnce(kind: string, beforeMs: number): Promise<void> {
    await this.serial(() => this.db.prepare("DELETE FROM used_once WHERE kind = ? AND used_at < ?").run(kind, beforeMs));
  }

  onChange(): () => void {
    return () => undefined;
  }

  async auditCheckpoint(): Promise<void> {
    const sink = this.auditSink;
    if (sink?.checkpointSync) await this.serial(() => sink.checkpointSync!()); // on the queue: never inside another transaction
  }

  async ping(): Promise<StoreStatus> {
    try {
      await this.serial(() => this.db.prepare("SELECT 1").get());
      return { ok: true, message: `sqlite ${this.path}` };
    } catch (e) {
      return { ok: false, message: (e as Error).message };
    }
  }

  async close(): Promise<void> {
    await this.serial(() => {
      this.closed = true;
      this.db.close();
    }).catch(() => undefined);
  }
}
