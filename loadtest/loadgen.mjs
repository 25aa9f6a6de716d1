// The Node load generator of `npm run bench:authz`, run in its own process
// (so its CPU is not the server's): gRPC Check calls on ONE HTTP/2 connection
// with pre-encoded frames (loadtest/h2client.mjs; no protobuf, grpc-js or
// node:http2 work per call on the client side).
//
//   node loadtest/loadgen.mjs '<json config>'
//
// config: {
//   target: "127.0.0.1:<port>", frame: "<base64 gRPC frame>",
//   mode: "closed" | "open",
//   concurrency: N,            // closed: calls kept in flight
//   rate: R,                   // open: calls per second, sent on schedule
//   warmupMs, durationMs,      // warm-up (not recorded), then the measured window
//   serverPid,                 // server utime+stime is read at the window's edges
//   clientWindow,              // our receive window in bytes; default 256 MiB (Envoy's default)
//   transport: "frames" | "node-http2",  // default frames (loadtest/h2client.mjs);
//                              // node-http2 = node:http2, i.e. nghttp2's stream scheduling, as in h2load and Envoy
//   nice                       // lower this process's priority (the open-loop scheduler spins)
// }
//
// Open loop: call k of the window is due at t0 + k/R and is sent then whether
// or not earlier calls have answered; its latency is measured from that due
// time, not from when it was actually sent, so a stalled server or a late
// generator shows up in the latency instead of being hidden (no coordinated
// omission). The scheduler spins on setImmediate, which keeps this process
// on one core but makes sends punctual (its lag is reported).
//
// Prints one JSON line with the results (latencies in µs).

import http2 from "node:http2";
import os from "node:os";
import { H2Client } from "./h2client.mjs";
import { CHECK_PATH, cpuMicros } from "./common.mjs";

const cfg = JSON.parse(process.argv[2]);
if (cfg.nice) os.setPriority(cfg.nice);
const [host, port] = cfg.target.split(":");
if (host !== "127.0.0.1") {
  process.stdout.write(JSON.stringify({ error: `target must be 127.0.0.1, not ${host}` }) + "\n");
  process.exit(2);
}
const expected = cfg.mode === "open" ? Math.ceil((cfg.rate * cfg.durationMs) / 1000) + 16 : 1 << 20;
let lat = new Float64Array(expected);
let n = 0;
let failed = 0;
let recording = false;
let winStart = Infinity;
let winEnd = Infinity;
let completedInWindow = 0;
let onDoneHook = null;

function fail(msg) {
  process.stdout.write(JSON.stringify({ error: msg }) + "\n");
  process.exit(1);
}

/** The H2Client interface on node:http2 (nghttp2), for runs that should schedule streams as nghttp2 does. */
class NodeHttp2Client {
  constructor(o) {
    this.o = o;
    this.inFlight = 0;
    this.waiting = [];
    this.waitingHead = 0;
    this.stats = {};
    this.headers = { ":method": "POST", ":path": o.path, "content-type": "application/grpc", te: "trailers" };
  }
  async connect() {
    const w = this.o.window ?? 256 * 1024 * 1024;
    this.session = http2.connect(`http://${this.o.host}:${this.o.port}`, { settings: { initialWindowSize: Math.min(w, 2 ** 31 - 1) } });
    this.session.on("error", (e) => this.o.onFatal(`session error: ${e.message}`));
    this.session.on("goaway", (code) => this.o.onFatal(`server sent GOAWAY, error code ${code}`));
    await new Promise((resolve, reject) => {
      this.session.once("connect", resolve);
      this.session.once("error", reject);
    });
    if (w > 65535) this.session.setLocalWindowSize(Math.min(w, 2 ** 31 - 1));
  }
  call(start) {
    this.inFlight++;
    let status;
    let data = false;
    const req = this.session.request(this.headers);
    req.on("response", (h) => h["grpc-status"] !== undefined && (status = h["grpc-status"]));
    req.on("trailers", (t) => (status = t["grpc-status"]));
    req.on("data", () => (data = true));
    req.on("error", () => (status = "stream error"));
    req.on("close", () => {
      this.inFlight--;
      this.o.onDone(start, status === "0" && data);
    });
    req.end(this.o.body);
  }
  flush() {}
  close() {
    this.session.close();
  }
}

const client = new (cfg.transport === "node-http2" ? NodeHttp2Client : H2Client)({
  host,
  port: Number(port),
  path: CHECK_PATH,
  body: Buffer.from(cfg.frame, "base64"),
  window: cfg.clientWindow,
  onFatal: fail,
  onDone(start, ok) {
    const now = performance.now();
    if (now >= winStart && now < winEnd) completedInWindow++;
    if (recording && start >= winStart && start < winEnd) {
      if (!ok) failed++;
      else {
        if (n === lat.length) {
          const next = new Float64Array(lat.length * 2);
          next.set(lat);
          lat = next;
        }
        lat[n++] = now - start;
      }
    }
    onDoneHook?.(now);
  },
});
await client.connect();
let maxInFlight = 0;

