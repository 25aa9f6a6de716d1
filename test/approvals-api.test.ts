// The approvals HTTP API on a real server (SQLite, port chosen at start):
// the fixed interface (create/get/list/wait/decide/consume/record), bearer
// token authentication for services and approvers, the sidecar protocol via
// the sidecar's own HttpApprovalsClient, the decision-log intake into the
// audit log, health/readiness/metrics and bounded bodies.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpApprovalsClient } from "../src/executive/approvals-client.js";
import { call, pauseRequest, startApp, TOKENS, type RunningApp } from "./approvals-helpers.js";

let s: RunningApp;
const api = (p: string) => `${s.url}${p}`;

beforeAll(async () => {
  s = await startApp();
});
afterAll(async () => {
  await s?.stop();
});

async function create(seed: string, over: Record<string, unknown> = {}) {
  const r = await call("POST", api("/v1/executions"), { token: TOKENS.service, body: pauseRequest(seed, over) });
  expect(r.status).toBe(201);
  return r.json as { id: string; state: string; location: string; proposal: { fingerprint: string } };
}

describe("service endpoints", () => {
  it("answers /healthz, /readyz and /metrics", async () => {
    expect((await call("GET", api("/healthz"))).json).toMatchObject({ status: "ok" });
    expect((await call("GET", api("/readyz"))).status).toBe(200);
    const m = await call("GET", api("/metrics"));
    expect(m.text).toContain('aecp_approvals_executions{state="pending"}');
    expect(m.text).toContain("# TYPE aecp_approvals_http_requests_total counter");
  });
});

describe("create, get, list", () => {
  it("creates (201), joins the open execution for the same fingerprint (200), and shows the record", async () => {
    const e = await create("api-create");
    expect(e.id).toMatch(/^ex_/);
    expect(e.location).toBe(`${s.url}/ui/executions/${e.id}`);
    const again = await call("POST", api("/v1/executions"), { token: TOKENS.service, body: pauseRequest("api-create") });
    expect(again.status).toBe(200);
    expect(again.json.id).toBe(e.id);
    const g = await call("GET", api(`/v1/executions/${e.id}`), { token: TOKENS.alice });
    expect(g.status).toBe(200);
    expect(g.json).toMatchObject({ id: e.id, state: "pending", requester: pauseRequest("x")["requester"], fingerprint: e.proposal.fingerprint });
    expect(g.json.transitions).toEqual([{ state: "pending", at: expect.any(String), actor: "service:1" }]);
    expect(g.json.proposal.request).toMatchObject({ method: "PUT", path: "/config/feature-flags" });
    const list = await call("GET", api("/v1/executions?state=pending"), { token: TOKENS.service });
    expect(list.json.executions.map((x: { id: string }) => x.id)).toContain(e.id);
    expect(list.json.executions.every((x: { state: string }) => x.state === "pending")).toBe(true);
    expect((await call("GET", api("/v1/executions?state=bogus"), { token: TOKENS.service })).status).toBe(400);
  });

  it("requires a service token to create and any known token to read; unknown ids are 404", async () => {
    expect((await call("POST", api("/v1/executions"), { body: pauseRequest("noauth") })).status).toBe(401);
    expect((await call("POST", api("/v1/executions"), { token: TOKENS.alice, body: pauseRequest("noauth") })).status).toBe(401);
    expect((await call("POST", api("/v1/executions"), { token: "x".repeat(20), body: pauseRequest("noauth") })).status).toBe(401);
    const e = await create("read-auth");
    expect((await call("GET", api(`/v1/executions/${e.id}`))).status).toBe(401);
    expect((await call("GET", api(`/v1/executions/${e.id}`), { token: "wrong-token-0123456789" })).status).toBe(401);
    const guessed = await call("GET", api("/v1/executions/ex_AAAAAAAAAAAAAAAAAAAAAA"), { token: TOKENS.service });
    expect(guessed.status).toBe(404);
    expect(guessed.json.error.code).toBe("AECP_EXECUTION_NOT_FOUND");
  });

  it("refuses malformed and oversized bodies with coded errors", async () => {
    const bad = await call("POST", api("/v1/executions"), { token: TOKENS.service, raw: "{not json", headers: { "content-type": "application/json" } });
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe("AECP_APPROVALS_BAD_REQUEST");
    const invalid = await call("POST", api("/v1/executions"), { token: TOKENS.service, body: { ...pauseRequest("inv"), fingerprint: 42 } });
    expect(invalid.json.error).toMatchObject({ code: "AECP_EXECUTION_INVALID", message: expect.stringContaining("fingerprint") });
    const huge = await call("POST", api("/v1/executions"), { token: TOKENS.service, raw: JSON.stringify({ pad: "x".repeat(2 * 1024 * 1024) }), headers: { "content-type": "application/json" } });
    expect(huge.status).toBe(413);
  });
});

