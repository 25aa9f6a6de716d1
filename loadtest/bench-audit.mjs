// npm run bench:audit — the tamper-evident audit log on SQLite (issue 5).
//
//   append throughput   entries/s, single-entry transactions and batches of
//                       100 (one transaction each), median of RUNS runs;
//   baseline            raw SQLite inserts of the SAME entry bytes into a
//                       table with the same columns, no hashing, no head row
//                       (what the Merkle tree costs on top of storing bytes);
//   verify              wall time of `aecp audit verify --db <file> --pub …`
//                       (a fresh process, as an auditor runs it) on a log of
//                       VERIFY_ENTRIES entries (default 1,000,000) with a
//                       checkpoint every 100,000 entries.
//
// Both stores use journal_mode=WAL, synchronous=NORMAL (what the approvals
// service uses). Targets: append >= 5,000 entries/s; verify 1,000,000 entries
// <= 30 s. Env: AECP_BENCH_RUNS (default 3), AECP_BENCH_APPENDS (entries per
// throughput run, default 20,000), AECP_BENCH_VERIFY_ENTRIES (default
// 1,000,000; 0 skips), AECP_BENCH_VERIFY_RUNS (default 1).

import Database from "better-sqlite3";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadavg } from "node:os";
import { encodeEntry, SqliteAuditLog, verifyAuditLog } from "../dist/audit/index.js";
import { generateKeyPairPem, parsePrivateKeyPem, parsePublicKeyPem, TrustedKeys } from "../dist/bundle/index.js";
import { median, table } from "../bench/stats.mjs";

const RUNS = Number(process.env.AECP_BENCH_RUNS ?? 3);
const APPENDS = Number(process.env.AECP_BENCH_APPENDS ?? 20_000);
const VERIFY_ENTRIES = Number(process.env.AECP_BENCH_VERIFY_ENTRIES ?? 1_000_000);
const VERIFY_RUNS = Number(process.env.AECP_BENCH_VERIFY_RUNS ?? 1);
const CLI = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "aecp-bench-audit-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

const pem = generateKeyPairPem();
const key = parsePrivateKeyPem(pem.privatePem);
const PUB = join(dir, "audit.pub");
writeFileSync(PUB, pem.publicPem);

/** A transition entry the size the approvals service writes (~250 bytes). */
const entry = (i) => ({
  kind: "execution.transition",
  subject: `ex_${(i % 50_000).toString(36).padStart(22, "0")}`,
  body: { id: `ex_${(i % 50_000).toString(36).padStart(22, "0")}`, from: "pending", to: "approved", at: "2025-06-01T12:00:00.000Z", actor: "approver:alice", justification: null, version: 2 },
});

let files = 0;
function openDb() {
  const db = new Database(join(dir, `bench-${files++}.db`));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  return db;
}

/** entries/s appending `n` entries in transactions of `batch`. */
function auditRun(n, batch) {
  const db = openDb();
  const log = new SqliteAuditLog(db);
  log.migrate();
  const entries = Array.from({ length: n }, (_, i) => entry(i));
  const tx = db.transaction((xs) => log.appendSync(xs));
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i += batch) tx(entries.slice(i, i + batch));
  const s = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  if (log.treeSizeSync() !== n) throw new Error("append lost entries");
  db.close();
  return { wall: n / s, cpu: n / ((c.user + c.system) / 1e6) };
}

/** entries/s inserting the same encoded bytes, no hashing, same transaction sizes. */
function baselineRun(n, batch) {
  const db = openDb();
  db.exec("CREATE TABLE raw_entries (idx INTEGER PRIMARY KEY, kind TEXT NOT NULL, subject TEXT, created_at TEXT NOT NULL, bytes BLOB NOT NULL)");
  const ins = db.prepare("INSERT INTO raw_entries (idx, kind, subject, created_at, bytes) VALUES (?, ?, ?, ?, ?)");
  const entries = Array.from({ length: n }, (_, i) => entry(i));
  const tx = db.transaction((from, xs) => {
    const at = new Date().toISOString();
    xs.forEach((e, k) => ins.run(from + k, e.kind, e.subject, at, encodeEntry(e, at, 1 << 20)));
  });
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i += batch) tx(i, entries.slice(i, i + batch));
  const s = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  db.close();
  return { wall: n / s, cpu: n / ((c.user + c.system) / 1e6) };
}

