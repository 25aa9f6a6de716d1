// The HTTP/2 flow-control experiment behind the window recommendation in
// docs/performance.md: the no-op ext_authz server (loadtest/noop-server.mjs)
// under 256 calls in flight on one connection, with each candidate setting
// alone. About 1 minute; 127.0.0.1 only.
//
//   node loadtest/h2-window-sweep.mjs      (AECP_BENCH_RUNS, AECP_BENCH_DURATION)
//
// Client: h2load if installed (nghttp2, like Envoy's default codec), else
// node:http2 (also nghttp2) via loadtest/loadgen.mjs.

import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { median, table } from "../bench/stats.mjs";
import { CHECK_PATH, checkRequestFrame } from "./common.mjs";

const RUNS = Number(process.env.AECP_BENCH_RUNS ?? 3);
const DURATION_S = Number(process.env.AECP_BENCH_DURATION ?? 3);
const here = fileURLToPath(new URL("./", import.meta.url));
const dir = mkdtempSync(join(os.tmpdir(), "aecp-h2-sweep-"));
const children = new Set();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});
let h2load = true;
try {
  execFileSync("h2load", ["--version"], { stdio: "ignore" });
} catch {
  h2load = false;
}

const frame = await checkRequestFrame(5);
writeFileSync(join(dir, "req.bin"), frame);
const MiB = 1024 * 1024;
const variants = [
  ["grpc-js defaults (no server options)", { AECP_NOOP_SERVER_OPTIONS: JSON.stringify({ "grpc.max_concurrent_streams": null, "grpc-node.max_session_memory": null }) }],
  ["current sidecar options (max_concurrent_streams 4096, max_session_memory 64)", {}],
  ["+ grpc-node.flow_control_window 8 MiB (ignored by grpc-js 1.14 servers)", { AECP_NOOP_SERVER_OPTIONS: JSON.stringify({ "grpc-node.flow_control_window": 8 * MiB }) }],
  ["+ SETTINGS_INITIAL_WINDOW_SIZE 1 MiB only (per stream)", { AECP_BENCH_H2_STREAM_WINDOW: String(MiB), AECP_BENCH_H2_CONN_WINDOW: "0" }],
  ["+ connection window 128 KiB (setLocalWindowSize)", { AECP_BENCH_H2_STREAM_WINDOW: "0", AECP_BENCH_H2_CONN_WINDOW: String(128 * 1024) }],
  ["+ connection window 256 KiB", { AECP_BENCH_H2_STREAM_WINDOW: "0", AECP_BENCH_H2_CONN_WINDOW: String(256 * 1024) }],
  ["+ connection window 1 MiB", { AECP_BENCH_H2_STREAM_WINDOW: "0", AECP_BENCH_H2_CONN_WINDOW: String(MiB) }],
  ["+ connection window 8 MiB", { AECP_BENCH_H2_STREAM_WINDOW: "0", AECP_BENCH_H2_CONN_WINDOW: String(8 * MiB) }],
];

function run(cmd, args, env) {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    children.add(c);
    let out = "";
    c.stdout.on("data", (d) => (out += d));
    c.stderr.on("data", (d) => (out += d));
    c.once("exit", (code) => {
      children.delete(c);
      code === 0 ? resolve(out) : reject(new Error(`${cmd} failed (${code}): ${out}`));
    });
  });
}

async function startNoop(env) {
  const c = spawn(process.execPath, ["--import", join(here, "h2-window.mjs"), join(here, "noop-server.mjs")], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, ...env } });
  children.add(c);
  let out = "";
  const target = await new Promise((resolve, reject) => {
    c.stdout.on("data", (d) => {
      out += d;
      const m = /noop ready (\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    c.once("exit", (code) => reject(new Error(`no-op server exited (${code})`)));
  });
  return { c, target, pid: c.pid };
}

async function once(server, seconds, record) {
  if (h2load) {
    const log = join(dir, "h2.log");
    rmSync(log, { force: true });
    const out = await run("h2load", ["-c1", "-t1", "-m256", `-D${seconds * 1000}ms`, ...(record ? [`--log-file=${log}`] : []), "-d", join(dir, "req.bin"), "-H", "content-type: application/grpc", "-H", "te: trailers", `http://${server.target}${CHECK_PATH}`]);
    if (!record) return null;
    const rps = Number(/finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(out)[1]);
    const xs = Float64Array.from(readFileSync(log, "utf8").trim().split("\n").map((l) => Number(l.split("\t")[2]))).sort();
    const pct = (p) => xs[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];
    return { rps, p50: pct(50), p99: pct(99), max: xs[xs.length - 1] };
  }
  const out = await run(process.execPath, [join(here, "loadgen.mjs"), JSON.stringify({ target: server.target, frame: frame.toString("base64"), serverPid: server.pid, mode: "closed", concurrency: 256, warmupMs: 0, durationMs: seconds * 1000, transport: "node-http2" })]);
  return JSON.parse(out.trim().split("\n").pop());
}

const rows = [];
for (const [label, env] of variants) {
  const server = await startNoop(env);
  await once(server, 1, false);
  const rs = [];
  for (let k = 0; k < RUNS; k++) rs.push(await once(server, DURATION_S, true));
  server.c.kill("SIGTERM");
  const med = (f) => median(rs.map((r) => r[f]));
  const ms = (x) => `${(x / 1000).toFixed(1)} ms`;
  rows.push([label, Math.round(med("rps")).toLocaleString("en-US"), ms(med("p50")), ms(med("p99")), ms(med("max")), rs.map((r) => ms(r.p99)).join(" ")]);
  process.stderr.write(`${label}: done\n`);
}
console.log(`\nno-op ext_authz server, 256 calls in flight on one HTTP/2 connection (${h2load ? "h2load" : "node:http2"}), ${RUNS} runs × ${DURATION_S} s, medians; request ${frame.length} bytes\n`);
console.log(table(["server setting", "calls/s", "p50", "p99", "max", "p99 per run"], rows));
process.exit(0);
