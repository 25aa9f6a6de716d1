// Pause (REQUIRE_APPROVAL) in the sidecar: defer and hold modes, the
// fingerprint-bound single-use retry, fail-closed when the approvals service
// is down — with an in-memory approvals double (the service itself is issue
// 5) — and the HTTP approvals client against a loopback server speaking the
// documented protocol.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { generateKeyPairPem, parsePrivateKeyPem } from "../src/bundle/index.js";
import { AecpError } from "../src/common/index.js";
import {
  Sidecar,
  attributesFromCheckRequestJson,
  envoyAuthPackageDefinition,
  sidecarOptions,
  type CheckOutcome,
} from "../src/executive/index.js";
import { HttpApprovalsClient, type ApprovalsClient, type ConsumeResult, type ExecutionRef, type ExecutionState, type PauseRequest } from "../src/executive/approvals-client.js";
import { requestFingerprint } from "../src/executive/fingerprint.js";
import { compile } from "../src/judicial/index.js";

/** The approvals service, in memory: what the sidecar relies on, nothing more. */
class FakeApprovals implements ApprovalsClient {
  executions = new Map<string, { state: ExecutionState; fingerprint: string; req: PauseRequest }>();
  created = 0;
  down = false;
  private waiters = new Map<string, Array<() => void>>();

  private check(): void {
    if (this.down) throw new AecpError("AECP_APPROVALS_UNAVAILABLE", "approvals service unreachable (test)");
  }
  private ref(id: string): ExecutionRef {
    return { id, state: this.executions.get(id)!.state, location: `http://127.0.0.1:8282/executions/${id}` };
  }
  async create(req: PauseRequest): Promise<ExecutionRef> {
    this.check();
    for (const [id, e] of this.executions) if (e.fingerprint === req.fingerprint && e.state === "pending") return this.ref(id);
    const id = `ex-${++this.created}`;
    this.executions.set(id, { state: "pending", fingerprint: req.fingerprint, req });
    return this.ref(id);
  }
  async consume(id: string, fingerprint: string): Promise<ConsumeResult> {
    this.check();
    const e = this.executions.get(id);
    if (!e) return { outcome: "not_found" };
    if (e.fingerprint !== fingerprint) return { outcome: "mismatch", execution: this.ref(id) };
    if (e.state === "approved" || e.state === "overridden") {
      e.state = "executed"; // compare-and-set: single use
      return { outcome: "consumed", execution: this.ref(id) };
    }
    if (e.state === "executed") return { outcome: "already_consumed" };
    return { outcome: e.state as "pending" | "rejected" | "expired" | "cancelled", execution: this.ref(id) };
  }
  async wait(id: string, timeoutMs: number): Promise<ExecutionRef> {
    this.check();
    if (this.executions.get(id)!.state === "pending") {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, timeoutMs);
        this.waiters.set(id, [...(this.waiters.get(id) ?? []), () => (clearTimeout(t), resolve())]);
      });
    }
    return this.ref(id);
  }
  decide(id: string, state: ExecutionState): void {
    this.executions.get(id)!.state = state;
    for (const w of this.waiters.get(id) ?? []) w();
    this.waiters.delete(id);
  }
  async close(): Promise<void> {}
}

const POLICIES = `
POLICY prod_config_change {
  SCOPE: requests WHERE request.method IN ["PUT", "POST"] AND request.path STARTS_WITH "/config/"
  ENFORCEMENT: REQUIRE_APPROVAL
  EXCEPTION: incident_break_glass
  APPROVAL: { APPROVERS: "sre-oncall", "platform" QUORUM: 2 TIMEOUT: 15m }
}
POLICY no_secrets {
  SCOPE: requests WHERE request.path STARTS_WITH "/secrets/"
  ENFORCEMENT: BLOCKING
}
`;

let dir: string;
let bundlePath: string;
let pubPath: string;
const started: Sidecar[] = [];

async function sidecar(fake: ApprovalsClient | undefined, extra: Record<string, unknown> = {}): Promise<Sidecar> {
  const s = new Sidecar(sidecarOptions({ bundle: bundlePath, pub: [pubPath], grpc: ["127.0.0.1:0"], http: "127.0.0.1:0", ...extra }), fake ? { approvals: fake } : {});
  started.push(s);
  await s.start();
  return s;
}

function req(over: { method?: string; path?: string; headers?: Record<string, string>; body?: string } = {}) {
  return attributesFromCheckRequestJson({
    attributes: {
      source: { principal: "spiffe://cluster.local/ns/agents/sa/agent-deployer" },
      request: {
        http: {
          method: over.method ?? "PUT",
          path: over.path ?? "/config/feature-flags",
          host: "config.internal",
          headers: { "content-type": "application/json", "x-request-id": "r-1", ...(over.headers ?? {}) },
          body: over.body ?? '{"flag":"on"}',
        },
      },
    },
  });
}

