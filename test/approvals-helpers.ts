// Shared fixtures of the approvals tests: a config, pause requests, the two
// stores (SQLite in a temp dir; PostgreSQL at 127.0.0.1:5432 in a schema of
// its own, dropped afterwards) and the PostgreSQL availability check (skip
// with a printed reason, but FAIL when CI=true — as test/nginx-e2e.test.ts).

import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { request } from "undici";
import { ApprovalsApp, approvalsOptions, PgStore, SqliteStore, type ApprovalsOptions, type ApprovalsStore } from "../src/approvals/index.js";

import { PG_URL } from "./helpers/pg.js";
export { ON_CI, PG_URL, pgUnavailable } from "./helpers/pg.js";
import { freePort } from "./helpers/net.js";
export { freePort };

export function uniqueSchema(prefix = "aecp_t"): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString("hex")}`;
}

export async function dropSchema(schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await c.end();
  }
}

export const TOKENS = {
  service: "svc-token-0123456789abcdef",
  alice: "alice-token-0123456789abcdef",
  bob: "bob-token-0123456789abcdef01",
  carol: "carol-token-0123456789abcdef",
  mallory: "mallory-token-0123456789abcd",
  root: "root-token-0123456789abcdef01",
};

export const REQUESTER = "spiffe://cluster.local/ns/agents/sa/agent-deployer";

export function testConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    public_url: "http://127.0.0.1:8282",
    service_tokens: [TOKENS.service],
    link_secret: "link-secret-for-tests-0123456789abcdef",
    approvers: [
      { id: "alice", token: TOKENS.alice, groups: ["sre-oncall"], roles: [], slack_user_id: "UALICE" },
      { id: "bob", token: TOKENS.bob, groups: ["platform"], roles: [], slack_user_id: "UBOB" },
      { id: "carol", token: TOKENS.carol, groups: ["sre-oncall", "platform"], roles: [] },
      { id: "mallory", token: TOKENS.mallory, groups: ["finance"], roles: [] },
      // the agent's own principal maps to this approver: it must never approve its own request
      { id: "root", token: TOKENS.root, groups: ["sre-oncall", "platform"], roles: ["override"], principals: [REQUESTER] },
    ],
    ...extra,
  };
}

export function testOptions(extra: Record<string, unknown> = {}): ApprovalsOptions {
  return approvalsOptions(testConfig(extra));
}

/** A PauseRequest as the sidecar sends it; `seed` makes the fingerprint unique. */
export function pauseRequest(seed: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    fingerprint: `sha256:${createHash("sha256").update(seed).digest("hex")}`,
    decision_id: `d-${seed}`,
    bundle: { name: "pause", digest: `sha256:${"ab".repeat(32)}`, revision: null },
    policies: [{ policy: "prod_config_change", approvers: ["sre-oncall", "platform"], quorum: 2, timeout_ms: 900_000, exceptions: ["emergency_change"] }],
    violations: [{ policy: "prod_config_change", enforcement: "REQUIRE_APPROVAL" }],
    request: { method: "PUT", authority: "config.internal", path: "/config/feature-flags", query: {}, body_sha256: "0".repeat(64), headers: { "content-type": "application/json" }, body: { flag: "on" } },
    requester: REQUESTER,
    trace_id: null,
    input: { method: "PUT", path: "/config/feature-flags" },
    ...over,
  };
}

export interface Backend {
  name: "sqlite" | "postgres";
  /** A fresh, migrated store; `share` = another store over the same database (a second instance). */
  open(): Promise<ApprovalsStore>;
  share(): Promise<ApprovalsStore>;
  cleanup(): Promise<void>;
}

/** A backend over one database: every store it opens is migrated, closed at cleanup, then `teardown` drops the database. */
function backend(name: Backend["name"], make: () => ApprovalsStore, teardown: () => void | Promise<void>): Backend {
  const opened: ApprovalsStore[] = [];
  return {
    name,
    async open() {
      const s = make();
      await s.migrate();
      opened.push(s);
      return s;
    },
    async share() {
      return this.open();
    },
    async cleanup() {
      for (const s of opened) await s.close();
      await teardown();
    },
  };
}

export function sqliteBackend(): Backend {
  const dir = mkdtempSync(join(tmpdir(), "aecp-approvals-"));
  const file = join(dir, "approvals.db");
  return backend("sqlite", () => new SqliteStore(file), () => rmSync(dir, { recursive: true, force: true }));
}

export function pgBackend(): Backend {
  const schema = uniqueSchema();
  return backend("postgres", () => new PgStore(PG_URL, { schema, maxConnections: 12 }), () => dropSchema(schema));
}

// ---------------------------------------------------------------------------
// a running service (in process) and an HTTP client for it



export interface RunningApp {
  app: ApprovalsApp;
  url: string;
  dir: string;
  db: string;
  stop(): Promise<void>;
}

/** Start a service on SQLite in a temp dir (or on `db`), public_url = its own address. */
export async function startApp(extra: Record<string, unknown> = {}, o: { db?: string; pgSchema?: string; dir?: string } = {}): Promise<RunningApp> {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), "aecp-approvals-app-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const db = o.db ?? join(dir, "approvals.db");
  let app: ApprovalsApp;
  try {
    app = await ApprovalsApp.start({ db, listen: `127.0.0.1:${port}`, options: approvalsOptions(testConfig({ public_url: url, ...extra }), dir), ...(o.pgSchema ? { pgSchema: o.pgSchema } : {}) });
  } catch (e) {
    if (!o.dir) rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    app,
    url,
    dir,
    db,
    async stop() {
      await app.stop();
      if (!o.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Answer {
  status: number;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
  headers: Record<string, string | string[] | undefined>;
}

export async function call(method: string, url: string, o: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  if (o.token) headers["authorization"] = `Bearer ${o.token}`;
  let body: string | undefined;
  if (o.raw !== undefined) body = o.raw;
  else if (o.body !== undefined) {
    body = JSON.stringify(o.body);
    headers["content-type"] = "application/json";
  }
  const res = await request(url, { method: method as "GET", headers, body: body ?? null });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, json, text, headers: res.headers };
}
