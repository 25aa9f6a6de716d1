// Shared by test/http-authz.test.ts and test/nginx-e2e.test.ts: a sidecar
// with a bundle compiled here (throwaway key) serving the HTTP ext_authz mode
// on an ephemeral port, an HTTP client that sends request targets verbatim
// (undici Client: no URL normalization, so "/public/../admin" reaches the
// sidecar as written), a raw-socket client for bytes no client library sends,
// and a minimal approvals service (docs/sidecar.md, "Approvals protocol") for
// the defer path of a pause.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { Client } from "undici";
import { expect } from "vitest";
import { generateKeyPairPem, parsePrivateKeyPem } from "../../src/bundle/index.js";
import { Sidecar, sidecarOptions } from "../../src/executive/index.js";
import { compile } from "../../src/judicial/index.js";

/**
 * DEFAULT: DENY; one policy per behaviour the HTTP mode must carry: path
 * (normalized), headers, query, JSON body, host, method, ADVISORY and
 * REQUIRE_APPROVAL (by body and by header, the latter for nginx whose
 * subrequest has no body).
 */
export const AUTHZ_POLICIES = `
DEFAULT: DENY

POLICY root_get {
  SCOPE: requests WHERE request.path == "/"
  CONSTRAINT: request.method == "GET"
  ENFORCEMENT: BLOCKING
}

POLICY public_pages {
  SCOPE: requests WHERE request.path MATCHES "/public/**"
  CONSTRAINT: TRUE
  ENFORCEMENT: BLOCKING
}

POLICY news_pages {
  SCOPE: requests WHERE request.path MATCHES "/news/**"
  CONSTRAINT: TRUE
  ENFORCEMENT: BLOCKING
}

POLICY news_trace {
  SCOPE: requests WHERE request.path MATCHES "/news/**"
  CONSTRAINT: EXISTS request.headers["x-request-id"]
  ENFORCEMENT: ADVISORY
}

POLICY admin_role {
  SCOPE: requests WHERE request.path == "/admin" OR request.path MATCHES "/admin/**"
  CONSTRAINT: request.headers["x-role"] == "admin"
  ENFORCEMENT: BLOCKING
}

POLICY search_query {
  SCOPE: requests WHERE request.path == "/search"
  CONSTRAINT: request.query["q"] == "green tea" AND request.query["page"] == "1,2"
  ENFORCEMENT: BLOCKING
}

POLICY orders_need_body {
  SCOPE: requests WHERE request.path == "/orders"
  CONSTRAINT: EXISTS request.body.amount AND request.method == "POST"
  ENFORCEMENT: BLOCKING
}

POLICY big_orders_approval {
  SCOPE: requests WHERE request.path == "/orders"
  CONSTRAINT: request.body.amount <= 1000
  ENFORCEMENT: REQUIRE_APPROVAL
  APPROVAL: {
    APPROVERS: "finance"
    QUORUM: 1
    TIMEOUT: 1h
  }
}

POLICY orders_trace {
  SCOPE: requests WHERE request.path == "/orders"
  CONSTRAINT: EXISTS request.headers["x-request-id"]
  ENFORCEMENT: ADVISORY
}

POLICY shop_host {
  SCOPE: requests WHERE request.path MATCHES "/shop/**"
  CONSTRAINT: request.host == "shop.example"
  ENFORCEMENT: BLOCKING
}

POLICY items_no_delete {
  SCOPE: requests WHERE request.path MATCHES "/items/**"
  CONSTRAINT: request.method IN ["GET", "HEAD"]
  ENFORCEMENT: BLOCKING
}

POLICY headers_as_sent {
  SCOPE: requests WHERE request.path == "/headers"
  CONSTRAINT: request.headers["x-multi"] == "a,b" AND request.headers["x-utf8"] == "grüße" AND NOT EXISTS request.headers["x-original-uri"] AND NOT EXISTS request.headers["x-forwarded-method"]
  ENFORCEMENT: BLOCKING
}

POLICY transfers_approval {
  SCOPE: requests WHERE request.path MATCHES "/transfers/**"
  CONSTRAINT: request.headers["x-approved"] == "yes"
  ENFORCEMENT: REQUIRE_APPROVAL
  APPROVAL: {
    APPROVERS: "finance"
    QUORUM: 1
    TIMEOUT: 1h
  }
}
`;

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface AuthzFixture {
  dir: string;
  bundlePath: string;
  pubPath: string;
  /** Start a sidecar on ephemeral ports with this fixture's bundle and key. */
  start(raw?: Record<string, unknown>): Promise<Sidecar>;
  /** Stop every sidecar started here and remove the directory. */
  close(): Promise<void>;
}

