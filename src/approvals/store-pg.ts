// The replicated store: PostgreSQL through a `pg` Pool, for running several
// approvals service instances over one database.
//
// Concurrency: a decision locks the execution row (SELECT … FOR UPDATE) and
// then changes it with compare-and-set on `version`; creation takes a
// transaction-scoped advisory lock on the fingerprint (and a partial unique
// index backs it up). Migrations run under a session advisory lock, so
// instances starting together apply each version once. State changes NOTIFY
// `aecp_approvals` with the execution id at commit; every instance LISTENs on
// one dedicated connection and wakes its long polls (cross-instance
// decision-to-release latency is a NOTIFY, not a poll period).

import pg from "pg";
import { AecpError } from "../common/index.js";
import type { DecisionAttempt, Transition } from "./model.js";
import { MIGRATIONS, MIGRATIONS_TABLE_SQL } from "./migrations.js";
import type { ApprovalsStore, AuditEntryInput, ExecutionRow, ListFilter, OutboxRow, StoreStatus, StoreTx } from "./store.js";
import { decisionOf, outboxOf, transitionOf } from "./store-sqlite.js";

/** The audit log's PostgreSQL side (src/audit PgAuditLog satisfies it). */
export interface PgAuditSink {
  migrate(): Promise<void>;
  /** Called inside the caller's BEGIN … COMMIT on `client`. */
  append(client: pg.PoolClient, entries: AuditEntryInput[]): Promise<number[]>;
  /** Signs a checkpoint of the current tree (src/audit PgAuditLog). Optional. */
  checkpoint?(): Promise<unknown>;
}

export interface PgStoreOptions {
  /** Schema to use (search_path), created when missing. Default: the server's default search_path. */
  schema?: string;
  /** Pool size. Default 10. */
  maxConnections?: number;
  audit?: (pool: pg.Pool) => PgAuditSink;
}

const CHANNEL = "aecp_approvals";
const SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/;

type Row = Record<string, unknown>;

function execRow(r: Row): ExecutionRow {
  return {
    id: r["id"] as string,
    fingerprint: r["fingerprint"] as string,
    state: r["state"] as ExecutionRow["state"],
    version: Number(r["version"]),
    requester: (r["requester"] as string | null) ?? null,
    createdAtMs: Number(r["created_at"]),
    expiresAtMs: Number(r["expires_at"]),
    updatedAtMs: Number(r["updated_at"]),
    consumedAtMs: r["consumed_at"] === null ? null : Number(r["consumed_at"]),
    proposal: JSON.parse(r["proposal"] as string) as ExecutionRow["proposal"],
    grant: (r["grant_json"] as string | null) ?? null,
  };
}

function storeFailed(e: unknown): AecpError {
  return e instanceof AecpError ? e : new AecpError("AECP_STORE_FAILED", `approvals database (PostgreSQL) failed: ${(e as Error).message}`, { cause: e });
}

export class PgStore implements ApprovalsStore {
  readonly kind = "postgres" as const;
  readonly pool: pg.Pool;
  private readonly schema: string | undefined;
  private readonly auditSink: PgAuditSink | undefined;
  private readonly listeners = new Set<(id: string) => void>();
  private listenClient: pg.PoolClient | undefined;
  private listening: Promise<void> | undefined;
  private closed = false;

  constructor(connectionString: string, opts: PgStoreOptions = {}) {
    if (opts.schema !== undefined && !SCHEMA.test(opts.schema)) throw new AecpError("AECP_CONFIG_INVALID", `PostgreSQL schema \`${opts.schema}\` must match ${SCHEMA.source}`);
    this.schema = opts.schema;
    const search = this.schema ? { options: `-c search_path=${this.schema}` } : {};
    this.pool = new pg.Pool({ connectionString, max: opts.maxConnections ?? 10, ...search });
    // an idle client's network error must not crash the process; the next query reports it
    this.pool.on("error", () => undefined);
    this.auditSink = opts.audit?.(this.pool);
  }

  private async q(sql: string, args: unknown[] = [], client?: pg.PoolClient): Promise<Row[]> {
    try {
      return (await (client ?? this.pool).query(sql, args)).rows as Row[];
    } catch (e) {
      throw storeFailed(e);
    }
  }

