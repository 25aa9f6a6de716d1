// The audit log on a real SQLite file: appends inside the caller's
// transaction (rolled back ones give their indices back), stored bytes and
// hashes, proofs from stored nodes against an in-memory recomputation,
// checkpoints, and input validation.

import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  checkpointSignatureProblem,
  decodeEntry,
  Frontier,
  leafHash,
  parseCheckpoint,
  SqliteAuditLog,
  toHex,
  verifyConsistency,
  verifyAuditLog,
  verifyInclusion,
  type AuditEntryInput,
} from "../src/audit/index.js";
import { generateKeyPairPem, parsePrivateKeyPem, parsePublicKeyPem, TrustedKeys } from "../src/bundle/index.js";

const dir = mkdtempSync(join(tmpdir(), "aecp-audit-sqlite-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pem = generateKeyPairPem();
const key = parsePrivateKeyPem(pem.privatePem);
const trusted = new TrustedKeys([parsePublicKeyPem(pem.publicPem)]);

const entry = (i: number, subject: string | null = `ex-${i % 5}`): AuditEntryInput => ({ kind: "execution.transition", subject, body: { i, state: "approved", z: [1, "ü", null] } });

describe("SqliteAuditLog", () => {
  let db: Database.Database;
  let log: SqliteAuditLog;

  beforeAll(() => {
    db = new Database(join(dir, "a.db"));
    db.pragma("journal_mode = WAL");
    log = new SqliteAuditLog(db, { signingKey: key, now: () => new Date("2025-01-02T03:04:05.000Z") });
    log.migrate();
    log.migrate(); // idempotent
  });
  afterAll(() => db.close());

  it("appends inside the caller's transaction; a rolled-back transaction gives its indices back", () => {
    db.exec("CREATE TABLE IF NOT EXISTS app_state (id INTEGER PRIMARY KEY, v TEXT)");
    const tx = db.transaction((n: number) => {
      db.prepare("INSERT INTO app_state (v) VALUES (?)").run(`v${n}`);
      return log.appendSync([entry(n)]);
    });
    expect(tx(0)).toEqual([0]);
    expect(() =>
      db.transaction(() => {
        log.appendSync([entry(99), entry(98)]);
        throw new Error("caller fails after appending");
      })(),
    ).toThrow("caller fails");
    expect(log.treeSizeSync()).toBe(1);
    expect(tx(1)).toEqual([1]);
    expect(log.appendSync([entry(2), entry(3), entry(4)])).toEqual([2, 3, 4]); // outside a transaction: its own
    expect(db.prepare("SELECT count(*) AS n FROM app_state").get()).toEqual({ n: 2 });
  });

  it("stores the exact hashed bytes: canonical JSON with kind, subject, time and body", () => {
    const [e] = log.entriesSync(0, 1);
    expect(e).toBeDefined();
    const text = Buffer.from(e!.bytes).toString("utf8");
    expect(text).toBe('{"at":"2025-01-02T03:04:05.000Z","body":{"i":0,"state":"approved","z":[1,"ü",null]},"kind":"execution.transition","subject":"ex-0","v":1}');
    expect(toHex(e!.leafHash)).toBe(toHex(leafHash(e!.bytes)));
    expect(e!.body).toEqual({ i: 0, state: "approved", z: [1, "ü", null] });
    expect(e!.createdAt).toBe("2025-01-02T03:04:05.000Z");
    expect(decodeEntry(e!.bytes)).toEqual({ kind: "execution.transition", subject: "ex-0", at: "2025-01-02T03:04:05.000Z", body: e!.body });
  });

  it("serves roots and proofs from stored nodes that match a recomputation, for every size", () => {
    for (let i = 5; i < 45; i++) log.appendSync([entry(i, i % 7 === 0 ? null : `ex-${i % 5}`)]);
    const all = log.entriesSync(0, 1000);
    expect(all.map((e) => e.index)).toEqual([...Array(45).keys()]);
    const f = Frontier.empty();
    const roots = [f.root()];
    for (const e of all) {
      f.push(leafHash(e.bytes));
      roots.push(f.root());
    }
    for (let size = 1; size <= 45; size++) {
      expect(toHex(log.rootAtSync(size))).toBe(toHex(roots[size]!));
      for (const i of [0, Math.floor(size / 2), size - 1]) {
        expect(verifyInclusion(all[i]!.leafHash, i, size, log.inclusionProofSync(i, size), roots[size]!)).toBe(true);
      }
      for (const first of [0, 1, size - 1, Math.floor(size / 3)]) {
        expect(verifyConsistency(first, size, roots[first]!, roots[size]!, log.consistencyProofSync(first, size))).toBe(true);
      }
    }
    expect(() => log.inclusionProofSync(0, 46)).toThrow(expect.objectContaining({ code: "AECP_AUDIT_RANGE_INVALID" }));
  });

  it("finds an execution's entries by subject", () => {
    const got = log.entriesBySubjectSync("ex-3");
    expect(got.length).toBeGreaterThan(3);
    expect(got.every((e) => e.subject === "ex-3")).toBe(true);
    expect(got.map((e) => e.index)).toEqual([...got.map((e) => e.index)].sort((a, b) => a - b));
    expect(log.entriesBySubjectSync("ex-3", got[0]!.index)[0]!.index).toBe(got[1]!.index);
  });

  it("signs checkpoints (one per size) whose signature and root verify", () => {
    const cp = log.checkpointSync();
    expect(cp.size).toBe(45);
    expect(toHex(cp.root)).toBe(toHex(log.rootAtSync(45)));
    expect(checkpointSignatureProblem(cp, trusted)).toBeNull();
    expect(cp.note.split("\n").slice(0, 5)).toEqual(["aecp-audit", "45", Buffer.from(cp.root).toString("base64"), "time 2025-01-02T03:04:05.000Z", `key ${key.keyId}`]);
    expect(parseCheckpoint(cp.note)).toEqual(cp);
    expect(log.checkpointSync().note).toBe(cp.note);
    log.appendSync([entry(45)]);
    const cp2 = log.checkpointSync();
    expect(log.checkpointsSync(-1).map((c) => c.size)).toEqual([45, 46]);
    expect(log.latestCheckpointSync()?.size).toBe(46);
    expect(verifyConsistency(45, 46, cp.root, cp2.root, log.consistencyProofSync(45, 46))).toBe(true);
    const other = new TrustedKeys([parsePublicKeyPem(generateKeyPairPem().publicPem)]);
    expect(checkpointSignatureProblem(cp, other)).toMatch(/not trusted/);
    const forged = parseCheckpoint(cp.note.replace("\n45\n", "\n44\n"));
    expect(checkpointSignatureProblem(forged, trusted)).toMatch(/does not verify/);
  });

  it("rejects bad entries with a code and writes nothing", () => {
    const before = log.treeSizeSync();
    const bad = (e: unknown): unknown => {
      try {
        log.appendSync([entry(1), e as AuditEntryInput]);
      } catch (err) {
        return (err as { code?: string }).code;
      }
      return "accepted";
    };
    expect(bad({ kind: "has space", subject: null, body: 1 })).toBe("AECP_AUDIT_ENTRY_INVALID");
    expect(bad({ kind: "k", subject: "", body: 1 })).toBe("AECP_AUDIT_ENTRY_INVALID");
    expect(bad({ kind: "k", subject: null, body: undefined })).toBe("AECP_AUDIT_ENTRY_INVALID");
    expect(bad({ kind: "k", subject: null, body: { n: 10n } })).toBe("AECP_AUDIT_ENTRY_INVALID");
    expect(bad({ kind: "k", subject: null, body: "x".repeat(2 * 1024 * 1024) })).toBe("AECP_AUDIT_ENTRY_INVALID");
    expect(bad(null)).toBe("AECP_AUDIT_ENTRY_INVALID");
    expect(log.treeSizeSync()).toBe(before);
  });

  it("two connections appending in turn, with rolled-back appends between, keep one consistent tree", async () => {
    const file = join(dir, "two.db");
    const [a, b] = [new Database(file), new Database(file)];
    a.pragma("journal_mode = WAL");
    const [la, lb] = [new SqliteAuditLog(a), new SqliteAuditLog(b)];
    la.migrate();
    for (let i = 0; i < 30; i++) {
      const [db, log] = i % 3 === 0 ? [b, lb] : [a, la];
      // a rolled-back append leaves this object's cached head ahead of the database
      if (i % 4 === 1) expect(() => db.transaction(() => (log.appendSync([entry(1000 + i)]), db.exec("SELECT no_such_function()")))()).toThrow();
      expect(db.transaction(() => log.appendSync([entry(i), entry(i + 100)])).immediate()).toEqual([2 * i, 2 * i + 1]);
    }
    const r = await verifyAuditLog(la);
    expect(r.problem).toBeUndefined();
    expect(r.entries).toBe(60);
    a.close();
    b.close();
  });

  it("verifies a live log that grows (and is checkpointed) while it is being verified", async () => {
    const before = log.treeSizeSync();
    let grown = 0;
    const r = await verifyAuditLog(log, {
      trusted,
      pageEntries: 7,
      onProgress: () => {
        if (grown++ < 4) {
          log.appendSync([entry(500 + grown), entry(600 + grown)]);
          log.checkpointSync();
        }
      },
    });
    expect(r.problem).toBeUndefined();
    expect(r.entries).toBeGreaterThanOrEqual(before);
    expect(log.treeSizeSync()).toBe(before + 8);
  });

  it("validates its options", () => {
    expect(() => new SqliteAuditLog(db, { nope: 1 } as never)).toThrow(expect.objectContaining({ code: "AECP_CONFIG_INVALID" }));
    expect(() => new SqliteAuditLog(db, { origin: "has space" })).toThrow(expect.objectContaining({ code: "AECP_CONFIG_INVALID" }));
    expect(() => new SqliteAuditLog(db).checkpointSync()).toThrow(expect.objectContaining({ code: "AECP_CONFIG_INVALID" }));
  });
});
