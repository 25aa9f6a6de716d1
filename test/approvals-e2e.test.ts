// End to end: a REQUIRE_APPROVAL policy pauses a request at the sidecar
// (HTTP ext_authz mode, the real HttpApprovalsClient) → the approvals service
// posts a Slack-format webhook (captured by a local HTTP server) carrying
// working per-approver links → the approver opens the link and approves in
// headless Chromium (Debian's /usr/bin/chromium via playwright-core) → the
// client's retry with x-aecp-execution-id is allowed exactly once; a
// modified retry and a second retry are denied → `aecp replay` of the
// execution succeeds → `aecp audit verify` passes, then fails after one byte
// of a stored audit entry is changed.
//
// Without /usr/bin/chromium the browser part is skipped with a printed
// reason, except on CI (CI=true), where that is a failure.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKeyPairPem, parsePrivateKeyPem } from "../src/bundle/index.js";
import { Sidecar, sidecarOptions } from "../src/executive/index.js";
import { compile } from "../src/judicial/index.js";
import { call, ON_CI, startApp, TOKENS, type RunningApp } from "./approvals-helpers.js";

const CHROMIUM = "/usr/bin/chromium";
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const CLI = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));
if (!HAVE_CHROMIUM && !ON_CI) console.warn(`approvals-e2e: skipped, ${CHROMIUM} not found (apt-get install chromium)`);

const POLICIES = `
POLICY prod_config_change {
  SCOPE: requests WHERE request.method IN ["PUT", "POST"] AND request.path STARTS_WITH "/config/"
  ENFORCEMENT: REQUIRE_APPROVAL
  APPROVAL: { APPROVERS: "sre-oncall" QUORUM: 1 TIMEOUT: 15m }
}
`;

