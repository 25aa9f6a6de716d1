// Tamper evidence end to end on real SQLite files: `verifyAuditLog` and the
// built CLI (`aecp audit verify`, `aecp audit proof`) pass on an intact log
// and name the first bad entry after one change to a stored record (a byte
// of the bytes, a column, a consistent bytes+hash rewrite, a deleted row, a
// rewritten history under old checkpoints, a forged checkpoint, the head).
// Also over HTTP: auditRoutes on a real server, read by HttpAuditReader.

import Database from "better-sqlite3";
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  auditRoutes,
  buildExecutionProof,
  HttpAuditReader,
  leafHash,
  signCheckpoint,
  SqliteAuditLog,
  verifyAuditLog,
  verifyExecutionProof,
  type AuditEntryInput,
} from "../src/audit/index.js";
import { generateKeyPairPem, parsePrivateKeyPem, parsePublicKeyPem, TrustedKeys } from "../src/bundle/index.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CLI = join(ROOT, "dist/cli/main.js");
const dir = mkdtempSync(join(tmpdir(), "aecp-audit-verify-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pem = generateKeyPairPem();
const key = parsePrivateKeyPem(pem.privatePem);
const trusted = new TrustedKeys([parsePublicKeyPem(pem.publicPem)]);
const PUB = join(dir, "audit.pub");
writeFileSync(PUB, pem.publicPem);

const N = 200;
const entry = (i: number): AuditEntryInput => ({ kind: i % 3 === 0 ? "decision.attempt" : "execution.transition", subject: `ex-${i % 9}`, body: { i, note: `entry number ${i}` } });

/** Writes a log of N entries with checkpoints at 50, 120 and 200 into `file`. */
function buildLog(file: string, mutate?: (i: number, e: AuditEntryInput) => AuditEntryInput): void {
  const db = new Database(file);
  const log = new SqliteAuditLog(db, { signingKey: key, now: () => new Date("2025-03-04T05:06:07.000Z") });
  log.migrate();
  for (let i = 0; i < N; i++) {
    db.transaction(() => log.appendSync([mutate ? mutate(i, entry(i)) : entry(i)]))();
    if (i + 1 === 50 || i + 1 === 120 || i + 1 === N) log.checkpointSync();
  }
  db.close();
}

const ORIGINAL = join(dir, "original.db");
let copies = 0;
/** A copy of the original log with `sql` applied (params bound). */
function tampered(change: (db: Database.Database) => void): string {
  const file = join(dir, `copy-${copies++}.db`);
  copyFileSync(ORIGINAL, file);
  const db = new Database(file);
  change(db);
  db.close();
  return file;
}

async function verifyFile(file: string, withKeys = true) {
  const db = new Database(file, { readonly: true });
  try {
    return await verifyAuditLog(new SqliteAuditLog(db), withKeys ? { trusted, pageEntries: 64 } : { pageEntries: 64 });
  } finally {
    db.close();
  }
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 70) : 0, stdout, stderr });
    });
  });
}

const bytesOf = (db: Database.Database, i: number): Buffer => (db.prepare("SELECT bytes FROM audit_entries WHERE idx = ?").get(i) as { bytes: Buffer }).bytes;

beforeAll(() => buildLog(ORIGINAL));

