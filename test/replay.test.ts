// `aecp replay` end to end against a real approvals service (SQLite, in
// process, on port 0): a request paused by a REQUIRE_APPROVAL policy is
// created with the record the sidecar sends (its decision-log attributes as
// the replay input), approved by an approver, consumed; a checkpoint is
// signed; then the built CLI replays it from a bundle file and from a real
// distribution service. Replay fails (exit 1) with another bundle, with a
// recorded input that no longer gives the recorded decision, and after one
// byte of a stored audit record changes.

import Database from "better-sqlite3";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApprovalsApp, approvalsOptions } from "../src/approvals/index.js";
import { generateKeyPairPem, LoadedBundle, parsePrivateKeyPem } from "../src/bundle/index.js";
import { DistributionServer, distributionServerOptions, publishBundle } from "../src/distribution/index.js";
import { attributesFromCheckRequestJson, buildDecisionRecord, checkRequestFromShorthand, outcomeForDecision } from "../src/executive/index.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CLI = join(ROOT, "dist/cli/main.js");
const dir = mkdtempSync(join(tmpdir(), "aecp-replay-"));

const POLICY = `POLICY ai_agent_production_change {
  DESCRIPTION: "AI agents change production config only after on-call approval"
  SCOPE: requests WHERE source.service_account STARTS_WITH "agent-"
    AND request.method IN ["POST", "PUT", "PATCH", "DELETE"]
    AND request.path MATCHES "/config/**"
  ENFORCEMENT: REQUIRE_APPROVAL
  APPROVAL: { APPROVERS: "sre-oncall" QUORUM: 1 TIMEOUT: 15m }
}
`;
const SERVICE = "svc-token-replay-0123456789ab";
const ALICE = "alice-token-replay-0123456789";
const AGENT = "spiffe://cluster.local/ns/agents/sa/agent-deployer";

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 70) : 0, stdout, stderr });
    });
  });
}