  async migrate(): Promise<void> {
    let c: pg.PoolClient;
    try {
      c = await this.pool.connect();
    } catch (e) {
      throw storeFailed(e);
    }
    try {
      // the lock first: CREATE SCHEMA IF NOT EXISTS itself races between instances starting together
      await this.q("SELECT pg_advisory_lock(hashtext('aecp_approvals_migrate'))", [], c);
      try {
        if (this.schema) await this.q(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`, [], c);
        await this.q(MIGRATIONS_TABLE_SQL, [], c);
        const done = new Set((await this.q("SELECT version FROM approvals_migrations", [], c)).map((r) => Number(r["version"])));
        for (const m of MIGRATIONS) {
          if (done.has(m.version)) continue;
          await this.q("BEGIN", [], c);
          try {
            await this.q(m.postgres, [], c);
            await this.q("INSERT INTO approvals_migrations (version, name, applied_at) VALUES ($1, $2, $3)", [m.version, m.name, Date.now()], c);
            await this.q("COMMIT", [], c);
          } catch (e) {
            await c.query("ROLLBACK").catch(() => undefined);
            throw e;
          }
        }
      } finally {
        await c.query("SELECT pg_advisory_unlock(hashtext('aecp_approvals_migrate'))").catch(() => undefined);
      }
    } finally {
      c.release();
    }
    await this.auditSink?.migrate();
  }

  async migrations(): Promise<number[]> {
    return (await this.q("SELECT version FROM approvals_migrations ORDER BY version")).map((r) => Number(r["version"]));
  }

  async tx<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    let c: pg.PoolClient;
    try {
      c = await this.pool.connect();
    } catch (e) {
      throw storeFailed(e);
    }
    let broken = false;
    try {
      await this.q("BEGIN", [], c);
      const result = await fn(this.txOps(c));
      await this.q("COMMIT", [], c);
      return result;
    } catch (e) {
      await c.query("ROLLBACK").catch(() => {
        broken = true;
      });
      throw e;
    } finally {
      c.release(broken);
    }
  }

  private txOps(c: pg.PoolClient): StoreTx {
    const q = (sql: string, args: unknown[] = []) => this.q(sql, args, c);
    return {
      lockExecution: async (id) => {
        const r = (await q("SELECT * FROM executions WHERE id = $1 FOR UPDATE", [id]))[0];
        return r ? execRow(r) : undefined;
      },
      lockFingerprint: async (fp) => {
        await q("SELECT pg_advisory_xact_lock(hashtext($1))", [fp]);
      },
      findOpen: async (fp) => {
        const r = (await q("SELECT * FROM executions WHERE fingerprint = $1 AND state IN ('pending', 'approved', 'overridden')", [fp]))[0];
        return r ? execRow(r) : undefined;
      },
      insertExecution: async (e) => {
        await q(
          "INSERT INTO executions (id, fingerprint, state, version, requester, created_at, expires_at, updated_at, proposal) VALUES ($1, $2, 'pending', 1, $3, $4, $5, $4, $6)",
          [e.id, e.fingerprint, e.requester, e.createdAtMs, e.expiresAtMs, JSON.stringify(e.proposal)],
        );
      },
      casState: async (id, fromVersion, state, atMs, extra) => {
        const r = await q(
          "UPDATE executions SET state = $1, version = version + 1, updated_at = $2, consumed_at = COALESCE($3, consumed_at), grant_json = COALESCE($4, grant_json) WHERE id = $5 AND version = $6 RETURNING id",
          [state, atMs, extra?.consumedAtMs ?? null, extra?.grant ?? null, id, fromVersion],
        );
        return r.length === 1;
      },
      appendTransition: async (id, t) => {
        await q("INSERT INTO transitions (execution_id, seq, state, at, actor, justification) SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5 FROM transitions WHERE execution_id = $1", [
          id,
          t.state,
          t.at,
          t.actor,
          t.justification ?? null,
        ]);
      },
      appendDecision: async (id, d) => {
        await q(
          "INSERT INTO decisions (execution_id, seq, approver, decision, justification, at, channel, accepted, reason) SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5, $6, $7, $8 FROM decisions WHERE execution_id = $1",
          [id, d.approver, d.decision, d.justification, d.at, d.channel, d.accepted ? 1 : 0, d.reason],
        );
      },
      decisions: async (id) => (await q("SELECT * FROM decisions WHERE execution_id = $1 ORDER BY seq", [id])).map(decisionOf),
      useOnce: async (kind, value, atMs) => (await q("INSERT INTO used_once (kind, value, used_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING kind", [kind, value, atMs])).length === 1,
      enqueue: async (items, atMs) => {
        for (const i of items) {
          await q("INSERT INTO outbox (execution_id, channel, target, event, payload, created_at, next_at) VALUES ($1, $2, $3, $4, $5, $6, $6)", [
            i.executionId,
            i.channel,
            i.target,
            i.event,
            i.payload,
            atMs,
          ]);
        }
      },
      audit: async (entries) => {
        if (entries.length > 0 && this.auditSink) {
          try {
            await this.auditSink.append(c, [...entries]);
          } catch (e) {
            throw storeFailed(e);
          }
        }
      },
      notifyChanged: async (id) => {
        await q("SELECT pg_notify($1, $2)", [CHANNEL, id]);
      },
    };
  }

  async get(id: string): Promise<ExecutionRow | undefined> {
    const r = (await this.q("SELECT * FROM executions WHERE id = $1", [id]))[0];
    return r ? execRow(r) : undefined;
  }

  async transitions(id: string): Promise<Transition[]> {
    return (await this.q("SELECT * FROM transitions WHERE execution_id = $1 ORDER BY seq", [id])).map(transitionOf);
  }

  async decisions(id: string): Promise<DecisionAttempt[]> {
    return (await this.q("SELECT * FROM decisions WHERE execution_id = $1 ORDER BY seq", [id])).map(decisionOf);
  }

  async list(f: ListFilter): Promise<ExecutionRow[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (f.state) (args.push(f.state), where.push(`state = $${args.length}`));
    if (f.before) {
      args.push(f.before.createdAtMs, f.before.id);
      where.push(`(created_at < $${args.length - 1} OR (created_at = $${args.length - 1} AND id < $${args.length}))`);
    }
    args.push(f.limit);
    return (await this.q(`SELECT * FROM executions ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY created_at DESC, id DESC LIMIT $${args.length}`, args)).map(execRow);
  }

  async states(ids: readonly string[]): Promise<Map<string, ExecutionRow["state"]>> {
    if (ids.length === 0) return new Map();
    return new Map((await this.q("SELECT id, state FROM executions WHERE id = ANY($1)", [ids])).map((r) => [r["id"] as string, r["state"] as ExecutionRow["state"]]));
  }

  async countByState(): Promise<Record<string, number>> {
    return Object.fromEntries((await this.q("SELECT state, COUNT(*) AS n FROM executions GROUP BY state")).map((r) => [r["state"] as string, Number(r["n"])]));
  }

  async expiredPending(nowMs: number, limit: number): Promise<ExecutionRow[]> {
    return (await this.q("SELECT * FROM executions WHERE state = 'pending' AND expires_at <= $1 ORDER BY expires_at LIMIT $2", [nowMs, limit])).map(execRow);
  }

  async claimOutbox(nowMs: number, limit: number, leaseMs: number): Promise<OutboxRow[]> {
    const rows = await this.q(
      `UPDATE outbox SET lease_until = $2, attempts = attempts + 1 WHERE id IN (
         SELECT id FROM outbox WHERE delivered_at IS NULL AND dead = 0 AND next_at <= $1 AND (lease_until IS NULL OR lease_until < $1)
         ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING *`,
      [nowMs, nowMs + leaseMs, limit],
    );
    return rows.map(outboxOf).sort((a, b) => a.id - b.id);
  }

  async outboxDelivered(id: number, atMs: number): Promise<void> {
    await this.q("UPDATE outbox SET delivered_at = $1, lease_until = NULL, last_error = NULL WHERE id = $2", [atMs, id]);
  }

  async outboxFailed(id: number, error: string, nextAtMs: number, dead: boolean): Promise<void> {
    await this.q("UPDATE outbox SET next_at = $1, lease_until = NULL, last_error = $2, dead = $3 WHERE id = $4", [nextAtMs, error.slice(0, 500), dead ? 1 : 0, id]);
  }

  async outboxStats(): Promise<{ pending: number; dead: number; delivered: number }> {
    const r = (
      await this.q(
        "SELECT COUNT(*) FILTER (WHERE delivered_at IS NULL AND dead = 0) AS pending, COUNT(*) FILTER (WHERE dead = 1) AS dead, COUNT(*) FILTER (WHERE delivered_at IS NOT NULL) AS delivered FROM outbox",
      )
    )[0]!;
    return { pending: Number(r["pending"]), dead: Number(r["dead"]), delivered: Number(r["delivered"]) };
  }

  async pruneOnce(kind: string, beforeMs: number): Promise<void> {
    await this.q("DELETE FROM used_once WHERE kind = $1 AND used_at < $2", [kind, beforeMs]);
  }

  onChange(listener: (id: string) => void): () => void {
    this.listeners.add(listener);
    if (!this.listening) this.listening = this.listen().catch(() => (this.listening = undefined));
    return () => this.listeners.delete(listener);
  }

  private async listen(): Promise<void> {
    const c = await this.pool.connect();
    this.listenClient = c;
    c.on("notification", (n) => {
      if (n.channel !== CHANNEL || !n.payload) return;
      for (const l of this.listeners) l(n.payload);
    });
    c.on("error", () => {
      // reconnect on the next onChange; long polls fall back to their periodic check meanwhile
      this.listenClient = undefined;
      this.listening = undefined;
    });
    await c.query(`LISTEN ${CHANNEL}`);
  }

  async auditCheckpoint(): Promise<void> {
    await this.auditSink?.checkpoint?.();
  }

  /** Resolves once LISTEN is active (tests and the service start wait for it). */
  async ready(): Promise<void> {
    await this.listening;
  }

  async ping(): Promise<StoreStatus> {
    try {
      await this.q("SELECT 1");
      return { ok: true, message: `postgres${this.schema ? ` schema ${this.schema}` : ""}` };
    } catch (e) {
      return { ok: false, message: (e as Error).message };
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listenClient?.release(true);
    this.listenClient = undefined;
    await this.pool.end().catch(() => undefined);
  }
}
