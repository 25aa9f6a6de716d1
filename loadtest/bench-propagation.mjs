// npm run bench:propagation — how fast a publish reaches every sidecar.
//
// One distribution service (`aecp distribution`, node dist/cli/main.js, its
// own process, filesystem storage in a temp dir, 127.0.0.1) and WATCHERS
// lightweight sidecar watchers spread over PROCS processes
// (loadtest/propagation-worker.mjs: the real BundleWatcher and the sidecar's
// full verify-and-swap path). Revision 1 is published first and every watcher
// activates it; then REVISIONS successive revisions are published through the
// real client (`publishBundle`, as `aecp publish`), each once every watcher
// has the previous one.
//
// Reported: publish → active latency per watcher and revision (t0 = just
// before the publish call; t1 = the watcher's swap; one machine clock), as
// p50 / p99 / max over all watchers × revisions, and per revision; the
// distribution service's CPU time during the publishes and its RSS with all
// watchers attached. Baseline in the same run: the same measurement with ONE
// watcher (the floor: upload + wake + download + verify + instantiate), and
// the ratio of the two.
//
// Then the service alone: AECP_BENCH_IDLE raw long polls held (RSS per held
// poll) and answered by one publish (fan-out time without client work).
//
// Watcher processes default to one per core (os.availableParallelism()): more
// processes than cores only add context switches between them (measured on
// 2 cores: 1.7 ms of watcher CPU per activation with 2 processes, 2.5–2.8 ms
// with 4 or 8).
//
// Environment: AECP_BENCH_WATCHERS (500), AECP_BENCH_PROCS (cores),
// AECP_BENCH_REVISIONS (10), AECP_BENCH_IDLE (5000; 0 = skip). Needs `npm run build`. About a minute on 2 cores.

import { spawn } from "node:child_process";
import http from "node:http";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateKeyPairPem, parsePrivateKeyPem } from "../dist/bundle/index.js";
import { publishBundle } from "../dist/distribution/index.js";
import { compile } from "../dist/judicial/index.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const WATCHERS = Number(process.env.AECP_BENCH_WATCHERS ?? 500);
const PROCS = Math.min(Number(process.env.AECP_BENCH_PROCS ?? os.availableParallelism()), WATCHERS);
const REVISIONS = Number(process.env.AECP_BENCH_REVISIONS ?? 10);
const TICK_S = 1 / 100; // USER_HZ on Linux

const dir = mkdtempSync(join(os.tmpdir(), "aecp-bench-prop-"));
const keyPem = generateKeyPairPem();
const key = parsePrivateKeyPem(keyPem.privatePem);
const pubPath = join(dir, "aecp.pub");
writeFileSync(pubPath, keyPem.publicPem);

/** 1 + REVISIONS distinct bundles named `bench` (a few policies each). */
async function bundles(n) {
  const out = [];
  for (let r = 0; r < n; r++) {
    const text = Array.from({ length: 20 }, (_, i) => `POLICY p_${i} {\n  SCOPE: requests WHERE request.path MATCHES "/r${r}/s${i}/**"\n  CONSTRAINT: request.method == "GET"\n  ENFORCEMENT: BLOCKING\n}\n`).join("\n");
    const res = await compile([{ path: "bench.policy", text: `DEFAULT: ALLOW\n${text}` }], { name: "bench", key });
    if (!res.ok) throw new Error("bench bundle does not compile");
    out.push(res.bundle);
  }
  return out;
}

function procStat(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { cpuS: (Number(f[11]) + Number(f[12])) * TICK_S, rssMB: kb("VmRSS") / 1024, hwmMB: kb("VmHWM") / 1024 };
}

async function startService(data) {
  const child = spawn(process.execPath, [join(ROOT, "dist/cli/main.js"), "distribution", "--data", data, "--listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  const url = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`distribution did not start: ${out}`)), 30_000);
    child.stdout.on("data", (c) => {
      out += c;
      const m = /listening on (http:\/\/[^ ]+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]);
      }
    });
    child.once("exit", (code) => reject(new Error(`distribution exited ${code}: ${out}`)));
  });
  return { child, url };
}

async function startBare() {
  const child = spawn(process.execPath, [join(ROOT, "loadtest/propagation-bare.mjs")], { stdio: ["ignore", "pipe", "inherit"] });
  const url = await new Promise((resolve) => {
    let out = "";
    child.stdout.on("data", (c) => {
      out += c;
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) resolve(m[1]);
    });
  });
  return { child, url };
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];

