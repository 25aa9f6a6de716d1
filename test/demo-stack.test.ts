// `npm start` end to end, as a user runs it: `node dist/cli/main.js demo`
// (the whole stack: distribution, approvals on SQLite, a sidecar) on free
// ports with a temp state folder. Every command the banner prints is parsed
// from stdout and run exactly as printed (bash, from the repository root):
// allow → 200, deny → 403, the curl pause → 428; `demo request pause` is
// approved once in headless Chromium through the printed link and once with
// the API command it prints; each time the retry is allowed once and a
// second retry denied. Then SIGINT: exit 0, no child left, ports free. A
// second run on the same state reuses the key and tokens; killing one of its
// services stops the rest with AECP_DEMO_SERVICE_FAILED (exit 1).
//
// Chromium (/usr/bin/chromium) and curl (/usr/bin/curl) parts are skipped with
// a printed reason when absent, except on CI (CI=true), where that fails.

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CLI = join(ROOT, "dist/cli/main.js");
const CHROMIUM = "/usr/bin/chromium";
const CURL = "/usr/bin/curl";
const ON_CI = process.env["CI"] === "true";
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const HAVE_CURL = existsSync(CURL);
if (!HAVE_CHROMIUM && !ON_CI) console.warn(`demo-stack: browser approval skipped, ${CHROMIUM} not found (apt-get install chromium)`);
if (!HAVE_CURL && !ON_CI) console.warn(`demo-stack: curl commands skipped, ${CURL} not found (apt-get install curl)`);