describe("audit verify: intact log", () => {
  it("recomputes every entry, checkpoint root and signature", async () => {
    const r = await verifyFile(ORIGINAL);
    expect(r.problem).toBeUndefined();
    expect(r).toMatchObject({ ok: true, entries: N, checkpoints: 3, signaturesChecked: true });
    expect(r.latest?.size).toBe(N);
  });

  it("aecp audit verify --db exits 0 (also --strict: every entry parsed and canonical)", async () => {
    const db = new Database(ORIGINAL, { readonly: true });
    expect(await verifyAuditLog(new SqliteAuditLog(db), { trusted, strict: true })).toMatchObject({ ok: true, entries: N });
    db.close();
    const r = await cli(["audit", "verify", "--db", ORIGINAL, "--pub", PUB, "--strict"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^ok: .*: ${N} entries, 3 checkpoints verified; latest checkpoint: size ${N}`));
  });
});

describe("audit verify: sources that cannot be read are I/O errors (exit 2), not failed checks", () => {
  it("a missing file, a closed port, a database without audit tables", async () => {
    expect((await cli(["audit", "verify", "--db", join(dir, "missing.db")])).code).toBe(2);
    const closed = await cli(["audit", "verify", "--approvals", "http://127.0.0.1:9"]);
    expect(closed.code).toBe(2);
    expect(closed.stderr).toContain("error[AECP_AUDIT_UNAVAILABLE]");
    const empty = join(dir, "empty.db");
    new Database(empty).close();
    const r = await cli(["audit", "verify", "--db", empty]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("error[AECP_AUDIT_STORE_FAILED]");
    expect((await cli(["audit", "verify", "--db", ORIGINAL, "--approvals", "http://127.0.0.1:9"])).code).toBe(2);
  });
});

describe("audit verify: one change to a stored record is found and named", () => {
  it("one byte of one entry's stored bytes (SQLite file, CLI)", async () => {
    const file = tampered((db) => {
      const b = Buffer.from(bytesOf(db, 77));
      const at = b.indexOf("entry number 77") + "entry number ".length;
      b[at] = "8".charCodeAt(0); // "77" -> "87": still canonical JSON, one byte changed
      db.prepare("UPDATE audit_entries SET bytes = ? WHERE idx = 77").run(b);
    });
    const r = await verifyFile(file);
    expect(r.ok).toBe(false);
    expect(r.problem).toMatchObject({ index: 77, kind: "execution.transition", subject: "ex-5" });
    expect(r.problem?.what).toMatch(/stored bytes hash to [0-9a-f]{64} but the recorded leaf hash is/);
    const c = await cli(["audit", "verify", "--db", file, "--pub", PUB]);
    expect(c.code).toBe(1);
    expect(c.stderr).toContain("first bad entry: 77");
    expect(c.stderr).toContain("kind `execution.transition`, subject `ex-5`");
  });

  it("a byte that breaks the JSON is named at its entry", async () => {
    const file = tampered((db) => {
      const b = Buffer.from(bytesOf(db, 3));
      b[0] = 0x20;
      db.prepare("UPDATE audit_entries SET bytes = ? WHERE idx = 3").run(b);
    });
    const r = await verifyFile(file);
    expect(r.problem).toMatchObject({ index: 3 });
    expect(r.problem?.what).toMatch(/the stored bytes are not JSON/);
  });

  it("a column beside the bytes (subject)", async () => {
    const file = tampered((db) => db.prepare("UPDATE audit_entries SET subject = 'ex-other' WHERE idx = 130").run());
    const r = await verifyFile(file);
    expect(r.problem).toMatchObject({ index: 130 });
    expect(r.problem?.what).toContain('the subject column says "ex-other" but the hashed bytes say "ex-4"');
  });

  it("bytes and leaf hash rewritten together: named by the interior node recorded after it", async () => {
    const file = tampered((db) => {
      const b = Buffer.from(bytesOf(db, 76).toString("utf8").replace("entry number 76", "entry number 67"));
      const hashes = Buffer.from((db.prepare("SELECT hashes FROM audit_entries WHERE idx = 76").get() as { hashes: Buffer }).hashes);
      Buffer.from(leafHash(b)).copy(hashes, 0);
      db.prepare("UPDATE audit_entries SET bytes = ?, hashes = ? WHERE idx = 76").run(b, hashes);
    });
    const r = await verifyFile(file);
    expect(r.problem).toMatchObject({ index: 76, kind: "execution.transition", subject: "ex-4" });
    expect(r.problem?.what).toMatch(/entries 76\.\.77: their hashes no longer combine/);
  });

  it("a deleted entry", async () => {
    const file = tampered((db) => db.prepare("DELETE FROM audit_entries WHERE idx = 140").run());
    expect((await verifyFile(file)).problem).toMatchObject({ index: 140, what: "entry 140 is missing (the next stored entry is 141)" });
  });

  it("the tail cut off (entries and head) under a signed checkpoint", async () => {
    const file = tampered((db) => {
      db.prepare("DELETE FROM audit_entries WHERE idx >= 190").run();
      db.prepare("UPDATE audit_head SET size = 190").run();
    });
    expect((await verifyFile(file)).problem?.what).toMatch(/signed at size 200, but the log has only 190 entries/);
  });

  it("a whole history rewritten consistently, under the old signed checkpoints", async () => {
    const rewritten = join(dir, "rewritten.db");
    buildLog(rewritten, (i, e) => (i === 130 ? { ...e, body: { i, note: "rewritten" } } : e));
    const file = tampered((db) => {
      db.exec(`ATTACH '${rewritten}' AS other`);
      db.exec("DELETE FROM audit_entries; INSERT INTO audit_entries SELECT * FROM other.audit_entries; UPDATE audit_head SET frontier = (SELECT frontier FROM other.audit_head)");
    });
    const r = await verifyFile(file);
    expect(r.problem).toMatchObject({ index: 120, checkpointSize: 200 });
    expect(r.problem?.what).toMatch(/entries 120\.\.199 were rewritten consistently/);
    expect(r.checkpoints).toBe(2);
  });

  it("a checkpoint re-signed by another key, or edited", async () => {
    const other = parsePrivateKeyPem(generateKeyPairPem().privatePem);
    const forged = tampered((db) => {
      const row = db.prepare("SELECT size, root, time FROM audit_checkpoints WHERE size = 120").get() as { size: number; root: Buffer; time: string };
      const cp = signCheckpoint("aecp-audit", row.size, row.root, row.time, other);
      db.prepare("UPDATE audit_checkpoints SET note = ?, key_id = ? WHERE size = 120").run(cp.note, cp.keyId);
    });
    const r = await verifyFile(forged);
    expect(r.problem).toMatchObject({ checkpointSize: 120 });
    expect(r.problem?.what).toMatch(/not trusted/);
    expect((await verifyFile(forged, false)).ok).toBe(true); // without keys only roots are checked (the CLI warns)
    const c = await cli(["audit", "verify", "--db", forged]);
    expect(c.code).toBe(0);
    expect(c.stderr).toContain("signatures were NOT");
    const edited = tampered((db) => {
      const note = (db.prepare("SELECT note FROM audit_checkpoints WHERE size = 50").get() as { note: string }).note;
      db.prepare("UPDATE audit_checkpoints SET note = ? WHERE size = 50").run(note.replace(/time (\S+)/, "time 2001-01-01T00:00:00.000Z"));
    });
    expect((await verifyFile(edited)).problem?.what).toMatch(/checkpoint at size 50: the Ed25519 signature does not verify/);
  });

  it("the stored head frontier", async () => {
    const file = tampered((db) => {
      const f = Buffer.from((db.prepare("SELECT frontier FROM audit_head").get() as { frontier: Buffer }).frontier);
      f[5] = f[5]! ^ 1;
      db.prepare("UPDATE audit_head SET frontier = ?").run(f);
    });
    expect((await verifyFile(file)).problem?.what).toMatch(/stored head \(frontier\) has root/);
  });
});

describe("audit proof", () => {
  it("prints inclusion proofs of an execution that verify offline, and a tampered document fails", async () => {
    const c = await cli(["audit", "proof", "ex-4", "--db", ORIGINAL, "--pub", PUB]);
    expect(c.stderr).toBe("");
    expect(c.code).toBe(0);
    const doc = JSON.parse(c.stdout) as { execution: string; checkpoint: { size: number }; entries: Array<{ index: number; bytes: string; inclusion: string[] }> };
    expect(doc.execution).toBe("ex-4");
    expect(doc.checkpoint.size).toBe(N);
    expect(doc.entries.map((e) => e.index)).toEqual(Array.from({ length: N }, (_, i) => i).filter((i) => i % 9 === 4));
    const ok = verifyExecutionProof(doc, trusted);
    expect(ok.problems).toEqual([]);
    expect(ok.verified.length).toBe(doc.entries.length);
    const bad = structuredClone(doc);
    bad.entries[2]!.bytes = Buffer.from(Buffer.from(bad.entries[2]!.bytes, "base64").toString().replace("entry number", "entry numbe!")).toString("base64");
    expect(verifyExecutionProof(bad, trusted).problems.join("\n")).toMatch(/entry 22 .*hash/);
    const moved = structuredClone(doc);
    moved.entries[0]!.index = 5;
    expect(verifyExecutionProof(moved, trusted).ok).toBe(false);
    // offline, from files, with the CLI
    const good = join(dir, "proof.json");
    const forged = join(dir, "proof-bad.json");
    writeFileSync(good, c.stdout);
    writeFileSync(forged, JSON.stringify(bad));
    const ok2 = await cli(["audit", "check-proof", good, "--pub", PUB]);
    expect(ok2.code).toBe(0);
    expect(ok2.stdout).toMatch(new RegExp(`^ok: ${doc.entries.length} audit entries of execution \`ex-4\` proven against checkpoint size ${N}, .* \\(signature verified\\)`));
    const bad2 = await cli(["audit", "check-proof", forged, "--pub", PUB]);
    expect(bad2.code).toBe(1);
    expect(bad2.stderr).toMatch(/FAILED: .*\n {2}entry 22 /);
  });

  it("entries newer than the latest checkpoint are reported, and an unknown execution is an error", async () => {
    const file = tampered(() => undefined);
    const db = new Database(file);
    new SqliteAuditLog(db).appendSync([entry(4)]);
    const doc = await buildExecutionProof(new SqliteAuditLog(db), "ex-4");
    db.close();
    expect(doc.entries.at(-1)).toMatchObject({ index: N, inclusion: null });
    expect(verifyExecutionProof(doc, trusted).problems).toEqual([`entry ${N} (kind \`execution.transition\`) is newer than the latest checkpoint (size ${N}); it can be proven once the next checkpoint is signed`]);
    const c = await cli(["audit", "proof", "no-such-execution", "--db", ORIGINAL]);
    expect(c.code).toBe(1);
    expect(c.stderr).toContain("error[AECP_AUDIT_NOT_FOUND]");
  });
});

