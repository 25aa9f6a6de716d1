// npm run bench:approvals — the approvals service (issue 5), 127.0.0.1 only.
// Needs `npm run build`. About 2 minutes on 2 cores.
//
// Services run as `aecp approvals` child processes (node dist/cli/main.js);
// the sidecar runs in this process (dist/executive), HTTP ext_authz mode.
//
//   pause overhead     the same sidecar answering an ALLOWED request (the
//                      baseline, same run) vs a PAUSED one in defer mode (the
//                      sidecar creates the execution at the service, answers
//                      428): p50/p99 over N requests, each a new execution
//   release (hold)     sidecar in hold mode; the client's request waits; an
//                      approver decides; latency from sending the decision to
//                      the client's 200 (long poll wake-up + consume + answer):
//                      one SQLite instance; two PostgreSQL instances (the
//                      sidecar on A, decisions on B, wake-up via NOTIFY)
//   10,000 pending     10,000 executions created, 10,000 long polls held open
//                      at once; service VmRSS before / after, per held poll
//   audit append       decision-log batches of 500 records via
//                      POST /v1/audit/decisions (SQLite): entries/s
//
// Environment: AECP_BENCH_N (300) requests per latency series, AECP_BENCH_RUNS
// (3) runs (medians reported), AECP_BENCH_PENDING (10000),
// AECP_TEST_PG_URL (postgres://postgres@127.0.0.1:5432/test; the PostgreSQL
// series is skipped with a note when it is unreachable).

import { spawn } from "node:child_process";
import { createHash, generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { Agent, request } from "undici";
import { stringify } from "yaml";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CLI = join(ROOT, "dist/cli/main.js");
const N = Number(process.env.AECP_BENCH_N ?? 300);
const RUNS = Number(process.env.AECP_BENCH_RUNS ?? 3);
const PENDING = Number(process.env.AECP_BENCH_PENDING ?? 10_000);
const PG_URL = process.env.AECP_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const SERVICE = "svc-token-0123456789abcdef";
const ALICE = "alice-token-0123456789abcdef";

const { Sidecar, sidecarOptions } = await import(join(ROOT, "dist/executive/index.js"));
const { compile } = await import(join(ROOT, "dist/judicial/index.js"));
const { parsePrivateKeyPem } = await import(join(ROOT, "dist/bundle/index.js"));

const dir = mkdtempSync(join(os.tmpdir(), "aecp-bench-approvals-"));
const children = [];
const agent = new Agent({ connections: 256, keepAliveTimeout: 30_000 });
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const median = (xs) => pct(xs, 50);
const ms = (x) => `${x.toFixed(2)} ms`;

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

async function call(method, url, { token, body, headers = {}, raw } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let b = raw ?? null;
  if (body !== undefined) (b = JSON.stringify(body)), (h["content-type"] = "application/json");
  const res = await request(url, { method, headers: h, body: b, dispatcher: agent, headersTimeout: 120_000, bodyTimeout: 120_000 });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

function rssKb(pid) {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]);
}

async function startService(name, db, extra = {}) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const cfg = join(dir, `${name}.yaml`);
  writeFileSync(
    cfg,
    stringify({
      public_url: url,
      service_tokens: [SERVICE],
      link_secret: "bench-link-secret-0123456789abcdef0123",
      max_wait_s: 120,
      approvers: [{ id: "alice", token: ALICE, groups: ["sre-oncall"], roles: [] }],
      ...extra,
    }),
  );
  const child = spawn(process.execPath, [CLI, "approvals", "--db", db, "--listen", `127.0.0.1:${port}`, "--config", cfg], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  await new Promise((resolve, reject) => {
    const on = (b) => {
      out += b;
      if (out.includes("ready")) resolve();
    };
    child.stdout.on("data", on);
    child.stderr.on("data", on);
    child.once("exit", (c) => reject(new Error(`approvals exited ${c}: ${out}`)));
  });
  return { url, child };
}

async function stopService(s) {
  s.child.kill("SIGTERM");
  await new Promise((r) => s.child.once("exit", r));
}

// --- a bundle with one REQUIRE_APPROVAL policy (quorum 1) -------------------
const { privateKey, publicKey } = generateKeyPairSync("ed25519");
writeFileSync(join(dir, "aecp.pub"), publicKey.export({ type: "spki", format: "pem" }));
const POLICY = `POLICY prod_config_change {
  SCOPE: requests WHERE request.method IN ["PUT", "POST"] AND request.path STARTS_WITH "/config/"
  ENFORCEMENT: REQUIRE_APPROVAL
  APPROVAL: { APPROVERS: "sre-oncall" QUORUM: 1 TIMEOUT: 15m }
}`;
const compiled = await compile([{ path: "p.policy", text: POLICY }], { name: "bench", key: parsePrivateKeyPem(privateKey.export({ type: "pkcs8", format: "pem" }).toString()) });
writeFileSync(join(dir, "bench.bundle"), compiled.bundle);