const header = (o: CheckOutcome, k: string) => o.headers.find(([n]) => n === k)?.[1];
const reason = (o: CheckOutcome) => (o.body ? (JSON.parse(o.body) as { reason?: string }).reason : o.metadata["aecp_reason"]);

async function check(s: Sidecar, attrs = req()): Promise<CheckOutcome> {
  return s.settle(s.decide(attrs));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "aecp-pause-"));
  const kp = generateKeyPairPem();
  pubPath = join(dir, "aecp.pub");
  writeFileSync(pubPath, kp.publicPem);
  const r = await compile([{ path: "p.policy", text: POLICIES }], { name: "pause", key: parsePrivateKeyPem(kp.privatePem) });
  expect(r.ok).toBe(true);
  bundlePath = join(dir, "pause.bundle");
  writeFileSync(bundlePath, r.bundle!);
});

afterAll(async () => {
  for (const s of started) await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("pause without an approvals service", () => {
  it("fails closed with 503 AECP_APPROVALS_UNAVAILABLE; allow and deny are unaffected", async () => {
    const s = await sidecar(undefined);
    const o = await check(s);
    expect(o.allowed).toBe(false);
    expect(o.httpStatus).toBe(503);
    expect(reason(o)).toBe("AECP_APPROVALS_UNAVAILABLE");
    expect((await check(s, req({ method: "GET" }))).allowed).toBe(true);
    expect((await check(s, req({ method: "GET", path: "/secrets/x" }))).httpStatus).toBe(403);
  });
});

describe("defer mode", () => {
  it("answers 428 with the execution id, location and retry-after, and creates one execution per request", async () => {
    const fake = new FakeApprovals();
    const s = await sidecar(fake);
    const o = await check(s);
    expect(o.httpStatus).toBe(428);
    const id = header(o, "x-aecp-execution-id")!;
    expect(id).toMatch(/^ex-\d+$/);
    expect(header(o, "location")).toBe(`http://127.0.0.1:8282/executions/${id}`);
    expect(header(o, "retry-after")).toBe("5");
    expect(JSON.parse(o.body!)).toMatchObject({ effect: "pause", execution_id: id, state: "pending", requires_approval: [{ policy: "prod_config_change", enforcement: "REQUIRE_APPROVAL" }] });
    expect(o.metadata["aecp_execution_id"]).toBe(id);
    // what the approvals service was told: fingerprint, approval settings, requester, request summary
    const e = fake.executions.get(id)!;
    expect(e.req.fingerprint).toBe(requestFingerprint(req()));
    expect(e.req.policies).toEqual([{ policy: "prod_config_change", approvers: ["sre-oncall", "platform"], quorum: 2, timeout_ms: 900_000, exceptions: ["incident_break_glass"] }]); // the override's grant names these
    // the record fields: every violated policy, selected headers (volatile ones left out), small body, replay input
    expect(e.req.violations).toEqual([{ policy: "prod_config_change", enforcement: "REQUIRE_APPROVAL" }]);
    expect(e.req.request.headers).toEqual({ "content-type": "application/json" });
    expect(e.req.request.body).toEqual({ flag: "on" });
    expect(e.req.input).toMatchObject({ method: "PUT", path: "/config/feature-flags", host: "config.internal", source: { principal: "spiffe://cluster.local/ns/agents/sa/agent-deployer" } });
    expect(e.req.requester).toBe("spiffe://cluster.local/ns/agents/sa/agent-deployer");
    expect(e.req.request).toMatchObject({ method: "PUT", authority: "config.internal", path: "/config/feature-flags" });
    expect(e.req.request.body_sha256).toMatch(/^[0-9a-f]{64}$/);
    // the identical request again (e.g. a client retry without the id) joins the same open execution
    expect(header(await check(s), "x-aecp-execution-id")).toBe(id);
    expect(fake.created).toBe(1);
  });

  it("lets exactly the approved request through exactly once", async () => {
    const fake = new FakeApprovals();
    const s = await sidecar(fake);
    const id = header(await check(s), "x-aecp-execution-id")!;
    const retry = () => check(s, req({ headers: { "x-aecp-execution-id": id, "x-request-id": "r-2", traceparent: "00-abc-def-01" } }));
    const pending = await retry();
    expect(pending.httpStatus).toBe(428); // not decided yet
    fake.decide(id, "approved");
    const ok = await retry();
    expect(ok.allowed).toBe(true);
    expect(header(ok, "x-aecp-execution-id")).toBe(id);
    expect(ok.metadata["aecp_reason"]).toBe("AECP_APPROVED_EXECUTION");
    const again = await retry();
    expect(again.allowed).toBe(false);
    expect(reason(again)).toBe("AECP_EXECUTION_CONSUMED");
  });

  it("refuses an approval presented for a different request (body, path, principal) without using it up", async () => {
    const fake = new FakeApprovals();
    const s = await sidecar(fake);
    const id = header(await check(s), "x-aecp-execution-id")!;
    fake.decide(id, "approved");
    for (const other of [req({ body: '{"flag":"off"}', headers: { "x-aecp-execution-id": id } }), req({ path: "/config/other", headers: { "x-aecp-execution-id": id } })]) {
      const o = await check(s, other);
      expect(o.allowed).toBe(false);
      expect(reason(o)).toBe("AECP_EXECUTION_MISMATCH");
    }
    expect((await check(s, req({ headers: { "x-aecp-execution-id": id } }))).allowed).toBe(true);
  });

  it("denies rejected, expired and unknown executions with their own reasons", async () => {
    const fake = new FakeApprovals();
    const s = await sidecar(fake);
    const a = header(await check(s), "x-aecp-execution-id")!;
    fake.decide(a, "rejected");
    expect(reason(await check(s, req({ headers: { "x-aecp-execution-id": a } })))).toBe("AECP_EXECUTION_REJECTED");
    const b = header(await check(s, req({ path: "/config/b" })), "x-aecp-execution-id")!;
    fake.decide(b, "expired");
    expect(reason(await check(s, req({ path: "/config/b", headers: { "x-aecp-execution-id": b } })))).toBe("AECP_EXECUTION_EXPIRED");
    expect(reason(await check(s, req({ headers: { "x-aecp-execution-id": "ex-999" } })))).toBe("AECP_EXECUTION_NOT_FOUND");
    expect(reason(await check(s, req({ headers: { "x-aecp-execution-id": "../../etc" } })))).toBe("AECP_EXECUTION_NOT_FOUND");
  });

  it("a down approvals service fails only the paused requests (503), everything else keeps being decided", async () => {
    const fake = new FakeApprovals();
    const s = await sidecar(fake);
    fake.down = true;
    const o = await check(s);
    expect(o.httpStatus).toBe(503);
    expect(reason(o)).toBe("AECP_APPROVALS_UNAVAILABLE");
    expect((await check(s, req({ method: "GET" }))).allowed).toBe(true);
    expect(reason(await check(s, req({ path: "/secrets/k" })))).toBe("AECP_POLICY_VIOLATION");
  });
});

describe("hold mode", () => {
  it("holds the call until a human decides, then allows it in the same call", async () => {
    const fake = new FakeApprovals();
    const s = await sidecar(fake, { pauseMode: "hold", holdMs: 5_000 });
    const pendingCall = check(s);
    await new Promise((r) => setTimeout(r, 50));
    const [id] = [...fake.executions.keys()];
    fake.decide(id!, "approved");
    const o = await pendingCall;
    expect(o.allowed).toBe(true);
    expect(header(o, "x-aecp-execution-id")).toBe(id);
  });

  it("falls back to the defer answer when nobody decides within the hold time, and denies a rejection", async () => {
    const fake = new FakeApprovals();
    const s = await sidecar(fake, { pauseMode: "hold", holdMs: 100 });
    expect((await check(s)).httpStatus).toBe(428);
    const rejectedCall = check(s, req({ path: "/config/r" }));
    await new Promise((r) => setTimeout(r, 20));
    const id = [...fake.executions.entries()].find(([, e]) => e.req.request.path === "/config/r")![0];
    fake.decide(id, "rejected");
    expect(reason(await rejectedCall)).toBe("AECP_EXECUTION_REJECTED");
  });
});

describe("through gRPC", () => {
  it("defers with a denied_response carrying the execution id, then allows the approved retry", async () => {
    const fake = new FakeApprovals();
    const s = await sidecar(fake);
    const pkg = grpc.loadPackageDefinition(envoyAuthPackageDefinition()) as unknown as {
      envoy: { service: { auth: { v3: { Authorization: new (addr: string, creds: grpc.ChannelCredentials) => grpc.Client & { Check: Function } } } } };
    };
    const client = new pkg.envoy.service.auth.v3.Authorization(s.status().listening.grpc[0]!, grpc.credentials.createInsecure());
    const call = (headers: Record<string, string>) =>
      new Promise<{ status: { code: number }; denied_response?: { status: { code: string }; headers: Array<{ header: { key: string; value: string } }> } }>((resolve, reject) =>
        client.Check(
          { attributes: { request: { http: { method: "POST", path: "/config/x", host: "h", headers: { "content-type": "application/json", ...headers }, body: "{}" } } } },
          (e: Error | null, r: never) => (e ? reject(e) : resolve(r)),
        ),
      );
    const first = await call({});
    expect(first.status.code).toBe(7);
    expect(first.denied_response!.status.code).toBe("PreconditionRequired");
    const id = first.denied_response!.headers.find((h) => h.header.key === "x-aecp-execution-id")!.header.value;
    fake.decide(id, "approved");
    const second = await call({ "x-aecp-execution-id": id });
    expect(second.status.code).toBe(0);
    client.close();
  });
});

describe("HttpApprovalsClient (protocol)", () => {
  let server: Server;
  let base: string;
  const seen: Array<{ method: string; url: string; auth: string | undefined; body: string }> = [];
  let mode: "ok" | "500" | "garbage" = "ok";

  beforeAll(async () => {
    server = createServer((rq, rs) => {
      let body = "";
      rq.on("data", (c) => (body += c));
      rq.on("end", () => {
        seen.push({ method: rq.method!, url: rq.url!, auth: rq.headers.authorization, body });
        if (mode === "500") return rs.writeHead(500).end("{}");
        if (mode === "garbage") return rs.writeHead(200).end("not json");
        const ex = { id: "ex-1", state: "pending", location: "http://approvals/ex-1" };
        if (rq.url === "/v1/executions") return rs.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify(ex));
        if (rq.url === "/v1/executions/ex-1/consume") return rs.writeHead(409).end(JSON.stringify({ outcome: "pending", execution: ex }));
        if (rq.url === "/v1/executions/ex-2/consume") return rs.writeHead(200).end(JSON.stringify({ outcome: "consumed" }));
        if (rq.url?.startsWith("/v1/executions/ex-1?wait=")) return rs.writeHead(200).end(JSON.stringify({ ...ex, state: "approved" }));
        return rs.writeHead(404).end(JSON.stringify({ outcome: "not_found" }));
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const pauseReq: PauseRequest = {
    fingerprint: "sha256:00",
    decision_id: "d",
    bundle: { name: "b", digest: "sha256:11", revision: null },
    policies: [],
    request: { method: "PUT", authority: "h", path: "/", query: {}, body_sha256: null },
    requester: null,
    trace_id: null,
  };

  it("speaks the documented protocol with the bearer token", async () => {
    mode = "ok";
    const c = new HttpApprovalsClient({ url: base + "/", token: "s3cret" });
    expect(await c.create(pauseReq)).toEqual({ id: "ex-1", state: "pending", location: "http://approvals/ex-1" });
    expect(await c.consume("ex-1", "sha256:00")).toMatchObject({ outcome: "pending", execution: { id: "ex-1" } });
    expect(await c.consume("ex-2", "sha256:00")).toEqual({ outcome: "consumed" });
    expect(await c.consume("ex-3", "sha256:00")).toEqual({ outcome: "not_found" });
    expect((await c.wait("ex-1", 2000)).state).toBe("approved");
    expect(seen.every((s) => s.auth === "Bearer s3cret")).toBe(true);
    expect(JSON.parse(seen[0]!.body)).toMatchObject({ fingerprint: "sha256:00" });
    expect(seen.find((s) => s.url.startsWith("/v1/executions/ex-1?wait="))!.url).toBe("/v1/executions/ex-1?wait=2");
    await c.close();
  });

  it("turns 5xx, garbage and a refused connection into AECP_APPROVALS_UNAVAILABLE", async () => {
    const c = new HttpApprovalsClient({ url: base });
    mode = "500";
    await expect(c.create(pauseReq)).rejects.toMatchObject({ code: "AECP_APPROVALS_UNAVAILABLE" });
    mode = "garbage";
    await expect(c.create(pauseReq)).rejects.toMatchObject({ code: "AECP_APPROVALS_UNAVAILABLE" });
    await c.close();
    const dead = new HttpApprovalsClient({ url: "http://127.0.0.1:1", timeoutMs: 500 });
    await expect(dead.create(pauseReq)).rejects.toMatchObject({ code: "AECP_APPROVALS_UNAVAILABLE" });
    await dead.close();
  });
});

describe("pause options", () => {
  it("rejects a bad pause mode, hold time, defer status or approvals URL with AECP_CONFIG_INVALID naming the key", () => {
    const base = { bundle: "/b", pub: ["/k"] };
    for (const [key, value] of [
      ["pauseMode", "wait"],
      ["holdMs", -1],
      ["holdMs", 400_000],
      ["deferStatus", 200],
      ["approvals", "ftp://x"],
      ["approvals", "not a url"],
    ] as const) {
      expect(() => sidecarOptions({ ...base, [key]: value }), `${key}=${String(value)}`).toThrow(new RegExp(`\`${key}\``));
    }
    expect(sidecarOptions({ ...base, approvals: "http://127.0.0.1:8282", pauseMode: "hold", holdMs: 2000 })).toMatchObject({ pauseMode: "hold", holdMs: 2000 });
  });
});