describe("decisions", () => {
  it("200 with the updated execution, 403 outside the groups or for the requester, 409 once decided", async () => {
    const e = await create("api-decide");
    const outsider = await call("POST", api(`/v1/executions/${e.id}/decisions`), { token: TOKENS.mallory, body: { decision: "approve" } });
    expect(outsider.status).toBe(403);
    expect(outsider.json.error.code).toBe("AECP_APPROVER_FORBIDDEN");
    const self = await call("POST", api(`/v1/executions/${e.id}/decisions`), { token: TOKENS.root, body: { decision: "approve" } });
    expect(self.status).toBe(403);
    expect(self.json.error.code).toBe("AECP_SELF_APPROVAL");
    expect((await call("POST", api(`/v1/executions/${e.id}/decisions`), { token: TOKENS.service, body: { decision: "approve" } })).status).toBe(401);
    expect((await call("POST", api(`/v1/executions/${e.id}/decisions`), { token: TOKENS.alice, body: { decision: "maybe" } })).status).toBe(400);
    const one = await call("POST", api(`/v1/executions/${e.id}/decisions`), { token: TOKENS.alice, body: { decision: "approve", justification: "looks right" } });
    expect(one.status).toBe(200);
    expect(one.json.state).toBe("pending");
    const two = await call("POST", api(`/v1/executions/${e.id}/decisions`), { token: TOKENS.bob, body: { decision: "approve" } });
    expect(two.json.state).toBe("approved");
    const late = await call("POST", api(`/v1/executions/${e.id}/decisions`), { token: TOKENS.carol, body: { decision: "reject", justification: "too late" } });
    expect(late.status).toBe(409);
    expect(late.json.error).toMatchObject({ code: "AECP_EXECUTION_NOT_PENDING", detail: { state: "approved" } });
  });

  it("the record has everything for replay and the audit log holds every attempt and transition", async () => {
    const e = await create("api-record");
    await call("POST", api(`/v1/executions/${e.id}/decisions`), { token: TOKENS.mallory, body: { decision: "approve" } });
    await call("POST", api(`/v1/executions/${e.id}/decisions`), { token: TOKENS.alice, body: { decision: "reject", justification: "wrong flag" } });
    const r = await call("GET", api(`/v1/executions/${e.id}/record`), { token: TOKENS.service });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      record_version: 1,
      id: e.id,
      state: "rejected",
      proposal: { bundle: { digest: expect.stringMatching(/^sha256:/) }, input: { method: "PUT" }, violations: [{ policy: "prod_config_change" }] },
      decisions: [
        { approver: "mallory", accepted: false, reason: "AECP_APPROVER_FORBIDDEN" },
        { approver: "alice", accepted: true, decision: "reject", justification: "wrong flag" },
      ],
    });
    const audit = await call("GET", api(`/v1/audit/entries?subject=${e.id}`), { token: TOKENS.service });
    expect(audit.status).toBe(200);
    const kinds = (audit.json.entries as Array<{ kind: string }>).map((x) => x.kind);
    expect(kinds).toEqual(["execution.created", "decision.attempt", "decision.attempt", "execution.transition"]);
    expect((await call("GET", api(`/v1/audit/entries?subject=${e.id}`))).status).toBe(401);
  });
});