async function api(method: string, url: string, token: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const keys = { bundle: join(dir, "keys"), auditPub: join(dir, "audit.pub"), auditKey: join(dir, "audit.key") };
const BUNDLE = join(dir, "agent.bundle");
const OTHER = join(dir, "other.bundle");
let app: ApprovalsApp;
let dist: DistributionServer;
let distUrl = "";

/** Pauses `request` through the bundle as the sidecar would, approves and consumes it; returns the execution id. */
async function pausedAndExecuted(shorthand: Record<string, unknown>, inputOverride?: (input: Record<string, unknown>) => unknown): Promise<string> {
  const bundle = LoadedBundle.load(new Uint8Array(readFileSync(BUNDLE)), { skipVerification: true });
  const attrs = attributesFromCheckRequestJson(checkRequestFromShorthand(shorthand));
  const d = bundle.evaluate(attrs, []);
  expect(d.effect).toBe("pause");
  const decisionId = `d-${createHash("sha256").update(JSON.stringify(shorthand)).digest("hex").slice(0, 12)}`;
  const input = buildDecisionRecord(outcomeForDecision(d, decisionId), attrs, d).attributes as unknown as Record<string, unknown>;
  const policy = bundle.policies.find((p) => p.name === "ai_agent_production_change")!;
  const created = await api("POST", `${app.url}/v1/executions`, SERVICE, {
    fingerprint: `sha256:${createHash("sha256").update(decisionId).digest("hex")}`,
    decision_id: decisionId,
    bundle: { name: d.bundle.name, digest: d.bundle.digest, revision: null },
    policies: [{ policy: policy.name, enforcement: "REQUIRE_APPROVAL", approvers: policy.approval!.approvers, quorum: policy.approval!.quorum, timeout_ms: policy.approval!.timeoutMs, exceptions: [] }],
    violations: d.violations.map((v) => ({ policy: v.policy, enforcement: v.enforcement })),
    request: { method: attrs.method, authority: attrs.host ?? null, path: attrs.path, query: {}, headers: {}, body_sha256: null },
    requester: AGENT,
    trace_id: null,
    input: inputOverride ? inputOverride(input) : input,
  });
  expect(created.status).toBe(201);
  const id = created.json["id"] as string;
  const decided = await api("POST", `${app.url}/v1/executions/${id}/decisions`, ALICE, { decision: "approve", justification: "change window open" });
  expect(decided.status).toBe(200);
  const fingerprint = created.json["fingerprint"] as string;
  const consumed = await api("POST", `${app.url}/v1/executions/${id}/consume`, SERVICE, { fingerprint });
  expect(consumed.status).toBe(200);
  const cp = await api("POST", `${app.url}/v1/audit/checkpoint`, SERVICE);
  expect(cp.status).toBe(200);
  return id;
}

beforeAll(async () => {
  mkdirSync(join(dir, "policy"));
  writeFileSync(join(dir, "policy", "agent.policy"), POLICY);
  mkdirSync(join(dir, "other"));
  writeFileSync(join(dir, "other", "agent.policy"), POLICY.replace('"/config/**"', '"/settings/**"'));
  expect((await run(["keygen", "--out", keys.bundle])).code).toBe(0);
  for (const [src, out] of [["policy", BUNDLE], ["other", OTHER]] as const) {
    const c = await run(["compile", join(dir, src), "-o", out, "--key", join(keys.bundle, "aecp.key"), "--name", "agent-gate"]);
    expect(c.code, c.stderr).toBe(0);
  }
  const audit = generateKeyPairPem();
  writeFileSync(keys.auditKey, audit.privatePem);
  writeFileSync(keys.auditPub, audit.publicPem);
  const options = approvalsOptions(
    {
      service_tokens: [SERVICE],
      link_secret: "link-secret-for-replay-tests-0123456789",
      audit_key: keys.auditKey,
      approvers: [{ id: "alice", token: ALICE, groups: ["sre-oncall"], roles: [] }],
    },
    dir,
  );
  app = await ApprovalsApp.start({ db: join(dir, "approvals.db"), listen: "127.0.0.1:0", options, checkpointIntervalMs: 3_600_000 });
  dist = new DistributionServer(distributionServerOptions({ data: join(dir, "dist"), listen: "127.0.0.1:0", pollIntervalMs: 0 }));
  await dist.start();
  distUrl = dist.url;
  // revision 1 is the bundle executions are decided with, revision 2 another one:
  // replay must find the recorded digest among the revisions
  const manifestKey = parsePrivateKeyPem(readFileSync(join(keys.bundle, "aecp.key"), "utf8"));
  for (const b of [BUNDLE, OTHER]) await publishBundle({ url: distUrl, bundle: new Uint8Array(readFileSync(b)), keys: [manifestKey], lifetimeMs: 86_400_000 });
});

afterAll(async () => {
  try {
    await app?.stop();
    await dist?.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const env = { AECP_APPROVALS_TOKEN: SERVICE };

describe("aecp replay", () => {
  let id = "";

  it("reconstructs an approved and executed execution, re-evaluates it and proves its audit entries", async () => {
    id = await pausedAndExecuted({ method: "PUT", path: "/config/feature-flags", host: "config.internal", source: { principal: AGENT }, headers: { "content-type": "application/json" } });
    const r = await run(["replay", id, "--approvals", app.url, "--bundle", BUNDLE, "--pub", join(keys.bundle, "aecp.pub"), "--audit-pub", keys.auditPub], env);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Execution ${id}  (state: executed)`);
    expect(r.stdout).toContain("PUT http://config.internal/config/feature-flags");
    expect(r.stdout).toContain(`requested by ${AGENT}`);
    expect(r.stdout).toContain("violated ai_agent_production_change (REQUIRE_APPROVAL)");
    expect(r.stdout).toContain("needs a decision: ai_agent_production_change: approvers sre-oncall, quorum 1, timeout 15m");
    expect(r.stdout).toMatch(/approver:alice approve via api — "change window open"|alice approve via api — "change window open"/);
    expect(r.stdout).toMatch(/approved\s+by approver:alice/);
    expect(r.stdout).toMatch(/executed\s+by /);
    expect(r.stdout).toContain("recorded: pause [ai_agent_production_change:REQUIRE_APPROVAL]");
    expect(r.stdout).toContain("replayed: pause [ai_agent_production_change:REQUIRE_APPROVAL] — same decision");
    expect(r.stdout).toContain("(signature verified)");
    expect(r.stdout).toMatch(/proven  #\d+  \S+  execution\.created/);
    expect(r.stdout).toMatch(/replay ok: .* same bundle, same decision, \d+ audit entries proven/);
  });

  it("fetches the recorded bundle from a distribution service (scanning its revisions for the digest)", async () => {
    const r = await run(["replay", id, "--approvals", app.url, "--distribution", distUrl, "--pub", join(keys.bundle, "aecp.pub"), "--audit-pub", keys.auditPub], env);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\(bundle `agent-gate` revision 1, blob sha256:[0-9a-f]{64}\): `agent-gate` sha256:[0-9a-f]{64} signed by [0-9a-f]{32} — the recorded digest/);
  });

  it("fails when the bundle is not the recorded one", async () => {
    const r = await run(["replay", id, "--approvals", app.url, "--bundle", OTHER, "--pub", join(keys.bundle, "aecp.pub")], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("NOT the recorded digest");
    expect(r.stderr).toMatch(/replay FAILED[\s\S]*bundle digest sha256:[0-9a-f]{64} differs from the recorded/);
  });

  it("fails when the recorded input no longer gives the recorded decision", async () => {
    const changed = await pausedAndExecuted({ method: "PATCH", path: "/config/limits", source: { principal: AGENT } }, (input) => ({ ...input, method: "GET" }));
    const r = await run(["replay", changed, "--approvals", app.url, "--bundle", BUNDLE], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("replayed: allow [] — DIFFERENT decision");
    expect(r.stderr).toContain("re-evaluation gives allow [], the record says pause");
  });

  it("fails, but still proves the audit entries, when the record has no input to re-evaluate", async () => {
    const noInput = await pausedAndExecuted({ method: "DELETE", path: "/config/old", source: { principal: AGENT } }, () => null);
    const r = await run(["replay", noInput, "--approvals", app.url, "--bundle", BUNDLE], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("cannot re-evaluate: the execution record has no recorded input");
    expect(r.stdout).toMatch(/proven  #\d+  \S+  execution\.consumed/);
  });

  it("fails when the record was edited in the executions tables but not in the audit log", async () => {
    const edited = await pausedAndExecuted({ method: "POST", path: "/config/new", source: { principal: AGENT } });
    const db = new Database(join(dir, "approvals.db"));
    db.prepare("UPDATE decisions SET justification = 'routine, no change window needed' WHERE execution_id = ?").run(edited);
    db.prepare("UPDATE transitions SET actor = 'approver:carol' WHERE execution_id = ? AND state = 'approved'").run(edited);
    db.close();
    const r = await run(["replay", edited, "--approvals", app.url, "--bundle", BUNDLE], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("routine, no change window needed");
    expect(r.stderr).toMatch(/the record's transitions \[approved by approver:carol; executed by service:1\] differ from the audited ones \[approved by approver:alice; executed by service:1\]/);
    expect(r.stderr).toContain("the record's decision by alice (approve at");
  });

  it("an unknown execution is a coded error, and a missing --bundle/--distribution is usage", async () => {
    const r = await run(["replay", "no-such-id", "--approvals", app.url, "--bundle", BUNDLE], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("error[AECP_EXECUTION_NOT_FOUND]");
    expect((await run(["replay", id, "--approvals", app.url], env)).code).toBe(2);
  });

  it("fails after one byte of one of the execution's stored audit records changes", async () => {
    const db = new Database(join(dir, "approvals.db"));
    const row = db.prepare("SELECT idx, bytes FROM audit_entries WHERE subject = ? ORDER BY idx LIMIT 1").get(id) as { idx: number; bytes: Buffer };
    const b = Buffer.from(row.bytes);
    const at = b.indexOf("feature-flags");
    b[at] = "F".charCodeAt(0);
    db.prepare("UPDATE audit_entries SET bytes = ? WHERE idx = ?").run(b, row.idx);
    db.close();
    const r = await run(["replay", id, "--approvals", app.url, "--bundle", BUNDLE, "--audit-pub", keys.auditPub], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`PROBLEM entry ${row.idx} \\(kind \`execution.created\`\\): the inclusion proof does not verify`));
    const v = await run(["audit", "verify", "--db", join(dir, "approvals.db"), "--pub", keys.auditPub]);
    expect(v.code).toBe(1);
    expect(v.stderr).toContain(`first bad entry: ${row.idx}`);
  });
});