async function sidecarFor(approvalsUrl, mode) {
  const s = new Sidecar(
    sidecarOptions({ bundle: join(dir, "bench.bundle"), pub: [join(dir, "aecp.pub")], grpc: ["127.0.0.1:0"], http: "127.0.0.1:0", approvals: approvalsUrl, approvalsToken: SERVICE, pauseMode: mode, holdMs: mode === "hold" ? 60_000 : 0 }),
  );
  await s.start();
  return { s, authz: `http://${s.status().listening.http}/authz` };
}

let seq = 0;
const agentRequest = (authz, method, id) => call(method, `${authz}/config/flags`, { raw: JSON.stringify({ flag: "on", n: id ?? ++seq }), headers: { "content-type": "application/json", host: "config.internal" } });

// --- 1. pause overhead ---------------------------------------------------------
async function pauseOverhead(svc) {
  const { s, authz } = await sidecarFor(svc.url, "defer");
  const allow = [];
  const pause = [];
  for (let i = 0; i < 20; i++) await agentRequest(authz, "GET"), await agentRequest(authz, "PUT"); // warm-up
  for (let i = 0; i < N; i++) {
    let t = performance.now();
    const a = await agentRequest(authz, "GET");
    allow.push(performance.now() - t);
    t = performance.now();
    const p = await agentRequest(authz, "PUT");
    pause.push(performance.now() - t);
    if (a.status !== 200 || p.status !== 428) throw new Error(`unexpected ${a.status}/${p.status}`);
  }
  await s.stop();
  return { allow50: pct(allow, 50), allow99: pct(allow, 99), pause50: pct(pause, 50), pause99: pct(pause, 99) };
}

// --- 2. decision-to-release in hold mode ------------------------------------------
async function release(createVia, decideVia, n) {
  const { s, authz } = await sidecarFor(createVia.url, "hold");
  const lat = [];
  for (let i = 0; i < n; i++) {
    const id = ++seq;
    const held = agentRequest(authz, "PUT", id);
    // find the execution the sidecar created (newest pending)
    let ex;
    for (;;) {
      const list = await call("GET", `${decideVia.url}/v1/executions?state=pending&limit=1`, { token: SERVICE });
      ex = list.json.executions[0];
      if (ex && ex.proposal.request.body.n === id) break;
      await new Promise((r) => setTimeout(r, 2));
    }
    // decide once the sidecar's long poll is held by the instance it talks to
    while (!/aecp_approvals_waiters [1-9]/.test(await (await request(`${createVia.url}/metrics`, { dispatcher: agent })).body.text())) await new Promise((r) => setTimeout(r, 2));
    const t = performance.now();
    const d = await call("POST", `${decideVia.url}/v1/executions/${ex.id}/decisions`, { token: ALICE, body: { decision: "approve" } });
    if (d.status !== 200) throw new Error(`decide ${d.status}`);
    const r = await held;
    lat.push(performance.now() - t);
    if (r.status !== 200) throw new Error(`held request answered ${r.status}`);
  }
  await s.stop();
  return { p50: pct(lat, 50), p99: pct(lat, 99), max: Math.max(...lat) };
}

// --- 3. 10,000 pending, long polls held -----------------------------------------
async function manyPending(svc) {
  const before = rssKb(svc.child.pid);
  const ids = [];
  const pool = new Agent({ connections: PENDING + 100, keepAliveTimeout: 120_000, pipelining: 0 });
  const body = (i) => ({
    fingerprint: `sha256:${createHash("sha256").update(`pending-${i}`).digest("hex")}`,
    decision_id: `d-${i}`,
    bundle: { name: "bench", digest: `sha256:${"ab".repeat(32)}`, revision: null },
    policies: [{ policy: "prod_config_change", approvers: ["sre-oncall"], quorum: 1, timeout_ms: 900_000 }],
    request: { method: "PUT", authority: "config.internal", path: `/config/${i}`, query: {}, body_sha256: null },
    requester: "spiffe://cluster.local/ns/agents/sa/agent",
    trace_id: null,
  });
  const t0 = performance.now();
  for (let i = 0; i < PENDING; i += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, PENDING - i) }, (_, k) => call("POST", `${svc.url}/v1/executions`, { token: SERVICE, body: body(i + k) })));
    for (const b of batch) ids.push(b.json.id);
  }
  const createS = (performance.now() - t0) / 1000;
  const afterCreate = rssKb(svc.child.pid);
  const polls = ids.map((id) =>
    request(`${svc.url}/v1/executions/${id}?wait=60`, { headers: { authorization: `Bearer ${SERVICE}` }, dispatcher: pool, headersTimeout: 120_000, bodyTimeout: 120_000 })
      .then((r) => r.body.json())
      .catch((e) => ({ error: e.message })),
  );
  // wait until the service holds them all
  for (;;) {
    const held = Number(/aecp_approvals_waiters (\d+)/.exec(await (await request(`${svc.url}/metrics`, { dispatcher: agent })).body.text())[1]);
    if (held >= PENDING * 0.99) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const held = rssKb(svc.child.pid);
  await stopService(svc); // releases every poll
  await Promise.all(polls);
  await pool.close().catch(() => undefined);
  return { before, afterCreate, held, createS };
}