/** Compile AUTHZ_POLICIES into a signed bundle in a temp dir. */
export async function authzFixture(): Promise<AuthzFixture> {
  const dir = mkdtempSync(join(tmpdir(), "aecp-http-authz-"));
  const key = generateKeyPairPem();
  const pubPath = join(dir, "aecp.pub");
  writeFileSync(pubPath, key.publicPem);
  const r = await compile([{ path: "authz.policy", text: AUTHZ_POLICIES }], { name: "http-authz", key: parsePrivateKeyPem(key.privatePem) });
  expect(r.diagnostics.filter((d) => d.severity === "error"), JSON.stringify(r.diagnostics)).toEqual([]);
  const bundlePath = join(dir, "authz.bundle");
  writeFileSync(bundlePath, r.bundle!);
  const started: Sidecar[] = [];
  return {
    dir,
    bundlePath,
    pubPath,
    async start(raw = {}) {
      const s = new Sidecar(sidecarOptions({ bundle: bundlePath, pub: [pubPath], grpc: ["127.0.0.1:0"], http: "127.0.0.1:0", ...raw }));
      started.push(s);
      await s.start();
      return s;
    },
    async close() {
      await Promise.all(started.map((s) => s.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** host:port of a sidecar's HTTP listener. */
export function httpAddress(s: Sidecar): string {
  const a = s.status().listening.http;
  expect(a).toMatch(/^127\.0\.0\.1:[1-9]\d*$/);
  return a!;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface SendOptions {
  method?: string;
  headers?: Record<string, string | string[]>;
  body?: string | Uint8Array;
}

const clients = new Map<string, Client>();

/** Send one request with `path` exactly as given (no client-side normalization). */
export async function send(origin: string, path: string, o: SendOptions = {}): Promise<HttpAnswer> {
  let c = clients.get(origin);
  if (!c) clients.set(origin, (c = new Client(origin)));
  const r = await c.request({ path, method: (o.method ?? "GET") as "GET", headers: o.headers ?? {}, body: o.body ?? null });
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers)) headers[k] = Array.isArray(v) ? v.join(",") : (v ?? "");
  return { status: r.statusCode, headers, body: await r.body.text() };
}

export async function closeClients(): Promise<void> {
  await Promise.all([...clients.values()].map((c) => c.close()));
  clients.clear();
}

/**
 * Write raw bytes to host:port and read until the server closes (or
 * `timeoutMs`). Returns the status code of the first response (0 if none) and
 * the whole text received.
 */
export function rawRequest(address: string, bytes: Uint8Array, timeoutMs = 5_000): Promise<{ status: number; text: string }> {
  const i = address.lastIndexOf(":");
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const sock = connect(Number(address.slice(i + 1)), address.slice(0, i));
    const done = (): void => {
      clearTimeout(timer);
      sock.destroy();
      const text = Buffer.concat(chunks).toString("latin1");
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : 0, text });
    };
    const timer = setTimeout(done, timeoutMs);
    sock.on("connect", () => sock.write(bytes));
    sock.on("data", (d: Buffer) => chunks.push(d));
    sock.on("error", done);
    sock.on("close", done);
  });
}

/** The JSON body of a response that is not an allow, with the contract every such body meets. */
export function deniedBody(a: HttpAnswer): Record<string, unknown> {
  expect(a.headers["content-type"]).toBe("application/json");
  expect(a.headers["cache-control"]).toBe("no-store");
  const body = JSON.parse(a.body) as Record<string, unknown>;
  expect(body["decision_id"]).toMatch(UUID);
  expect(a.headers["x-aecp-decision-id"]).toBe(body["decision_id"]);
  // the reason code, also for bodies without one (a deferred pause: AECP_APPROVAL_PENDING)
  if (body["reason"] !== undefined) expect(a.headers["x-aecp-reason"]).toBe(body["reason"]);
  else expect(a.headers["x-aecp-reason"]).toMatch(/^AECP_[A-Z_]+$/);
  return body;
}

// ---------------------------------------------------------------------------
// A minimal approvals service (the protocol of src/executive/approvals-client.ts)
// ---------------------------------------------------------------------------

interface Execution {
  id: string;
  fingerprint: string;
  state: "pending" | "approved" | "executed";
  location: string;
}

export interface FakeApprovals {
  url: string;
  executions: Map<string, Execution>;
  /** A human approves execution `id`. */
  approve(id: string): void;
  close(): Promise<void>;
}

export async function fakeApprovals(): Promise<FakeApprovals> {
  const executions = new Map<string, Execution>();
  const ref = (e: Execution) => ({ id: e.id, state: e.state, location: e.location });
  const reply = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (d: string) => (text += d));
    req.on("end", () => {
      const body = (text === "" ? {} : JSON.parse(text)) as { fingerprint?: string };
      const url = req.url ?? "";
      if (req.method === "POST" && url === "/v1/executions") {
        const open = [...executions.values()].find((e) => e.fingerprint === body.fingerprint && e.state !== "executed");
        if (open) return reply(res, 200, ref(open));
        const id = `ex-${executions.size + 1}`;
        const e: Execution = { id, fingerprint: body.fingerprint ?? "", state: "pending", location: `https://approvals.example/executions/${id}` };
        executions.set(id, e);
        return reply(res, 201, ref(e));
      }
      const m = /^\/v1\/executions\/([^/?]+)(\/consume)?/.exec(url);
      const e = m ? executions.get(decodeURIComponent(m[1]!)) : undefined;
      if (!e) return reply(res, 404, { outcome: "not_found" });
      if (m![2] === undefined) return reply(res, 200, ref(e));
      if (e.fingerprint !== body.fingerprint) return reply(res, 409, { outcome: "mismatch" });
      if (e.state === "pending") return reply(res, 409, { outcome: "pending", execution: ref(e) });
      if (e.state === "executed") return reply(res, 409, { outcome: "already_consumed" });
      e.state = "executed";
      return reply(res, 200, { outcome: "consumed", execution: ref(e) });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    executions,
    approve(id) {
      executions.get(id)!.state = "approved";
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