/** One scenario: a service, `watchers` watchers, REVISIONS publishes. */
async function scenario(label, watchers, procs, revisionBundles) {
  const data = mkdtempSync(join(dir, "data-"));
  const { child: service, url } = await startService(data);
  const publish = (bundle) => publishBundle({ url, bundle, keys: [key], lifetimeMs: 3_600_000 });
  await publish(revisionBundles[0]);
  const activeCount = new Map(); // revision -> count
  const latencies = new Map(); // revision -> ms[]
  const publishedAt = new Map();
  const errors = new Map();
  let waiter;
  const workers = [];
  for (let p = 0; p < procs; p++) {
    const n = Math.floor(watchers / procs) + (p < watchers % procs ? 1 : 0);
    const w = spawn(process.execPath, [join(ROOT, "loadtest/propagation-worker.mjs"), url, pubPath, String(n)], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    w.on("message", (m) => {
      if (m.type === "active") {
        for (const [revision, atMs] of m.items) {
          activeCount.set(revision, (activeCount.get(revision) ?? 0) + 1);
          const t0 = publishedAt.get(revision);
          if (t0 !== undefined) (latencies.get(revision) ?? latencies.set(revision, []).get(revision)).push(atMs - t0);
        }
        waiter?.();
      } else if (m.type === "error") errors.set(m.code, (errors.get(m.code) ?? 0) + 1);
    });
    workers.push(w);
  }
  const allActive = (rev, timeoutMs) =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${label}: revision ${rev} active on ${activeCount.get(rev) ?? 0}/${watchers} watchers after ${timeoutMs} ms (errors: ${JSON.stringify([...errors])})`)), timeoutMs);
      waiter = () => {
        if ((activeCount.get(rev) ?? 0) >= watchers) {
          clearTimeout(t);
          waiter = undefined;
          resolve();
        }
      };
      waiter();
    });
  await allActive(1, 120_000);
  await new Promise((r) => setTimeout(r, 1000)); // every watcher back in its long poll
  const idle = procStat(service.pid);
  const cpu0 = procStat(service.pid).cpuS;
  const workerCpu = () => workers.reduce((a, w) => a + procStat(w.pid).cpuS, 0);
  const wcpu0 = workerCpu();
  for (let i = 1; i <= REVISIONS; i++) {
    const rev = i + 1;
    publishedAt.set(rev, Date.now());
    await publish(revisionBundles[i]);
    await allActive(rev, 60_000);
    await new Promise((r) => setTimeout(r, 300)); // back to idle long polls
  }
  const end = procStat(service.pid);
  const watcherCpuS = workerCpu() - wcpu0;
  for (const w of workers) w.send("stop");
  await Promise.all(workers.map((w) => new Promise((r) => w.once("exit", r))));
  service.kill("SIGTERM");
  await new Promise((r) => service.once("exit", r));
  const all = [...latencies.values()].flat().sort((a, b) => a - b);
  const perRevision = [...latencies.entries()].map(([rev, ms]) => {
    const s = [...ms].sort((a, b) => a - b);
    return { rev, p50: quantile(s, 0.5), p99: quantile(s, 0.99), max: s[s.length - 1] };
  });
  return {
    label,
    watchers,
    samples: all.length,
    p50: quantile(all, 0.5),
    p99: quantile(all, 0.99),
    max: all[all.length - 1],
    perRevision,
    serviceCpuS: end.cpuS - cpu0,
    /** Watcher-side CPU per activation (poll answer, checks, download, verify, instantiate, warm-up), ms. */
    cpuPerActivationMs: (watcherCpuS * 1000) / Math.max(1, all.length),
    idleRssMB: idle.rssMB,
    peakRssMB: end.hwmMB,
    errors: [...errors],
  };
}

/**
 * The service alone: IDLE raw long polls (no verification on the client side)
 * held on one bundle; RSS with them attached, then one publish and the time
 * until each poll is answered (the hub's fan-out, wake spread included).
 */
async function idleFanout(n, revisionBundles, bare = false) {
  const data = mkdtempSync(join(dir, "idle-"));
  const { child: service, url } = bare ? await startBare() : await startService(data);
  const publish = bare
    ? async () => void (await fetch(`${url}/release`, { method: "POST" }).then((r) => r.text()))
    : (bundle) => publishBundle({ url, bundle, keys: [key], lifetimeMs: 3_600_000 });
  if (!bare) await publish(revisionBundles[0]);
  const before = procStat(service.pid);
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const answered = [];
  let t0 = 0;
  const metric = async () => {
    const r = await fetch(`${url}${bare ? "/count" : "/metrics"}`);
    const text = await r.text();
    return Number(bare ? text : (/aecp_distribution_watchers (\d+)/.exec(text)?.[1] ?? 0));
  };
  // connect in steps of 250 (a burst of thousands of SYNs overflows accept queues on a loaded machine)
  const polls = [];
  for (let k = 0; k < n; k += 250) {
    polls.push(...Array.from({ length: Math.min(250, n - k) }, () => poll()));
    while ((await metric()) < polls.length) await new Promise((r) => setTimeout(r, 50));
  }
  function poll() {
    return new Promise((resolve, reject) => {
      const req = http.get(`${url}/v1/bundles/bench/manifest?wait=120&after=1`, { agent }, (res) => {
        res.resume();
        res.on("end", () => {
          answered.push(Date.now() - t0);
          resolve(res.statusCode);
        });
      });
      req.on("error", reject);
    });
  }
  const held = procStat(service.pid);
  t0 = Date.now();
  await publish(revisionBundles[1]);
  const statuses = await Promise.all(polls);
  const fanoutCpuS = procStat(service.pid).cpuS - held.cpuS;
  const sorted = answered.sort((a, b) => a - b);
  agent.destroy();
  service.kill("SIGTERM");
  await new Promise((r) => service.once("exit", r));
  return {
    label: bare ? "bare node:http (baseline)" : "aecp distribution",
    n,
    ok: statuses.filter((c) => c === 200).length,
    rssBeforeMB: before.rssMB,
    rssHeldMB: held.rssMB,
    perWatcherKB: ((held.rssMB - before.rssMB) * 1024) / n,
    fanoutCpuS,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    max: sorted[sorted.length - 1],
  };
}

const ms = (x) => `${x.toFixed(0)} ms`;
const t0 = Date.now();
const revisionBundles = await bundles(REVISIONS + 1);
console.log(`bench:propagation — ${WATCHERS} watchers in ${PROCS} processes, ${REVISIONS} revisions, ${os.cpus().length} CPUs, node ${process.version}`);
const base = await scenario("1 watcher (baseline)", 1, 1, revisionBundles);
const full = await scenario(`${WATCHERS} watchers`, WATCHERS, PROCS, revisionBundles);
console.log("");
console.log("publish -> active, all watchers x revisions");
console.log(`| scenario | samples | p50 | p99 | max | service CPU (${REVISIONS} publishes) | service RSS idle / peak | watcher CPU per activation |`);
console.log("|---|---|---|---|---|---|---|---|");
for (const r of [base, full]) {
  console.log(
    `| ${r.label} | ${r.samples} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.max)} | ${r.serviceCpuS.toFixed(2)} s | ${r.idleRssMB.toFixed(0)} / ${r.peakRssMB.toFixed(0)} MB | ${r.cpuPerActivationMs.toFixed(1)} ms |`,
  );
}
const floorMs = (full.cpuPerActivationMs * full.watchers) / os.cpus().length;
console.log(`\nCPU floor of one revision on this machine: ${full.watchers} activations x ${full.cpuPerActivationMs.toFixed(1)} ms / ${os.cpus().length} cores = ${ms(floorMs)} (every watcher shares these cores; in a mesh each sidecar verifies on its own)`);
console.log(`load average at the end: ${os.loadavg().map((x) => x.toFixed(1)).join(" ")}`);
console.log(`\np99 ratio ${WATCHERS} watchers / 1 watcher: ${(full.p99 / base.p99).toFixed(1)}x   (target: p99 <= 1000 ms; ${full.p99 <= 1000 ? "MET" : "NOT MET"})`);
const IDLE = Number(process.env.AECP_BENCH_IDLE ?? 5000);
if (IDLE > 0) {
  const bareRun = await idleFanout(IDLE, revisionBundles, true);
  const idle = await idleFanout(IDLE, revisionBundles);
  console.log(`\nthe service alone: ${IDLE} idle long polls (raw HTTP clients in this process, no client-side verification)`);
  console.log("| server | held polls | RSS before / held | per held poll | publish -> answered p50 | p99 | max | answered 200 | server CPU for publish + fan-out |");
  console.log("|---|---|---|---|---|---|---|---|---|");
  for (const r of [bareRun, idle]) {
    console.log(
      `| ${r.label} | ${r.n} | ${r.rssBeforeMB.toFixed(0)} / ${r.rssHeldMB.toFixed(0)} MB | ${r.perWatcherKB.toFixed(1)} KB | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.max)} | ${r.ok} | ${(r.fanoutCpuS * 1000).toFixed(0)} ms |`,
    );
  }
  console.log(`fan-out CPU ratio distribution / bare: ${(idle.fanoutCpuS / Math.max(0.001, bareRun.fanoutCpuS)).toFixed(1)}x`);
}
console.log("\nper revision (" + full.label + ")");
console.log("| revision | p50 | p99 | max |");
console.log("|---|---|---|---|");
for (const r of full.perRevision) console.log(`| ${r.rev} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.max)} |`);
if (full.errors.length || base.errors.length) console.log(`\nwatcher problems reported: ${JSON.stringify([...base.errors, ...full.errors])}`);
console.log(`\n(total ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
rmSync(dir, { recursive: true, force: true });
