// Races over HTTP: 50 concurrent decisions and 50 concurrent consumes on one
// execution produce exactly one winner — on one SQLite-backed instance, and
// on TWO instances sharing one PostgreSQL schema (requests alternate between
// them). Also: a long poll on instance A is released by a decision made on
// instance B (PostgreSQL NOTIFY).

import { afterAll, describe, expect, it } from "vitest";
import { call, dropSchema, ON_CI, PG_URL, pauseRequest, pgUnavailable, startApp, TOKENS, uniqueSchema, type RunningApp } from "./approvals-helpers.js";

const APPROVERS = [TOKENS.alice, TOKENS.bob, TOKENS.carol];

async function race(urls: string[], seed: string): Promise<void> {
  const body = pauseRequest(seed, { policies: [{ policy: "p", approvers: ["sre-oncall", "platform"], quorum: 1, timeout_ms: 600_000 }] });
  const created = await call("POST", `${urls[0]}/v1/executions`, { token: TOKENS.service, body });
  expect(created.status).toBe(201);
  const id = created.json.id as string;
  const decisions = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      call("POST", `${urls[i % urls.length]}/v1/executions/${id}/decisions`, {
        token: APPROVERS[i % 3],
        body: i % 2 ? { decision: "approve" } : { decision: "reject", justification: `race ${i}` },
      }),
    ),
  );
  const statuses = decisions.map((d) => d.status);
  expect(statuses.filter((st) => st === 200)).toHaveLength(1);
  expect(statuses.filter((st) => st !== 200 && st !== 409 && st !== 403)).toEqual([]);
  const winner = decisions.find((d) => d.status === 200)!.json;
  const rec = (await call("GET", `${urls[1 % urls.length]}/v1/executions/${id}/record`, { token: TOKENS.service })).json;
  expect(rec.state).toBe(winner.state);
  expect(rec.transitions).toHaveLength(2);
  expect(rec.decisions.filter((d: { accepted: boolean }) => d.accepted)).toHaveLength(1);
  expect(rec.decisions).toHaveLength(50); // every attempt recorded
  // the audit log has one transition and 50 attempts for it
  const audit = (await call("GET", `${urls[0]}/v1/audit/entries?subject=${id}`, { token: TOKENS.service })).json.entries as Array<{ kind: string }>;
  expect(audit.filter((a) => a.kind === "execution.transition")).toHaveLength(1);
  expect(audit.filter((a) => a.kind === "decision.attempt")).toHaveLength(50);

  // make sure there is something to consume, then race the consumes
  let fingerprint = body["fingerprint"] as string;
  let target = id;
  if (rec.state !== "approved") {
    const again = await call("POST", `${urls[0]}/v1/executions`, { token: TOKENS.service, body: { ...body, fingerprint: `sha256:${"c".repeat(64)}` } });
    target = again.json.id;
    fingerprint = `sha256:${"c".repeat(64)}`;
    expect((await call("POST", `${urls[0]}/v1/executions/${target}/decisions`, { token: TOKENS.alice, body: { decision: "approve" } })).json.state).toBe("approved");
  }
  const consumes = await Promise.all(Array.from({ length: 50 }, (_, i) => call("POST", `${urls[i % urls.length]}/v1/executions/${target}/consume`, { token: TOKENS.service, body: { fingerprint } })));
  expect(consumes.filter((c) => c.status === 200 && c.json.outcome === "consumed")).toHaveLength(1);
  expect(consumes.filter((c) => c.status === 409 && c.json.outcome === "already_consumed")).toHaveLength(49);
}

describe("races on one SQLite-backed instance", () => {
  let s: RunningApp;
  afterAll(async () => s?.stop());
  it("50 concurrent decide and 50 concurrent consume: exactly one winner each", async () => {
    s = await startApp();
    await race([s.url], "sqlite-race");
  });
});

const pgWhy = await pgUnavailable();
if (pgWhy && !ON_CI) console.warn(`approvals-race: PostgreSQL races skipped, ${pgWhy}`);
describe.skipIf(pgWhy !== undefined && !ON_CI)("races on two instances over one PostgreSQL schema", () => {
  const schema = uniqueSchema("aecp_race");
  const apps: RunningApp[] = [];
  afterAll(async () => {
    for (const a of apps) await a.stop();
    if (!pgWhy) await dropSchema(schema);
  });

  it("50 concurrent decide and 50 concurrent consume across both instances: exactly one winner each", async () => {
    if (pgWhy) expect.fail(pgWhy);
    // started together: migrations must serialize themselves
    apps.push(...(await Promise.all([startApp({}, { db: PG_URL, pgSchema: schema }), startApp({}, { db: PG_URL, pgSchema: schema })])));
    await race(apps.map((a) => a.url), "pg-race");
  });

  it("a long poll on one instance is released by a decision on the other", async () => {
    const [a, b] = apps as [RunningApp, RunningApp];
    const created = await call("POST", `${a.url}/v1/executions`, { token: TOKENS.service, body: pauseRequest("pg-wait", { policies: [{ policy: "p", approvers: [], quorum: 1, timeout_ms: 600_000 }] }) });
    const id = created.json.id as string;
    const waiting = call("GET", `${a.url}/v1/executions/${id}?wait=30`, { token: TOKENS.service });
    await new Promise((r) => setTimeout(r, 200));
    expect((await call("POST", `${b.url}/v1/executions/${id}/decisions`, { token: TOKENS.bob, body: { decision: "approve" } })).status).toBe(200);
    const released = await waiting;
    expect(released.json.state).toBe("approved");
  });
});