const rows = [];
for (const batch of [1, 100]) {
  const audit = [];
  const base = [];
  for (let r = 0; r < RUNS; r++) {
    base.push(baselineRun(APPENDS, batch));
    audit.push(auditRun(APPENDS, batch));
  }
  rows.push({
    batch,
    audit: median(audit.map((x) => x.wall)),
    base: median(base.map((x) => x.wall)),
    auditCpu: median(audit.map((x) => x.cpu)),
    baseCpu: median(base.map((x) => x.cpu)),
  });
}

const fmt = (x) => Math.round(x).toLocaleString("en-US");
const load = () => loadavg()[0].toFixed(1);
console.log(`\nAECP audit log benchmark (SQLite, WAL, synchronous=NORMAL) — ${APPENDS.toLocaleString("en-US")} entries per run, median of ${RUNS} runs; load average ${load()} on ${(await import("node:os")).cpus().length} CPUs\n`);
console.log(
  table(
    ["transaction size", "audit append entries/s", "baseline raw insert entries/s", "audit / baseline", "audit per CPU-second", "baseline per CPU-second"],
    rows.map((r) => [r.batch === 1 ? "1 entry" : `${r.batch} entries`, fmt(r.audit), fmt(r.base), `${(r.audit / r.base).toFixed(2)}x`, fmt(r.auditCpu), fmt(r.baseCpu)]),
  ),
);
console.log("(entries/s is wall time; per CPU-second divides by this process's CPU time, which other load on the machine does not inflate)");

const targets = [["audit append, single-entry transactions", `${fmt(rows[0].audit)} entries/s`, ">= 5,000 entries/s", rows[0].audit >= 5000 ? "yes" : "NO"]];

if (VERIFY_ENTRIES > 0) {
  const file = join(dir, "verify.db");
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  const log = new SqliteAuditLog(db, { signingKey: key });
  log.migrate();
  const tx = db.transaction((xs) => log.appendSync(xs));
  const t0 = performance.now();
  const CHUNK = 1000;
  for (let i = 0; i < VERIFY_ENTRIES; i += CHUNK) {
    tx(Array.from({ length: Math.min(CHUNK, VERIFY_ENTRIES - i) }, (_, k) => entry(i + k)));
    if ((i + CHUNK) % 100_000 === 0) log.checkpointSync();
  }
  log.checkpointSync();
  const buildS = (performance.now() - t0) / 1000;
  db.pragma("wal_checkpoint(TRUNCATE)");
  db.close();
  const mb = statSync(file).size / 1e6;
  const times = [];
  let out = "";
  for (let r = 0; r < VERIFY_RUNS; r++) {
    const v0 = performance.now();
    out = execFileSync(process.execPath, [CLI, "audit", "verify", "--db", file, "--pub", PUB], { encoding: "utf8", maxBuffer: 1 << 20 });
    times.push((performance.now() - v0) / 1000);
  }
  const verifyS = median(times);
  // the same verification in this process, for its CPU time
  const vdb = new Database(file, { readonly: true });
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  const rep = await verifyAuditLog(new SqliteAuditLog(vdb), { trusted: new TrustedKeys([parsePublicKeyPem(pem.publicPem)]) });
  const inWall = (performance.now() - w0) / 1000;
  const cu = process.cpuUsage(c0);
  vdb.close();
  if (!rep.ok) throw new Error(`in-process verify failed: ${rep.problem?.what}`);
  const cpuS = (cu.user + cu.system) / 1e6;
  console.log(`\nverify: a log of ${VERIFY_ENTRIES.toLocaleString("en-US")} entries (${mb.toFixed(0)} MB, built in ${buildS.toFixed(1)} s at ${fmt(VERIFY_ENTRIES / buildS)} entries/s in batches of ${CHUNK})`);
  console.log(`  aecp audit verify --db … --pub …: ${verifyS.toFixed(1)} s (median of ${VERIFY_RUNS}), ${fmt(VERIFY_ENTRIES / verifyS)} entries/s`);
  console.log(`  ${out.trim().slice(0, 160)}`);
  console.log(`  in-process verifyAuditLog: ${inWall.toFixed(1)} s wall, ${cpuS.toFixed(1)} s CPU (load average ${load()})`);
  targets.push([`aecp audit verify, ${VERIFY_ENTRIES.toLocaleString("en-US")} entries`, `${verifyS.toFixed(1)} s (${cpuS.toFixed(1)} s CPU)`, VERIFY_ENTRIES === 1_000_000 ? "<= 30 s" : "(target is for 1,000,000)", verifyS <= 30 ? "yes" : "NO"]);
}
console.log("\n" + table(["target", "measured", "budget", "ok"], targets));
