// ONE store suite, run against BOTH stores: SQLite (a temp file) and
// PostgreSQL (127.0.0.1:5432, a schema of its own, dropped afterwards). It
// drives the service core (transport-free) so it covers the state machine as
// each store executes it: migrations, idempotent creation, quorum, rejection,
// self-approval, groups, override grants, expiry, consume once, outbox
// leasing, single-use values, long polls and 50-way races.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApprovalsService, MIGRATIONS, type ApprovalsStore } from "../src/approvals/index.js";
import { TrustedKeys, generateKeyPairPem, parsePrivateKeyPem } from "../src/bundle/index.js";
import { verifyExceptionGrant } from "../src/executive/index.js";
import { ON_CI, pauseRequest, pgBackend, pgUnavailable, sqliteBackend, testOptions, type Backend } from "./approvals-helpers.js";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const keyDir = mkdtempSync(join(tmpdir(), "aecp-grant-"));
const kp = generateKeyPairPem();
writeFileSync(join(keyDir, "grant.key"), kp.privatePem);
const trusted = TrustedKeys.fromPems([kp.publicPem]);
afterAll(() => rmSync(keyDir, { recursive: true, force: true }));

const approver = (svc: ApprovalsService, id: string) => svc.options.approvers.get(id)!;

function storeSuite(make: () => Backend): void {
  let backend: Backend;
  let store: ApprovalsStore;
  let clock = Date.now();
  let svc: ApprovalsService;

  beforeAll(async () => {
    backend = make();
    store = await backend.open();
    svc = new ApprovalsService(store, testOptions({ grant_key: join(keyDir, "grant.key"), notify: { webhooks: [{ url: "http://127.0.0.1:9/hook", secret: "webhook-secret-0123456789" }] } }), () => clock);
  });
  afterAll(async () => {
    svc?.stop();
    await backend?.cleanup();
  });

  it("runs the versioned migrations once (a second run changes nothing)", async () => {
    expect(await store.migrations()).toEqual(MIGRATIONS.map((m) => m.version));
    await store.migrate();
    const other = await backend.share();
    expect(await other.migrations()).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it("creates an execution with its immutable proposal, idempotently per open fingerprint", async () => {
    const a = await svc.create(pauseRequest("create-1"), "service:1");
    expect(a.created).toBe(true);
    expect(a.execution.id).toMatch(/^ex_[A-Za-z0-9_-]{22}$/);
    expect(a.execution.state).toBe("pending");
    expect(a.execution.transitions).toEqual([{ state: "pending", at: a.execution.created_at, actor: "service:1" }]);
    expect(a.execution.proposal.request).toMatchObject({ method: "PUT", authority: "config.internal", body: { flag: "on" } });
    expect(a.execution.proposal.policies[0]).toMatchObject({ policy: "prod_config_change", quorum: 2, exceptions: ["emergency_change"] });
    expect(Date.parse(a.execution.expires_at) - Date.parse(a.execution.created_at)).toBe(900_000);
    const b = await svc.create(pauseRequest("create-1"), "service:1");
    expect(b).toMatchObject({ created: false, execution: { id: a.execution.id } });
    const c = await svc.create(pauseRequest("create-2"), "service:1");
    expect(c.execution.id).not.toBe(a.execution.id);
    expect(await svc.get("ex_AAAAAAAAAAAAAAAAAAAAAA")).toBeUndefined();
  });

  it("refuses malformed create requests naming the field", async () => {
    await expect(svc.create({ ...pauseRequest("bad"), fingerprint: "md5:x" }, "service:1")).rejects.toMatchObject({ code: "AECP_EXECUTION_INVALID", message: expect.stringContaining("`fingerprint`") });
    await expect(svc.create({ ...pauseRequest("bad"), policies: [] }, "service:1")).rejects.toMatchObject({ code: "AECP_EXECUTION_INVALID" });
    await expect(svc.create({ ...pauseRequest("bad"), surprise: 1 }, "service:1")).rejects.toMatchObject({ message: expect.stringContaining("`surprise`") });
  });

  it("approves at quorum with distinct approvers from the groups; consumes once, fingerprint-checked", async () => {
    const { execution: e } = await svc.create(pauseRequest("quorum"), "service:1");
    const first = await svc.decide(e.id, approver(svc, "alice"), { decision: "approve", justification: null, channel: "api" });
    expect(first.state).toBe("pending"); // 1 of 2
    await expect(svc.decide(e.id, approver(svc, "alice"), { decision: "approve", justification: null, channel: "api" })).rejects.toMatchObject({ code: "AECP_APPROVER_FORBIDDEN" });
    const second = await svc.decide(e.id, approver(svc, "bob"), { decision: "approve", justification: null, channel: "api" });
    expect(second.state).toBe("approved");
    expect(second.transitions.map((t) => [t.state, t.actor])).toEqual([
      ["pending", "service:1"],
      ["approved", "approver:bob"],
    ]);
    expect(second.decisions.map((d) => [d.approver, d.accepted, d.reason])).toEqual([
      ["alice", true, null],
      ["alice", false, "AECP_APPROVER_FORBIDDEN"],
      ["bob", true, null],
    ]);
    expect((await svc.consume(e.id, `sha256:${"1".repeat(64)}`, "service:1")).outcome).toBe("mismatch");
    const c = await svc.consume(e.id, e.proposal.fingerprint, "service:1");
    expect(c.outcome).toBe("consumed");
    expect(c.execution!.state).toBe("executed");
    expect(c.execution!.consumed_at).not.toBeNull();
    expect((await svc.consume(e.id, e.proposal.fingerprint, "service:1")).outcome).toBe("already_consumed");
    expect((await svc.consume("ex_nope", e.proposal.fingerprint, "service:1")).outcome).toBe("not_found");
    // the fingerprint is free again once consumed: the same request pauses anew
    expect((await svc.create(pauseRequest("quorum"), "service:1")).execution.id).not.toBe(e.id);
  });

  it("rejects on one rejection (with a justification), and then refuses further decisions with 409", async () => {
    const { execution: e } = await svc.create(pauseRequest("reject"), "service:1");
    await expect(svc.decide(e.id, approver(svc, "alice"), { decision: "reject", justification: " ", channel: "api" })).rejects.toMatchObject({ code: "AECP_JUSTIFICATION_REQUIRED" });
    const r = await svc.decide(e.id, approver(svc, "alice"), { decision: "reject", justification: "not during the freeze", channel: "api" });
    expect(r.state).toBe("rejected");
    expect(r.transitions[1]).toMatchObject({ state: "rejected", actor: "approver:alice", justification: "not during the freeze" });
    await expect(svc.decide(e.id, approver(svc, "bob"), { decision: "approve", justification: null, channel: "api" })).rejects.toMatchObject({ code: "AECP_EXECUTION_NOT_PENDING" });
    expect((await svc.consume(e.id, e.proposal.fingerprint, "service:1")).outcome).toBe("rejected");
  });

  it("blocks self-approval and approvers outside the policy's groups, recording the attempts", async () => {
    const { execution: e } = await svc.create(pauseRequest("self"), "service:1");
    await expect(svc.decide(e.id, approver(svc, "root"), { decision: "approve", justification: null, channel: "api" })).rejects.toMatchObject({ code: "AECP_SELF_APPROVAL" });
    await expect(svc.decide(e.id, approver(svc, "mallory"), { decision: "approve", justification: null, channel: "api" })).rejects.toMatchObject({ code: "AECP_APPROVER_FORBIDDEN" });
    const now = (await svc.get(e.id))!;
    expect(now.state).toBe("pending");
    expect(now.decisions.map((d) => [d.approver, d.accepted, d.reason])).toEqual([
      ["root", false, "AECP_SELF_APPROVAL"],
      ["mallory", false, "AECP_APPROVER_FORBIDDEN"],
    ]);
  });

  it("override needs the override role and a justification, and issues a grant bound to the fingerprint", async () => {
    const { execution: e } = await svc.create(pauseRequest("override", { requester: "spiffe://cluster.local/ns/agents/sa/other" }), "service:1");
    await expect(svc.decide(e.id, approver(svc, "alice"), { decision: "override", justification: "incident", channel: "api" })).rejects.toMatchObject({ code: "AECP_APPROVER_FORBIDDEN" });
    await expect(svc.decide(e.id, approver(svc, "root"), { decision: "override", justification: null, channel: "api" })).rejects.toMatchObject({ code: "AECP_JUSTIFICATION_REQUIRED" });
    const o = await svc.decide(e.id, approver(svc, "root"), { decision: "override", justification: "INC-42 outage", channel: "api" });
    expect(o.state).toBe("overridden");
    expect(o.grant).toMatchObject({ exceptions: ["emergency_change"], policies: ["prod_config_change"] });
    const g = verifyExceptionGrant(o.grant!.token, { trustedKeys: trusted, fingerprint: e.proposal.fingerprint, now: clock });
    expect(g).toMatchObject({ exceptions: ["emergency_change"], executionId: e.id, approver: "root" });
    expect(() => verifyExceptionGrant(o.grant!.token, { trustedKeys: trusted, fingerprint: `sha256:${"2".repeat(64)}`, now: clock })).toThrow(/different request/);
    expect(() => verifyExceptionGrant(o.grant!.token, { trustedKeys: trusted, fingerprint: e.proposal.fingerprint, now: clock + 301_000 })).toThrow(/expired/);
    const other = TrustedKeys.fromPems([generateKeyPairPem().publicPem]);
    expect(() => verifyExceptionGrant(o.grant!.token, { trustedKeys: other, fingerprint: e.proposal.fingerprint, now: clock })).toThrow(/untrusted/);
    const [p, s] = o.grant!.token.split(".");
    const forged = Buffer.from(Buffer.from(p!, "base64url").toString().replace("emergency_change", "everything_goes")).toString("base64url");
    expect(() => verifyExceptionGrant(`${forged}.${s}`, { trustedKeys: trusted, fingerprint: e.proposal.fingerprint, now: clock })).toThrow(/signature/);
    expect((await svc.consume(e.id, e.proposal.fingerprint, "service:1")).outcome).toBe("consumed");
    expect(parsePrivateKeyPem(kp.privatePem).keyId).toBe(o.grant!.key_id);
  });

  it("expires pending executions (a distinct terminal state that always denies)", async () => {
    const { execution: e } = await svc.create(pauseRequest("expire", { policies: [{ policy: "p", approvers: [], quorum: 1, timeout_ms: 1000 }] }), "service:1");
    clock += 1500;
    expect(await svc.expireDue()).toBeGreaterThanOrEqual(1);
    const x = (await svc.get(e.id))!;
    expect(x.state).toBe("expired");
    expect(x.transitions[1]).toMatchObject({ state: "expired", actor: "sweeper" });
    expect((await svc.consume(e.id, e.proposal.fingerprint, "service:1")).outcome).toBe("expired");
    // an expired execution that the sweeper has not reached yet is expired on access
    const { execution: f } = await svc.create(pauseRequest("expire-2", { policies: [{ policy: "p", approvers: [], quorum: 1, timeout_ms: 1000 }] }), "service:1");
    clock += 1500;
    await expect(svc.decide(f.id, approver(svc, "alice"), { decision: "approve", justification: null, channel: "api" })).rejects.toMatchObject({ code: "AECP_EXECUTION_NOT_PENDING" });
    expect((await svc.get(f.id))!.state).toBe("expired");
  });

  it("lists by state, newest first, with keyset pagination", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      clock += 10;
      ids.push((await svc.create(pauseRequest(`list-${i}`), "service:1")).execution.id);
    }
    const page = await svc.list({ state: "pending", limit: 2 });
    expect(page.map((e) => e.id)).toEqual([ids[2], ids[1]]);
    const next = await svc.list({ state: "pending", limit: 2, before: ids[1] });
    expect(next[0]!.id).toBe(ids[0]);
    expect((await svc.list({ state: "executed", limit: 100 })).every((e) => e.state === "executed")).toBe(true);
    expect(await store.states([ids[0]!, "ex_none"])).toEqual(new Map([[ids[0]!, "pending"]]));
    const counts = await store.countByState();
    expect(counts["pending"]).toBeGreaterThanOrEqual(3);
  });

  it("writes outbox rows with the state change and leases them to one worker at a time", async () => {
    const before = await store.outboxStats();
    const { execution: e } = await svc.create(pauseRequest("outbox"), "service:1");
    const after = await store.outboxStats();
    expect(after.pending).toBe(before.pending + 1); // one webhook
    const claimed = await store.claimOutbox(clock + 1, 1000, 30_000);
    const mine = claimed.find((r) => r.executionId === e.id)!;
    expect(mine).toMatchObject({ channel: "webhook", event: "execution.created", attempts: 1 });
    expect(JSON.parse(mine.payload)).toMatchObject({ event: "execution.created", execution: { id: e.id }, links: expect.any(Array) });
    expect((await store.claimOutbox(clock + 1, 1000, 30_000)).find((r) => r.id === mine.id)).toBeUndefined(); // leased
    await store.outboxFailed(mine.id, "503", clock + 5, false);
    const again = (await store.claimOutbox(clock + 10, 1000, 30_000)).find((r) => r.id === mine.id)!;
    expect(again.attempts).toBe(2);
    await store.outboxDelivered(mine.id, clock);
    expect((await store.claimOutbox(clock + 100_000, 1000, 30_000)).find((r) => r.id === mine.id)).toBeUndefined();
  });

  it("records single-use values once", async () => {
    expect(await store.tx((tx) => tx.useOnce("link", "nonce-1", clock))).toBe(true);
    expect(await store.tx((tx) => tx.useOnce("link", "nonce-1", clock))).toBe(false);
    expect(await store.tx((tx) => tx.useOnce("slack", "nonce-1", clock))).toBe(true);
    await store.pruneOnce("link", clock + 1);
    expect(await store.tx((tx) => tx.useOnce("link", "nonce-1", clock))).toBe(true);
  });

  it("rolls back everything when a transaction fails", async () => {
    const { execution: e } = await svc.create(pauseRequest("rollback"), "service:1");
    await expect(
      store.tx(async (tx) => {
        await tx.casState(e.id, e.version, "cancelled", clock);
        await tx.appendTransition(e.id, { state: "cancelled", at: "x", actor: "test" });
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    const x = (await svc.get(e.id))!;
    expect(x.state).toBe("pending");
    expect(x.transitions).toHaveLength(1);
  });

  it("long poll returns when the execution is decided, or as pending at the timeout", async () => {
    const { execution: e } = await svc.create(pauseRequest("wait"), "service:1");
    expect((await svc.wait(e.id, 50))!.state).toBe("pending");
    const waiting = svc.wait(e.id, 30_000);
    await new Promise((r) => setTimeout(r, 20));
    expect(svc.activeWaiters).toBeGreaterThanOrEqual(1);
    await svc.decide(e.id, approver(svc, "alice"), { decision: "reject", justification: "no", channel: "api" });
    expect((await waiting)!.state).toBe("rejected");
    expect(svc.activeWaiters).toBe(0);
    expect(await svc.wait("ex_missing", 10)).toBeUndefined();
  });

  it("50 concurrent decisions and 50 concurrent consumes: exactly one winner each", async () => {
    const one = [{ policy: "p", approvers: ["sre-oncall", "platform"], quorum: 1, timeout_ms: 0 }];
    const { execution: e } = await svc.create(pauseRequest("race", { policies: one }), "service:1");
    const who = ["alice", "bob", "carol"];
    const decided = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => svc.decide(e.id, approver(svc, who[i % 3]!), { decision: i % 2 ? "approve" : "reject", justification: "race", channel: "api" })),
    );
    const won = decided.filter((r) => r.status === "fulfilled");
    expect(won).toHaveLength(1);
    const final = (await svc.get(e.id))!;
    expect(final.transitions).toHaveLength(2);
    expect(final.decisions.filter((d) => d.accepted)).toHaveLength(1);
    if (final.state === "approved") {
      const consumed = await Promise.all(Array.from({ length: 50 }, () => svc.consume(e.id, e.proposal.fingerprint, "service:1")));
      expect(consumed.filter((c) => c.outcome === "consumed")).toHaveLength(1);
      expect(consumed.filter((c) => c.outcome === "already_consumed")).toHaveLength(49);
    } else expect(final.state).toBe("rejected");
  });
}

describe("approvals store: SQLite", () => storeSuite(sqliteBackend));

const pgWhy = await pgUnavailable();
if (pgWhy && !ON_CI) console.warn(`approvals-store: PostgreSQL suite skipped, ${pgWhy}`);
describe.skipIf(pgWhy !== undefined && !ON_CI)("approvals store: PostgreSQL", () => {
  if (pgWhy) {
    it("needs PostgreSQL (CI=true: unreachable PostgreSQL fails instead of skipping)", () => expect.fail(pgWhy));
    return;
  }
  storeSuite(pgBackend);
});