/** A child process with its output collected and bounded waits on it. */
class Proc {
  out = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  constructor(readonly child: ChildProcess) {
    child.stdout!.on("data", (d: Buffer) => (this.out += d.toString("utf8")));
    child.stderr!.on("data", (d: Buffer) => (this.out += d.toString("utf8")));
    this.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  }
  /** Resolves with the first match of `re` in the output; rejects on exit or after `ms`. */
  async waitFor(re: RegExp, ms: number): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    let gone = false;
    void this.exited.then(() => (gone = true));
    for (;;) {
      const m = re.exec(this.out);
      if (m) return m;
      if (gone) throw new Error(`exited before printing ${re}:\n${this.out}`);
      if (Date.now() > deadline) throw new Error(`no ${re} within ${ms} ms:\n${this.out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  async exit(ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`did not exit within ${ms} ms:\n${this.out}`)), ms)));
    try {
      return await Promise.race([this.exited, t]);
    } finally {
      clearTimeout(timer);
    }
  }
}

const startDemo = (state: string, ...extra: string[]): Proc =>
  new Proc(spawn(process.execPath, [CLI, "demo", "--state", state, "--distribution-port", "0", "--approvals-port", "0", "--grpc-port", "0", "--http-port", "0", ...extra], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] }));

/** Runs a printed command line exactly as printed, with bash, from the repository root. */
const shell = (line: string): Proc => new Proc(spawn("bash", ["-c", line], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] }));

async function run(line: string, ms = 30_000): Promise<{ code: number | null; out: string }> {
  const p = shell(line);
  const { code } = await p.exit(ms);
  return { code, out: p.out };
}

interface Running {
  pid: number;
  children: Record<string, number>;
  distribution: string;
  approvals: string;
  sidecarHttp: string;
  sidecarGrpc: string;
}

const readRunning = (state: string): Running => JSON.parse(readFileSync(join(state, "demo/running.json"), "utf8")) as Running;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** True when `port` can be bound on 127.0.0.1 (nothing listens there any more). */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s: Server = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

const portOf = (url: string): number => Number(/:(\d+)$/.exec(url.replace(/\/$/, ""))![1]);

/** Kill whatever a failed test left behind (children first), by pid. */
function killAll(state: string, demo: Proc | undefined): void {
  try {
    for (const pid of Object.values(readRunning(state).children)) if (alive(pid)) process.kill(pid, "SIGKILL");
  } catch {
    // no running.json: nothing was started or it stopped cleanly
  }
  if (demo && demo.child.exitCode === null && demo.child.signalCode === null) demo.child.kill("SIGKILL");
}

describe("npm start (aecp demo): the whole stack, every printed command as printed", () => {
  const state = mkdtempSync(join(tmpdir(), "aecp-demo-"));
  let demo: Proc | undefined;
  let banner = "";
  let commands: string[] = [];
  let running: Running;
  let browser: Browser | undefined;

  beforeAll(async () => {
    demo = startDemo(state);
    await demo.waitFor(/Approval requests appear here/, 120_000);
    banner = demo.out;
    commands = [...banner.matchAll(/^ {2}((?:node \S+ demo request|curl) .*)$/gm)].map((m) => m[1]!);
    running = readRunning(state);
  }, 130_000);

  afterAll(async () => {
    await browser?.close();
    killAll(state, demo);
    rmSync(state, { recursive: true, force: true });
  });

  it("reaches ready, measures it, and prints the endpoints, tokens and commands", () => {
    const ready = /AECP demo ready in (\d+\.\d) s/.exec(banner);
    expect(ready, banner).not.toBeNull();
    expect(banner).toContain(`distribution  ${running.distribution}`);
    expect(banner).toContain(`approvals     ${running.approvals}`);
    expect(banner).toContain(`gRPC ext_authz ${running.sidecarGrpc} · HTTP ${running.sidecarHttp}`);
    expect(banner).toMatch(/following `ai-agent-approval` revision 1 \(4 policies\)/);
    expect(banner).toMatch(/approver alice \(sre-oncall, platform-leads\) API token demo-alice-\S{16,}/);
    const requests = commands.filter((c) => c.startsWith("node "));
    expect(requests).toEqual(["allow", "deny", "pause"].map((k) => `node dist/cli/main.js demo request ${k} --state ${state}`));
    expect(commands.filter((c) => c.startsWith("curl ")).length).toBe(3);
    expect(Object.keys(running.children).sort()).toEqual(["approvals", "distribution", "sidecar"]);
  });

  it("`demo request allow` and `demo request deny` work as printed: 200 and 403", async () => {
    const allow = await run(commands.find((c) => c.includes("demo request allow"))!);
    expect(allow.code, allow.out).toBe(0);
    expect(allow.out).toMatch(/^← 200 /m);
    expect(allow.out).toContain("✓ allowed");
    const deny = await run(commands.find((c) => c.includes("demo request deny"))!);
    expect(deny.code, deny.out).toBe(0);
    expect(deny.out).toMatch(/^← 403 .*x-aecp-reason: AECP_POLICY_VIOLATION/m);
    expect(deny.out).toContain('"policy":"agent_no_secrets"');
  });

  it.skipIf(!HAVE_CURL && !ON_CI)("the printed curl commands work as printed: allow 200, deny 403, pause 428 with an execution", async () => {
    if (!HAVE_CURL) expect.fail(`${CURL} not found (CI=true: a missing curl fails instead of skipping)`);
    const [allow, deny, pause] = commands.filter((c) => c.startsWith("curl "));
    const a = await run(allow!);
    expect(a.out).toMatch(/^HTTP\/1\.1 200 /m);
    expect(a.out).toMatch(/^x-aecp-decision-id: /m);
    const d = await run(deny!);
    expect(d.out).toMatch(/^HTTP\/1\.1 403 /m);
    expect(d.out).toContain('"reason":"AECP_POLICY_VIOLATION"');
    const p = await run(pause!);
    expect(p.out).toMatch(/^HTTP\/1\.1 428 /m);
    expect(p.out).toMatch(/^x-aecp-execution-id: ex_[A-Za-z0-9_-]+/m);
    expect(p.out).toMatch(new RegExp(`^location: ${running.approvals}/ui/executions/ex_`, "m"));
  });

  it.skipIf(!HAVE_CHROMIUM && !ON_CI)("`demo request pause`: 428 → approve in Chromium via the printed link → the retry is allowed once, a second denied", async () => {
    if (!HAVE_CHROMIUM) expect.fail(`${CHROMIUM} not found (CI=true: a missing chromium fails instead of skipping)`);
    const pause = shell(commands.find((c) => c.includes("demo request pause"))!);
    try {
      const link = (await pause.waitFor(/^ {2}(http:\/\/127\.0\.0\.1:\d+\/l\/\S+) {4}\(as alice\)$/m, 30_000))[1]!;
      expect(pause.out).toMatch(/^← 428 /m);
      // the demo console (the inbox) shows the same link
      await demo!.waitFor(new RegExp(`approve as alice: ${link.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`), 10_000);
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
      const page = await browser.newPage();
      await page.goto(link);
      await expect.poll(() => page.textContent("h1"), { timeout: 10_000 }).toContain("Approve as alice?");
      await page.fill("#justification", "demo test: looks right");
      await Promise.all([page.waitForNavigation(), page.click("#submit")]);
      expect(await page.textContent("#result")).toContain("approved");
      const { code } = await pause.exit(30_000);
      expect(code, pause.out).toBe(0);
      expect(pause.out).toContain("decision: approved by alice");
      expect(pause.out).toMatch(/^← 200 .*x-aecp-execution-id: ex_/m);
      expect(pause.out).toContain("✓ allowed once");
      expect(pause.out).toMatch(/^← 403 .*x-aecp-reason: AECP_EXECUTION_CONSUMED/m);
    } finally {
      if (pause.child.exitCode === null) pause.child.kill("SIGKILL");
    }
  }, 90_000);

  it("`demo request pause`: approve with the API command it prints → allowed once, then denied", async () => {
    const pause = shell(commands.find((c) => c.includes("demo request pause"))!);
    try {
      const approve = (await pause.waitFor(/^ {2}(curl -s -X POST \S+\/decisions .*)$/m, 30_000))[1]!;
      expect(approve).toContain(running.approvals);
      if (HAVE_CURL) {
        const r = await run(approve);
        expect(JSON.parse(r.out).state, r.out).toBe("approved");
      } else {
        // without curl (skipped above with a reason), approve through the same API with fetch
        const m = /-X POST (\S+) -H 'authorization: Bearer (\S+)'/.exec(approve)!;
        const res = await fetch(m[1]!, { method: "POST", headers: { authorization: `Bearer ${m[2]}`, "content-type": "application/json" }, body: '{"decision":"approve"}' });
        expect(res.status).toBe(200);
      }
      const { code } = await pause.exit(30_000);
      expect(code, pause.out).toBe(0);
      expect(pause.out).toContain("✓ allowed once");
      expect(pause.out).toContain("✓ denied (AECP_EXECUTION_CONSUMED)");
      await demo!.waitFor(/\[approvals\] execution ex_\S+ is approved \(approver:alice: reviewed in the demo\)/, 10_000);
    } finally {
      if (pause.child.exitCode === null) pause.child.kill("SIGKILL");
    }
  }, 60_000);

  it("SIGINT stops the sidecar, then approvals and distribution: exit 0, no child left, ports free", async () => {
    const pids = Object.values(running.children);
    expect(pids.every(alive)).toBe(true);
    demo!.child.kill("SIGINT");
    const { code, signal } = await demo!.exit(40_000);
    expect({ code, signal }, demo!.out).toEqual({ code: 0, signal: null });
    expect(demo!.out).toContain("stopped.");
    expect(pids.filter(alive)).toEqual([]);
    expect(existsSync(join(state, "demo/running.json"))).toBe(false);
    for (const url of [running.distribution, running.approvals, running.sidecarHttp, `http://${running.sidecarGrpc}`]) expect(await portFree(portOf(url)), url).toBe(true);
    // the sidecar shipped its decision log to approvals before approvals stopped
    expect(readFileSync(join(state, "logs/sidecar.log"), "utf8")).not.toMatch(/AECP_INTERNAL|internal error/);
  }, 60_000);

  it("`demo request` without a running stack: exit 2, AECP_DEMO_NOT_RUNNING", async () => {
    const r = await run(`node dist/cli/main.js demo request allow --state ${state}`);
    expect(r.code).toBe(2);
    expect(r.out).toContain("error[AECP_DEMO_NOT_RUNNING]");
  });

  it("a second start reuses the key and tokens; a service that dies stops the rest (AECP_DEMO_SERVICE_FAILED, exit 1)", async () => {
    const token = /API token (\S+)/.exec(banner)![1]!;
    demo = startDemo(state);
    await demo.waitFor(/Approval requests appear here/, 120_000);
    expect(demo.out).toContain("• using the signing key");
    expect(demo.out).toContain(`API token ${token}`);
    expect(demo.out).toMatch(/following `ai-agent-approval` revision 2 /);
    const again = readRunning(state);
    process.kill(again.children["approvals"]!, "SIGKILL");
    const { code } = await demo.exit(40_000);
    expect(code, demo.out).toBe(1);
    expect(demo.out).toMatch(/error\[AECP_DEMO_SERVICE_FAILED\]: the approvals service exited unexpectedly \(signal SIGKILL\)/);
    expect(Object.values(again.children).filter(alive)).toEqual([]);
  }, 150_000);

  it("a busy port fails at once with AECP_DEMO_PORT_IN_USE naming the port and its flag (exit 2)", async () => {
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, "127.0.0.1", () => r()));
    const busy = (holder.address() as { port: number }).port;
    try {
      const p = startDemo(state, "--approvals-port", String(busy));
      const { code } = await p.exit(30_000);
      expect(code, p.out).toBe(2);
      expect(p.out).toContain(`error[AECP_DEMO_PORT_IN_USE]: port ${busy} on 127.0.0.1 (approvals service) is already in use`);
      expect(p.out).toContain("--approvals-port <port>");
    } finally {
      await new Promise((r) => holder.close(r));
    }
  });
});
