// Composition of one approvals service instance: store (SQLite file or
// PostgreSQL URL) + the audit log in the same database + service core +
// outbox notifier + HTTP server + periodic signed audit checkpoints.
//
// Start order: open store → migrate (approvals, then audit tables) → service
// (sweeper, change subscription) → notifier → HTTP listener (ready).
// Stop order: HTTP closed (no new work) → service (long polls released) →
// notifier drained → last checkpoint → store closed.

import Database from "better-sqlite3";
import { AecpError } from "../common/index.js";
import { PgAuditLog, SqliteAuditLog, auditRoutes } from "../audit/index.js";
import type { ApprovalsOptions } from "./options.js";
import { ApprovalsService } from "./service.js";
import { Notifier } from "./notifier.js";
import { ApprovalsHttp } from "./server.js";
import { SqliteStore } from "./store-sqlite.js";
import { PgStore } from "./store-pg.js";
import type { ApprovalsStore } from "./store.js";
import { ApprovalsTelemetry } from "./telemetry.js";

export interface ApprovalsAppConfig {
  /** SQLite file path, or a postgres:// / postgresql:// URL. Default "approvals.db". */
  db: string;
  /** host:port. Default "127.0.0.1:8282". */
  listen: string;
  options: ApprovalsOptions;
  /** PostgreSQL schema (tests, several deployments in one database). Default: the search_path. */
  pgSchema?: string;
  /** Period of signed audit checkpoints when the tree grew, ms. Default 10,000; needs `audit_key` or `grant_key`. */
  checkpointIntervalMs?: number;
  /** Injected clock for business time (tests). */
  now?: () => number;
}

export const APPROVALS_LISTEN_DEFAULT = "127.0.0.1:8282";
export const APPROVALS_DB_DEFAULT = "approvals.db";

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(listen);
  if (!m || Number(m[2]) > 65535) throw new AecpError("AECP_CONFIG_INVALID", `listen address \`${listen}\` must be host:port`);
  return { host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]) };
}

export const isPostgresUrl = (db: string): boolean => /^postgres(ql)?:\/\//.test(db);

export class ApprovalsApp {
  private checkpointTimer: NodeJS.Timeout | undefined;
  private readerDb: Database.Database | undefined;
  private telemetry: ApprovalsTelemetry | undefined;
  url = "";

  private constructor(
    readonly store: ApprovalsStore,
    readonly service: ApprovalsService,
    readonly notifier: Notifier,
    readonly http: ApprovalsHttp,
  ) {}

  static async start(c: ApprovalsAppConfig): Promise<ApprovalsApp> {
    const { host, port } = parseListen(c.listen);
    const signingKey = c.options.auditKey;
    const auditOpts = signingKey ? { signingKey } : {};
    let store: ApprovalsStore;
    let readerDb: Database.Database | undefined;
    let reader: SqliteAuditLog | PgAuditLog;
    if (isPostgresUrl(c.db)) {
      let log: PgAuditLog | undefined;
      const pgStore = new PgStore(c.db, {
        ...(c.pgSchema ? { schema: c.pgSchema } : {}),
        audit: (pool) => (log = new PgAuditLog(pool, { ...auditOpts, ...(c.pgSchema ? { schema: c.pgSchema } : {}) })),
      });
      store = pgStore;
      reader = log!;
    } else {
      store = new SqliteStore(c.db, { audit: (db) => new SqliteAuditLog(db, auditOpts) });
    }
    try {
      await store.migrate();
      if (store instanceof SqliteStore) {
        // audit reads on their own read-only connection: they must never see
        // a write transaction of the service in progress on its connection
        readerDb = new Database(c.db, { readonly: true, fileMustExist: true });
        reader = new SqliteAuditLog(readerDb, {});
      }
    } catch (e) {
      await store.close();
      throw e;
    }
    const service = new ApprovalsService(store, c.options, c.now);
    const notifier = new Notifier(store, service, c.options);
    service.onOutbox = () => notifier.kick();
    let http: ApprovalsHttp | undefined = undefined;
    const auditHandler = auditRoutes(reader!, {
      authorize: (req) => http!.authorizeRead(req),
      authorizeCheckpoint: (req) => http!.authorizeService(req),
      ...(signingKey ? { checkpoint: async () => (await store.auditCheckpoint(), (await reader!.latestCheckpoint())!) } : {}),
    });
    const telemetry = c.options.telemetry.otlpEndpoint ? await ApprovalsTelemetry.start(c.options.telemetry) : undefined;
    http = new ApprovalsHttp({ service, notifier, audit: auditHandler, ...(telemetry ? { telemetry } : {}) });
    const app = new ApprovalsApp(store, service, notifier, http);
    app.telemetry = telemetry;
    app.readerDb = readerDb;
    service.start();
    notifier.start();
    if (signingKey) {
      app.checkpointTimer = setInterval(() => void store.auditCheckpoint().catch(() => undefined), c.checkpointIntervalMs ?? 10_000);
      app.checkpointTimer.unref();
    }
    try {
      const addr = await http.listen(host, port);
      app.url = `http://${addr.family === "IPv6" ? `[${addr.address}]` : addr.address}:${addr.port}`;
    } catch (e) {
      await app.stop();
      throw new AecpError("AECP_IO", `cannot listen on ${c.listen}: ${(e as Error).message}`, { cause: e });
    }
    return app;
  }

  async stop(): Promise<void> {
    clearInterval(this.checkpointTimer);
    await this.http?.close();
    this.service.stop();
    await this.notifier.stop();
    if (this.checkpointTimer) await this.store.auditCheckpoint().catch(() => undefined);
    this.readerDb?.close();
    await this.store.close();
    await this.telemetry?.shutdown().catch(() => undefined);
    this.telemetry = undefined;
  }
}
