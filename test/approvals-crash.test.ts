// Crash safety of notifications: `aecp approvals` (the built CLI, a real
// process) is killed with SIGKILL after a decision committed but before its
// notifications were delivered (the webhook receiver is failing, so they sit
// in the outbox). After a restart on the same database every notification
// is delivered exactly once — none lost, none duplicated — and the
// execution's state and timeline are intact.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import { stringify } from "yaml";
import { call, freePort, pauseRequest, testConfig, TOKENS } from "./approvals-helpers.js";

const CLI = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "aecp-approvals-crash-"));
const children: ChildProcess[] = [];
let receiver: Server | undefined;

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
  rmSync(dir, { recursive: true, force: true });
});

async function startService(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, "approvals", "--db", join(dir, "approvals.db"), "--listen", `127.0.0.1:${port}`, "--config", join(dir, "approvals.yaml")], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`approvals did not start: ${out}`)), 30_000);
    const on = (b: Buffer) => {
      out += b.toString();
      if (out.includes("aecp approvals ready")) (clearTimeout(t), resolve());
    };
    child.stdout!.on("data", on);
    child.stderr!.on("data", on);
    child.once("exit", (code) => (clearTimeout(t), reject(new Error(`approvals exited ${code}: ${out}`))));
  });
  child.removeAllListeners("exit");
  return child;
}

it("kill -9 between decision and notification: after restart nothing is lost or duplicated", async () => {
  // the webhook receiver: fails (503) until `healthy`, then records each delivery
  let healthy = false;
  const delivered: Array<{ id: string; event: string }> = [];
  let refused = 0;
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      if (!healthy) {
        refused++;
        res.writeHead(503).end();
        return;
      }
      delivered.push({ id: String(req.headers["x-aecp-delivery-id"]), event: (JSON.parse(body) as { event: string }).event });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => receiver!.listen(0, "127.0.0.1", () => r()));
  const hook = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  writeFileSync(join(dir, "approvals.yaml"), stringify(testConfig({ public_url: url, notify: { webhooks: [{ url: hook, secret: "crash-webhook-secret-0123" }] }, notify_poll_ms: 50, notify_backoff_ms: 20 })));

  const first = await startService(port);
  const created = await call("POST", `${url}/v1/executions`, { token: TOKENS.service, body: pauseRequest("crash", { policies: [{ policy: "p", approvers: ["sre-oncall"], quorum: 1, timeout_ms: 600_000 }] }) });
  const id = created.json.id as string;
  const decided = await call("POST", `${url}/v1/executions/${id}/decisions`, { token: TOKENS.alice, body: { decision: "approve", justification: "ship it" } });
  expect(decided.json.state).toBe("approved");
  // the decision committed; its notification is in the outbox and failing
  await expect.poll(() => refused, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
  first.kill("SIGKILL");
  await new Promise((r) => first.once("exit", r));
  expect(delivered).toEqual([]);

  healthy = true;
  const second = await startService(port);
  // a row that was in flight at the kill stays leased (15 s) before the new process re-sends it
  await expect.poll(() => delivered.length, { timeout: 45_000, interval: 100 }).toBeGreaterThanOrEqual(2);
  // give a duplicate (if any) time to show up: the outbox poll runs every 50 ms
  await new Promise((r) => setTimeout(r, 500));
  expect(delivered.map((d) => d.event).sort()).toEqual(["execution.created", "execution.decided"]);
  expect(new Set(delivered.map((d) => d.id)).size).toBe(2);
  const rec = await call("GET", `${url}/v1/executions/${id}/record`, { token: TOKENS.service });
  expect(rec.json.state).toBe("approved");
  expect(rec.json.transitions.map((t: { state: string }) => t.state)).toEqual(["pending", "approved"]);
  const metrics = await call("GET", `${url}/metrics`);
  expect(metrics.text).toContain('aecp_approvals_outbox{status="pending"} 0');
  expect(metrics.text).toContain('aecp_approvals_outbox{status="delivered"} 2');
  second.kill("SIGTERM");
  await new Promise((r) => second.once("exit", r));
});