// --- closed loop ----------------------------------------------------------------------
function closedLoop(concurrency, until) {
  return new Promise((resolve) => {
    onDoneHook = (now) => {
      if (now < until) client.call(now);
      else if (client.inFlight === 0) resolve();
    };
    const now = performance.now();
    for (let i = 0; i < concurrency; i++) client.call(now);
    client.flush();
  });
}

// --- open loop ------------------------------------------------------------------------
const lag = [];
let maxGap = 0;
function openLoop(rate, start, until, measured) {
  const interval = 1000 / rate;
  return new Promise((resolve) => {
    let k = 0;
    let due = start;
    let last = performance.now();
    const tick = () => {
      const now = performance.now();
      if (measured && now - last > maxGap) maxGap = now - last;
      last = now;
      while (due <= now && due < until) {
        if (measured && (k & 15) === 0) lag.push(now - due);
        client.call(due);
        k++;
        due = start + k * interval;
      }
      client.flush();
      const open = client.inFlight + client.waiting.length - client.waitingHead;
      if (open > maxInFlight) maxInFlight = open;
      if (due < until) setImmediate(tick);
      else resolve();
    };
    tick();
  });
}

function waitDrained(timeoutMs) {
  const limit = performance.now() + timeoutMs;
  return new Promise((resolve) => {
    const check = () => (client.inFlight === 0 || performance.now() > limit ? resolve() : setTimeout(check, 2));
    check();
  });
}

// --- run ------------------------------------------------------------------------------
const cpu0Client = process.cpuUsage();
const runStart = performance.now();
let serverCpu = NaN;
let serverMainCpu = NaN;
if (cfg.mode === "closed") {
  winStart = runStart + cfg.warmupMs;
  winEnd = winStart + cfg.durationMs;
  recording = true;
  let cpuStart;
  let mainStart;
  setTimeout(() => {
    cpuStart = cpuMicros(cfg.serverPid);
    mainStart = cpuMicros(cfg.serverPid, true);
  }, cfg.warmupMs);
  setTimeout(() => {
    serverCpu = cpuMicros(cfg.serverPid) - cpuStart;
    serverMainCpu = cpuMicros(cfg.serverPid, true) - mainStart;
  }, cfg.warmupMs + cfg.durationMs);
  maxInFlight = cfg.concurrency;
  await closedLoop(cfg.concurrency, winEnd);
} else {
  await openLoop(cfg.rate, runStart, runStart + cfg.warmupMs, false);
  await waitDrained(2000);
  winStart = performance.now();
  winEnd = winStart + cfg.durationMs;
  recording = true;
  const cpuStart = cpuMicros(cfg.serverPid);
  const mainStart = cpuMicros(cfg.serverPid, true);
  await openLoop(cfg.rate, winStart, winEnd, true);
  serverCpu = cpuMicros(cfg.serverPid) - cpuStart; // the loop returns on its first turn after winEnd
  serverMainCpu = cpuMicros(cfg.serverPid, true) - mainStart;
}
await waitDrained(10000);
const unfinished = client.inFlight;
const clientCpu = process.cpuUsage(cpu0Client);
const elapsed = performance.now() - runStart;
client.close();

const xs = lat.subarray(0, n).sort();
const pct = (p) => (n === 0 ? NaN : xs[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]);
let sum = 0;
for (let i = 0; i < n; i++) sum += xs[i];
lag.sort((a, b) => a - b);
process.stdout.write(
  JSON.stringify({
    mode: cfg.mode,
    ok: n,
    failed,
    unfinished,
    completedInWindow,
    rps: (completedInWindow * 1000) / cfg.durationMs,
    p50: pct(50) * 1e3,
    p99: pct(99) * 1e3,
    p999: pct(99.9) * 1e3,
    max: (n ? xs[n - 1] : NaN) * 1e3,
    mean: (sum / Math.max(1, n)) * 1e3,
    maxInFlight,
    serverCpuMicros: serverCpu,
    serverCpuPerCall: serverCpu / completedInWindow,
    serverMainCpuPerCall: serverMainCpu / completedInWindow,
    serverMainBusy: serverMainCpu / 1e3 / cfg.durationMs, // share of the window the main thread was on a CPU
    clientCpuShare: (clientCpu.user + clientCpu.system) / 1e3 / elapsed, // of one core
    maxTickGap: maxGap * 1e3,
    sendLagP99: lag.length ? lag[Math.min(lag.length - 1, Math.ceil(0.99 * lag.length) - 1)] * 1e3 : undefined,
    flowControl: client.stats, // calls whose DATA waited for the server's window / for a stream slot
  }) + "\n",
);
process.exit(0);