describe.skipIf(!HAVE_CHROMIUM && !ON_CI)("approvals end to end (sidecar → Slack webhook → Chromium → single-use retry → replay → audit verify)", () => {
  const dir = mkdtempSync(join(tmpdir(), "aecp-approvals-e2e-"));
  const slack: unknown[] = [];
  let hook: Server;
  let svc: RunningApp;
  let sidecar: Sidecar;
  let browser: Browser | undefined;
  let authz = "";

  beforeAll(async () => {
    if (!HAVE_CHROMIUM) return;
    hook = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        slack.push(JSON.parse(body));
        res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      });
    });
    await new Promise<void>((r) => hook.listen(0, "127.0.0.1", () => r()));
    const kp = generateKeyPairPem();
    writeFileSync(join(dir, "aecp.pub"), kp.publicPem);
    writeFileSync(join(dir, "grant.key"), kp.privatePem);
    const r = await compile([{ path: "p.policy", text: POLICIES }], { name: "e2e", key: parsePrivateKeyPem(kp.privatePem) });
    expect(r.ok).toBe(true);
    writeFileSync(join(dir, "e2e.bundle"), r.bundle!);
    svc = await startApp({ grant_key: "grant.key", notify: { slack_webhook_url: `http://127.0.0.1:${(hook.address() as { port: number }).port}/services/T000/B000/XXXX` } }, { dir });
    sidecar = new Sidecar(sidecarOptions({ bundle: join(dir, "e2e.bundle"), pub: [join(dir, "aecp.pub")], grpc: ["127.0.0.1:0"], http: "127.0.0.1:0", approvals: svc.url, approvalsToken: TOKENS.service }));
    await sidecar.start();
    authz = `http://${sidecar.status().listening.http}/authz`;
  });

  afterAll(async () => {
    await browser?.close();
    await sidecar?.stop();
    await svc?.stop().catch(() => undefined);
    await new Promise<void>((r) => (hook ? hook.close(() => r()) : r()));
    rmSync(dir, { recursive: true, force: true });
  });

  const agent = (body: string, executionId?: string) =>
    call("PUT", `${authz}/config/feature-flags`, { raw: body, headers: { "content-type": "application/json", host: "config.internal", ...(executionId ? { "x-aecp-execution-id": executionId } : {}) } });

  it("pauses, notifies Slack with working links, is approved in Chromium, and lets the request through exactly once", async () => {
    if (!HAVE_CHROMIUM) expect.fail(`${CHROMIUM} not found (CI=true: a missing chromium fails instead of skipping)`);
    const paused = await agent('{"flag":"on"}');
    expect(paused.status).toBe(428);
    const id = paused.headers["x-aecp-execution-id"] as string;
    expect(id).toMatch(/^ex_/);

    // the Slack message: Block Kit with Approve/Reject buttons, a Review button and alice's personal links
    await expect.poll(() => slack.length, { timeout: 10_000 }).toBe(1);
    const msg = slack[0] as { text: string; blocks: Array<{ type: string; elements?: Array<{ action_id?: string; url?: string; text?: unknown; value?: string }> }> };
    expect(msg.text).toContain("PUT config.internal/config/feature-flags");
    const actions = msg.blocks.find((b) => b.type === "actions")!.elements!;
    expect(actions.map((a) => a.action_id)).toEqual(["aecp_approve", "aecp_reject", "aecp_review"]);
    expect(actions[0]!.value).toBe(id);
    const links = JSON.stringify(msg.blocks);
    const approveLink = new RegExp(`<@UALICE>: <(${svc.url}/l/[A-Za-z0-9_.-]+)\\|approve>`).exec(links)?.[1];
    expect(approveLink).toBeDefined();

    // the approver, in a real browser
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    const page = await browser.newPage();
    await page.goto(approveLink!);
    await expect.poll(() => page.textContent("h1")).toContain("Approve as alice?");
    expect(await page.textContent("#action")).toBe("PUT config.internal/config/feature-flags");
    expect((await call("GET", `${svc.url}/v1/executions/${id}`, { token: TOKENS.service })).json.state).toBe("pending"); // the GET changed nothing
    await page.fill("#justification", "checked the flag change");
    await Promise.all([page.waitForNavigation(), page.click("#submit")]);
    expect(await page.textContent("#result")).toContain("approved");
    // the session from the link opens the UI: the record with its timeline
    await page.goto(`${svc.url}/ui/executions/${id}`);
    expect(await page.locator("ol.timeline li").count()).toBe(2);
    await page.goto(`${svc.url}/ui?state=approved`);
    expect(await page.textContent("table")).toContain(id);

    // the retry: modified → denied (and not used up), exact → allowed once, again → denied
    const modified = await agent('{"flag":"off"}', id);
    expect(modified.status).toBe(403);
    expect(modified.headers["x-aecp-reason"]).toBe("AECP_EXECUTION_MISMATCH");
    const ok = await agent('{"flag":"on"}', id);
    expect(ok.status).toBe(200);
    const again = await agent('{"flag":"on"}', id);
    expect(again.status).toBe(403);
    expect(again.headers["x-aecp-reason"]).toBe("AECP_EXECUTION_CONSUMED");
    const rec = (await call("GET", `${svc.url}/v1/executions/${id}/record`, { token: TOKENS.service })).json;
    expect(rec.transitions.map((t: { state: string; actor: string }) => [t.state, t.actor])).toEqual([
      ["pending", "service:1"],
      ["approved", "approver:alice"],
      ["executed", "service:1"],
    ]);
    expect(rec.decisions).toMatchObject([{ approver: "alice", channel: "link", justification: "checked the flag change", accepted: true }]);
  });

  it("`aecp replay` succeeds; `aecp audit verify` passes on the database, and fails after one byte of a stored entry changes", async () => {
    if (!HAVE_CHROMIUM) expect.fail(`${CHROMIUM} not found`);
    const cp = await call("POST", `${svc.url}/v1/audit/checkpoint`, { token: TOKENS.service });
    expect(cp.status).toBe(200);
    // replay: the record re-evaluated on the exact bundle, its audit entries proven against the checkpoint
    const executed = (await call("GET", `${svc.url}/v1/executions?state=executed`, { token: TOKENS.service })).json.executions[0].id as string;
    // async: the service runs in this process and must keep answering while replay calls it
    const replay = await new Promise<{ status: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI, "replay", executed, "--approvals", svc.url, "--bundle", join(dir, "e2e.bundle"), "--pub", join(dir, "aecp.pub"), "--audit-pub", join(dir, "aecp.pub")], {
        env: { ...process.env, AECP_APPROVALS_TOKEN: TOKENS.service },
      });
      let out = "";
      child.stdout.on("data", (b: Buffer) => (out += b.toString()));
      child.stderr.on("data", (b: Buffer) => (out += b.toString()));
      const t = setTimeout(() => child.kill("SIGKILL"), 60_000);
      child.once("close", (status) => (clearTimeout(t), resolve({ status, out })));
    });
    expect(replay.status, replay.out).toBe(0);
    await svc.app.stop();
    const verify = () => spawnSync(process.execPath, [CLI, "audit", "verify", "--db", svc.db, "--pub", join(dir, "aecp.pub")], { encoding: "utf8", timeout: 60_000 });
    const good = verify();
    expect(good.status, good.stdout + good.stderr).toBe(0);
    const db = new Database(svc.db);
    const row = db.prepare("SELECT idx, bytes FROM audit_entries WHERE kind = 'decision.attempt' LIMIT 1").get() as { idx: number; bytes: Buffer };
    const bytes = Buffer.from(row.bytes);
    const at = bytes.indexOf("alice");
    bytes[at] = "A".charCodeAt(0);
    db.prepare("UPDATE audit_entries SET bytes = ? WHERE idx = ?").run(bytes, row.idx);
    db.close();
    const bad = verify();
    expect(bad.status).not.toBe(0);
    expect(bad.stdout + bad.stderr).toContain(String(row.idx));
  });
});
