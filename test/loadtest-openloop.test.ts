// loadtest/openloop.c, the open-loop generator of `npm run bench:authz`: built
// with the system C compiler and run against real grpc-js servers with
// Envoy's ext_authz protos (one that answers OK, one that answers every Check
// with a gRPC error), so that a generator which miscounts, loses calls or
// takes errors for successes fails here rather than in a benchmark table.
// Without a C compiler the suite is skipped with a printed reason, except on
// CI (CI=true), where that is a failure.

import { execFile, execFileSync, spawnSync } from "node:child_process";
import { createServer, type AddressInfo } from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { envoyAuthPackageDefinition } from "../src/executive/envoy.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ON_CI = process.env["CI"] === "true";
const CC = ["cc", "gcc", "clang"].find((c) => spawnSync(c, ["--version"], { stdio: "ignore" }).status === 0);

if (CC === undefined) {
  if (ON_CI) {
    describe("loadtest/openloop.c", () => {
      it("needs a C compiler (CI=true: a missing compiler fails instead of skipping)", () => {
        expect.fail("no cc, gcc or clang on PATH");
      });
    });
  } else {
    console.warn("loadtest-openloop: skipped, no C compiler (cc, gcc or clang) on PATH");
  }
}

interface Result {
  error?: string;
  ok: number;
  failed: number;
  unfinished: number;
  completedInWindow: number;
  rps: number;
  p50: number;
  p99: number;
  max: number;
  serverCpuPerCall: number;
  sendLagP99: number;
  clientCpuShare: number;
}

describe.skipIf(CC === undefined)("loadtest/openloop.c against grpc-js with Envoy's protos", () => {
  let dir: string;
  let bin: string;
  let framePath: string;
  const servers: grpc.Server[] = [];
  let okAddr: string;
  let errAddr: string;
  let checks = 0;

  async function serve(check: grpc.handleUnaryCall<unknown, unknown>): Promise<string> {
    const server = new grpc.Server();
    const pkg = grpc.loadPackageDefinition(envoyAuthPackageDefinition()) as unknown as {
      envoy: { service: { auth: { v3: { Authorization: { service: grpc.ServiceDefinition } } } } };
    };
    server.addService(pkg.envoy.service.auth.v3.Authorization.service, { Check: check });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    servers.push(server);
    return `127.0.0.1:${port}`;
  }

  // asynchronous: the servers run in this process's event loop
  function run(target: string, rate: number, warmupMs: number, durationMs: number): Promise<{ code: number | null; result: Result }> {
    return new Promise((resolve) => {
      execFile(bin, [target, framePath, String(rate), String(warmupMs), String(durationMs), String(process.pid)], { encoding: "utf8", timeout: 30_000 }, (err, stdout) => {
        const line = stdout.trim().split("\n").pop() ?? "";
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, result: JSON.parse(line) as Result });
      });
    });
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aecp-openloop-"));
    bin = join(dir, "openloop");
    execFileSync(CC!, ["-O2", "-Wall", "-Werror", "-pthread", "-o", bin, join(ROOT, "loadtest/openloop.c")], { stdio: "pipe" });
    // a real CheckRequest in a gRPC frame
    const def = envoyAuthPackageDefinition()["envoy.service.auth.v3.Authorization"] as unknown as { Check: { requestSerialize: (o: unknown) => Buffer } };
    const msg = def.Check.requestSerialize({ attributes: { request: { http: { method: "GET", path: "/x", host: "svc", headers: { ":path": "/x", "x-a": "b" } } } } });
    const frame = Buffer.alloc(5 + msg.length);
    frame.writeUInt32BE(msg.length, 1);
    msg.copy(frame, 5);
    framePath = join(dir, "frame.bin");
    writeFileSync(framePath, frame);
    okAddr = await serve((call, cb) => {
      const req = call.request as { attributes?: { request?: { http?: { path?: string } } } };
      if (req.attributes?.request?.http?.path === "/x") checks++;
      cb(null, { status: { code: 0 }, ok_response: {} });
    });
    errAddr = await serve((_call, cb) => cb({ code: grpc.status.UNAVAILABLE, details: "down" }));
  });

  afterAll(() => {
    for (const s of servers) s.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it("sends every scheduled call, on time, and counts each answer once", async () => {
    checks = 0;
    const { code, result } = await run(okAddr, 400, 250, 500);
    expect(code).toBe(0);
    expect(result.error).toBeUndefined();
    // 100 warm-up + 200 measured calls, all decoded by the server as the CheckRequest sent
    expect(checks).toBe(300);
    expect(result.ok).toBe(200);
    expect(result.failed).toBe(0);
    expect(result.unfinished).toBe(0);
    expect(result.completedInWindow).toBeGreaterThan(150);
    expect(result.completedInWindow).toBeLessThanOrEqual(201);
    expect(result.p50).toBeGreaterThan(0);
    expect(result.max).toBeGreaterThanOrEqual(result.p99);
    expect(result.p99).toBeGreaterThanOrEqual(result.p50);
    // it sleeps between calls instead of spinning: far less than a core at 400 calls/s
    expect(result.clientCpuShare).toBeLessThan(0.5);
    expect(Number.isFinite(result.serverCpuPerCall)).toBe(true);
  });

  it("counts gRPC errors (trailers-only responses) as failures, not successes", async () => {
    const { code, result } = await run(errAddr, 200, 0, 250);
    expect(code).toBe(0);
    expect(result.ok).toBe(0);
    expect(result.failed).toBe(50);
  });

  it("a server that goes away mid-run is a reported error (exit 1, JSON), not a silent death", async () => {
    const addr = await serve((_call, cb) => cb(null, { status: { code: 0 }, ok_response: {} }));
    const server = servers[servers.length - 1]!;
    const t0 = Date.now();
    setTimeout(() => server.forceShutdown(), 300);
    const { code, result } = await run(addr, 200, 0, 2000);
    expect(code).toBe(1);
    expect(result.error).toMatch(/GOAWAY|closed the connection|write to the server failed/);
    expect(Date.now() - t0).toBeLessThan(1800); // it stops at once instead of waiting out the window
  });

  it("a peer that never speaks HTTP/2 is reported (no SETTINGS), not waited on forever", async () => {
    const silent = createServer((socket) => socket.on("data", () => {}));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const { code, result } = await run(`127.0.0.1:${(silent.address() as AddressInfo).port}`, 100, 0, 200);
      expect(code).toBe(1);
      expect(result.error).toMatch(/no SETTINGS/);
    } finally {
      silent.close();
    }
  });

  it("refuses targets other than 127.0.0.1 and bad arguments, with a reason", async () => {
    const a = await run("10.0.0.1:80", 100, 0, 100);
    expect(a.code).toBe(1);
    expect(a.result.error).toMatch(/127\.0\.0\.1/);
    for (const [rate, warm, dur] of [[0, 0, 100], [Number.NaN, 0, 100], [100, 0, 5], [100, 700_000, 100]] as const) {
      const b = await run(okAddr, rate, warm, dur);
      expect(b.code).toBe(1);
      expect(b.result.error).toMatch(/bad arguments/);
    }
    const c = await run(`${okAddr}x`, 100, 0, 100);
    expect(c.code).toBe(1);
    expect(c.result.error).toMatch(/port/);
  });
});