// --- 4. audit append -------------------------------------------------------------
async function auditAppend(svc, batches = 20, size = 500) {
  const rec = (i) => ({ decision_id: `d-${i}`, time: new Date().toISOString(), effect: "allow", violations: [], waived: [], defaulted: false, bundle: null, eval_ns: 1000, attributes: { method: "GET", path: "/x", host: "h", scheme: null, query: {}, headers: { "user-agent": "bench" }, source: {}, destination: {}, context: {} } });
  const t0 = performance.now();
  for (let b = 0; b < batches; b++) {
    const r = await call("POST", `${svc.url}/v1/audit/decisions`, { token: SERVICE, body: { records: Array.from({ length: size }, (_, i) => rec(b * size + i)) } });
    if (r.status !== 200) throw new Error(`audit append ${r.status}`);
  }
  return (batches * size) / ((performance.now() - t0) / 1000);
}

async function pgReachable() {
  const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------
console.log(`bench:approvals — ${os.cpus().length} cores, node ${process.version}, N=${N}, runs=${RUNS}\n`);
const overhead = [];
const relSqlite = [];
const audit = [];
for (let run = 0; run < RUNS; run++) {
  const svc = await startService(`sqlite-${run}`, join(dir, `run-${run}.db`));
  overhead.push(await pauseOverhead(svc));
  relSqlite.push(await release(svc, svc, Math.max(50, Math.floor(N / 3))));
  audit.push(await auditAppend(svc));
  await stopService(svc);
}
const o = (k) => median(overhead.map((x) => x[k]));
console.log("pause-to-response at the sidecar (HTTP mode, defer; baseline = the same sidecar allowing)");
console.log(`  allowed request          p50 ${ms(o("allow50"))}   p99 ${ms(o("allow99"))}`);
console.log(`  paused request (428)     p50 ${ms(o("pause50"))}   p99 ${ms(o("pause99"))}`);
console.log(`  pause overhead           p50 ${ms(o("pause50") - o("allow50"))}   p99 ${ms(o("pause99") - o("allow99"))}   (${(o("pause50") / o("allow50")).toFixed(1)}x at p50)`);
console.log("\ndecision-to-release in hold mode (decision sent → held request answered 200)");
console.log(`  one instance, SQLite     p50 ${ms(median(relSqlite.map((x) => x.p50)))}   p99 ${ms(median(relSqlite.map((x) => x.p99)))}   (target p99 <= 50 ms)`);

if (await pgReachable()) {
  const rel = [];
  for (let run = 0; run < RUNS; run++) {
    const schema = `aecp_bench_${process.pid}_${run}`;
    const url = `${PG_URL}${PG_URL.includes("?") ? "&" : "?"}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    const a = await startService(`pg-a-${run}`, url);
    const b = await startService(`pg-b-${run}`, url);
    rel.push(await release(a, b, Math.max(50, Math.floor(N / 3))));
    await stopService(a);
    await stopService(b);
    await c.query(`DROP SCHEMA ${schema} CASCADE`);
    await c.end();
  }
  console.log(`  two instances, PostgreSQL p50 ${ms(median(rel.map((x) => x.p50)))}   p99 ${ms(median(rel.map((x) => x.p99)))}   (sidecar on A, decisions on B; target p99 <= 250 ms)`);
} else console.log(`  two instances, PostgreSQL skipped: ${PG_URL} unreachable`);

console.log(`\naudit append through POST /v1/audit/decisions (SQLite, batches of 500): ${Math.round(median(audit)).toLocaleString("en-US")} entries/s (target >= 5,000)`);

const big = await startService("pending", join(dir, "pending.db"));
const m = await manyPending(big);
console.log(`\n${PENDING.toLocaleString("en-US")} pending executions, ${PENDING.toLocaleString("en-US")} long polls held at once (SQLite)`);
console.log(`  created in ${m.createS.toFixed(1)} s (${Math.round(PENDING / m.createS)} executions/s, 50 in flight)`);
console.log(`  service VmRSS: idle ${(m.before / 1024).toFixed(0)} MiB, after creating ${(m.afterCreate / 1024).toFixed(0)} MiB, holding every poll ${(m.held / 1024).toFixed(0)} MiB (${(((m.held - m.afterCreate) * 1024) / PENDING / 1024).toFixed(1)} KiB per held poll)`);
await agent.close();
process.exit(0);