describe("the sidecar protocol (HttpApprovalsClient against the real service)", () => {
  it("create → wait (long poll released by the decision) → consume once → already_consumed; mismatch and not_found", async () => {
    const client = new HttpApprovalsClient({ url: s.url, token: TOKENS.service });
    try {
      const req = pauseRequest("client", { policies: [{ policy: "p", approvers: ["sre-oncall"], quorum: 1, timeout_ms: 60_000 }] });
      const ref = await client.create(req as never);
      expect(ref).toEqual({ id: expect.stringMatching(/^ex_/), state: "pending", location: `${s.url}/ui/executions/${ref.id}` });
      expect((await client.wait(ref.id, 1000)).state).toBe("pending");
      const waiting = client.wait(ref.id, 20_000);
      await new Promise((r) => setTimeout(r, 100));
      await call("POST", api(`/v1/executions/${ref.id}/decisions`), { token: TOKENS.alice, body: { decision: "approve" } });
      expect((await waiting).state).toBe("approved");
      expect((await client.consume(ref.id, `sha256:${"f".repeat(64)}`)).outcome).toBe("mismatch");
      const c = await client.consume(ref.id, req["fingerprint"] as string);
      expect(c).toMatchObject({ outcome: "consumed", execution: { id: ref.id, state: "executed" } });
      expect((await client.consume(ref.id, req["fingerprint"] as string)).outcome).toBe("already_consumed");
      expect((await client.consume("ex_BBBBBBBBBBBBBBBBBBBBBB", req["fingerprint"] as string)).outcome).toBe("not_found");
    } finally {
      await client.close();
    }
  });

  it("consume needs a service token", async () => {
    const e = await create("consume-auth");
    expect((await call("POST", api(`/v1/executions/${e.id}/consume`), { token: TOKENS.alice, body: { fingerprint: e.proposal.fingerprint } })).status).toBe(401);
  });

  it("cancel moves a pending execution to cancelled (service token)", async () => {
    const e = await create("cancel");
    const c = await call("POST", api(`/v1/executions/${e.id}/cancel`), { token: TOKENS.service, body: { justification: "agent gave up" } });
    expect(c.json).toMatchObject({ state: "cancelled" });
    expect((await call("POST", api(`/v1/executions/${e.id}/cancel`), { token: TOKENS.service, body: {} })).status).toBe(409);
  });
});

describe("POST /v1/audit/decisions (sidecar decision-log batches)", () => {
  it("appends every record to the audit log, and refuses bad batches and callers", async () => {
    const before = (await call("GET", api("/v1/audit/head"), { token: TOKENS.service })).json.tree_size as number;
    const records = [
      { decision_id: "d-1", time: new Date().toISOString(), effect: "allow", violations: [], waived: [], defaulted: false, bundle: null, eval_ns: null, attributes: null },
      { decision_id: "d-2", time: new Date().toISOString(), effect: "pause", execution_id: "ex_x", violations: [], waived: [], defaulted: false, bundle: null, eval_ns: null, attributes: null },
    ];
    const ok = await call("POST", api("/v1/audit/decisions"), { token: TOKENS.service, body: { records } });
    expect(ok.json).toEqual({ accepted: 2 });
    const after = (await call("GET", api("/v1/audit/head"), { token: TOKENS.service })).json.tree_size as number;
    expect(after).toBe(before + 2);
    const entries = await call("GET", api(`/v1/audit/entries?from=${before}&to=${after}`), { token: TOKENS.service });
    expect(entries.json.entries.map((x: { kind: string; subject: string | null }) => [x.kind, x.subject])).toEqual([
      ["decision_log.record", null],
      ["decision_log.record", "ex_x"],
    ]);
    expect((await call("POST", api("/v1/audit/decisions"), { token: TOKENS.alice, body: { records } })).status).toBe(401);
    expect((await call("POST", api("/v1/audit/decisions"), { token: TOKENS.service, body: { records: [{ nope: 1 }] } })).status).toBe(400);
    expect((await call("POST", api("/v1/audit/decisions"), { token: TOKENS.service, body: [] })).status).toBe(400);
  });
});
