// `aecp sidecar --workers <n>`: n processes (node:cluster) share the TCP and
// Unix listeners; a dead worker is restarted; SIGTERM stops them all; a
// configuration that cannot start stops the primary instead of crash-looping.
// Runs the built CLI (dist/), as users do.

import { spawn, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { get } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authClient, noPostBundle } from "./helpers/sidecar-fixture.js";

const CLI = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));

let dir: string;
let bundlePath: string;
let pubPath: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  ({ dir, bundlePath, pubPath } = await noPostBundle("aecp-workers-", "workers"));
});

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

function startCli(args: string[]): { child: ChildProcess; ready: Promise<string>; exited: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, [CLI, "sidecar", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  let err = "";
  child.stderr!.on("data", (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const ready = new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const line = out.split("\n").find((l) => l.startsWith("aecp sidecar ready"));
      if (line) resolve(line);
    });
    void exited.then((code) => reject(new Error(`exited ${code} before ready: ${err}`)));
  });
  return { child, ready, exited, stderr: () => err };
}

/** GET on a fresh connection each time, so cluster hands it to the next worker. */
function getJson(url: string): Promise<{ pid: number; ready: boolean }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false, timeout: 3000 }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve(JSON.parse(body) as { pid: number; ready: boolean }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

function check(addr: string, method: string): Promise<number | undefined> {
  const c = authClient(addr);
  const req = { attributes: { request: { http: { method, path: "/x", host: "h", headers: {} } } } };
  return new Promise((resolve, reject) =>
    c.Check(req, { deadline: Date.now() + 10_000 }, (e, r) => {
      c.close();
      return e ? reject(e) : resolve(r?.status?.code ?? 0);
    }),
  );
}

async function pidsSeen(statusUrl: string, tries: number): Promise<Set<number>> {
  const pids = new Set<number>();
  for (let i = 0; i < tries; i++) pids.add((await getJson(statusUrl)).pid);
  return pids;
}

describe("sidecar --workers", () => {
  it("shares TCP and Unix listeners across workers, restarts a dead one, and stops them all on SIGTERM", async () => {
    const sock = join(dir, "authz.sock");
    const cli = startCli(["--bundle", bundlePath, "--pub", pubPath, "--workers", "2", "--grpc", "127.0.0.1:0", "--grpc", `unix:${sock}`, "--http", "127.0.0.1:0"]);
    const line = await cli.ready;
    expect(line).toMatch(/^aecp sidecar ready \(2 workers, primary pid \d+\): bundle `workers`/);
    const tcp = /gRPC ext_authz on (127\.0\.0\.1:\d+)/.exec(line)![1]!;
    const http = /HTTP on (127\.0\.0\.1:\d+)/.exec(line)![1]!;
    const statusUrl = `http://${http}/status`;

    const pids = await pidsSeen(statusUrl, 12);
    expect(pids.size).toBe(2);
    expect(pids.has(cli.child.pid!)).toBe(false); // the primary serves nothing itself
    expect(await check(tcp, "POST")).toBe(7);
    expect(await check(tcp, "GET")).toBe(0);
    expect(await check(`unix:${sock}`, "POST")).toBe(7);

    // kill -9 one worker: the primary forks a replacement
    const victim = [...pids][0]!;
    process.kill(victim, "SIGKILL");
    let now = new Set<number>();
    for (let i = 0; i < 100; i++) {
      now = await pidsSeen(statusUrl, 6).catch(() => new Set<number>());
      if (now.size === 2 && !now.has(victim)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(now.size).toBe(2);
    expect(now.has(victim)).toBe(false);
    expect(cli.stderr()).toContain(`worker ${victim} exited`);

    cli.child.kill("SIGTERM");
    expect(await cli.exited).toBe(0);
    for (const pid of now) expect(() => process.kill(pid, 0)).toThrow(); // workers are gone
  });

  it("a configuration that cannot start stops the primary with the worker's reason, instead of crash-looping", async () => {
    const cli = startCli(["--bundle", join(dir, "missing.bundle"), "--pub", pubPath, "--workers", "2", "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0"]);
    await expect(cli.ready).rejects.toThrow(/exited 2/);
    expect(cli.stderr()).toMatch(/could not start: cannot read bundle/);
  });
});