describe("audit over HTTP (auditRoutes + HttpAuditReader)", () => {
  let server: Server;
  let base: string;
  let db: Database.Database;
  const LIVE = join(dir, "live.db");

  beforeAll(async () => {
    copyFileSync(ORIGINAL, LIVE);
    db = new Database(LIVE);
    const log = new SqliteAuditLog(db, { signingKey: key, maxPageEntries: 50 });
    const routes = auditRoutes(log, {
      authorize: (req) => req.headers.authorization !== "Bearer wrong",
      checkpoint: () => log.checkpoint(),
      authorizeCheckpoint: (req) => req.headers.authorization === "Bearer service",
    });
    server = createServer((req, res) => {
      if (routes(req, res)) return;
      res.writeHead(418).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    db.close();
  });

  it("serves a log that verifies with the same verifier, paged", async () => {
    const r = await verifyAuditLog(new HttpAuditReader(base), { trusted });
    expect(r).toMatchObject({ ok: true, entries: N, checkpoints: 3 });
    const c = await cli(["audit", "verify", "--approvals", base, "--pub", PUB]);
    expect(c.code).toBe(0);
    expect(c.stdout).toContain(`${N} entries, 3 checkpoints verified`);
  });

  it("aecp audit verify --approvals fails, naming the entry, after one stored byte changes", async () => {
    const original = bytesOf(db, 150);
    const b = Buffer.from(original);
    b[b.length - 3] = b[b.length - 3]! ^ 0x01;
    db.prepare("UPDATE audit_entries SET bytes = ? WHERE idx = 150").run(b);
    const c = await cli(["audit", "verify", "--approvals", base, "--pub", PUB]);
    db.prepare("UPDATE audit_entries SET bytes = ? WHERE idx = 150").run(original);
    expect(c.code).toBe(1);
    expect(c.stderr).toContain("first bad entry: 150");
  });

  it("answers errors as coded JSON, leaves other paths alone, and signs checkpoints only for the service", async () => {
    const get = async (path: string, init?: RequestInit) => {
      const res = await fetch(base + path, init);
      return { status: res.status, body: (await res.text()).trim() };
    };
    expect(await get("/other")).toEqual({ status: 418, body: "" });
    expect(JSON.parse((await get("/v1/audit/proof/inclusion?index=5&size=999")).body)).toMatchObject({ error: { code: "AECP_AUDIT_RANGE_INVALID" } });
    expect((await get("/v1/audit/proof/inclusion?index=abc&size=3")).status).toBe(400);
    expect((await get("/v1/audit/nothing")).status).toBe(404);
    expect((await get("/v1/audit/head", { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    expect((await get("/v1/audit/entries?from=0", { method: "DELETE" })).status).toBe(405);
    expect((await get("/v1/audit/checkpoint", { method: "POST" })).status).toBe(401);
    const entries = JSON.parse((await get("/v1/audit/entries?from=190&to=1000")).body) as { entries: unknown[] };
    expect(entries.entries.length).toBe(10);
    new SqliteAuditLog(db).appendSync([entry(1)]);
    const signed = await get("/v1/audit/checkpoint", { method: "POST", headers: { authorization: "Bearer service" } });
    expect(signed.status).toBe(200);
    expect(JSON.parse(signed.body)).toMatchObject({ checkpoint: { size: N + 1 } });
    expect(JSON.parse((await get("/v1/audit/checkpoint")).body)).toMatchObject({ tree_size: N + 1, checkpoint: { size: N + 1 } });
  });
});
