// The last-known-good bundle cache (`--cache-dir`): crash-safe persistence,
// and a sidecar that restarts and serves from it when its configured bundle
// is missing or bad — and never trusts a corrupted cache.

import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { emptyRequestAttributes, generateKeyPairPem, parsePrivateKeyPem } from "../src/bundle/index.js";
import { BundleStore, LKG_FILE, LKG_META_FILE, Sidecar, sidecarOptions } from "../src/executive/index.js";
import { compile } from "../src/judicial/index.js";

let dir: string;
let pubPath: string;
let bundleA: Uint8Array;
let bundleB: Uint8Array;
const running: Sidecar[] = [];

async function build(name: string, text: string, privatePem: string): Promise<Uint8Array> {
  const r = await compile([{ path: "p.policy", text }], { name, key: parsePrivateKeyPem(privatePem) });
  expect(r.ok).toBe(true);
  return r.bundle!;
}

async function sidecar(bundle: string, cacheDir: string): Promise<Sidecar> {
  const s = new Sidecar(sidecarOptions({ bundle, pub: [pubPath], grpc: ["127.0.0.1:0"], http: "127.0.0.1:0", cacheDir }));
  running.push(s);
  await s.start();
  return s;
}

function deniesPost(s: Sidecar): boolean {
  const a = emptyRequestAttributes();
  a.method = "POST";
  a.path = "/";
  return !s.decide(a).allowed;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "aecp-lkg-"));
  const kp = generateKeyPairPem();
  pubPath = join(dir, "aecp.pub");
  writeFileSync(pubPath, kp.publicPem);
  bundleA = await build("a", 'POLICY no_post { SCOPE: requests CONSTRAINT: request.method != "POST" ENFORCEMENT: BLOCKING }', kp.privatePem);
  bundleB = await build("b", 'POLICY no_get { SCOPE: requests CONSTRAINT: request.method != "GET" ENFORCEMENT: BLOCKING }', kp.privatePem);
});

afterAll(async () => {
  for (const s of running) await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("BundleStore", () => {
  it("round-trips bytes, replaces atomically and leaves no temp files", () => {
    const store = new BundleStore(join(dir, "store"));
    expect(store.load()).toBeUndefined();
    store.save(bundleA);
    expect(Buffer.from(store.load()!).equals(Buffer.from(bundleA))).toBe(true);
    store.save(bundleB);
    expect(Buffer.from(store.load()!).equals(Buffer.from(bundleB))).toBe(true);
    expect(readdirSync(join(dir, "store")).sort()).toEqual([LKG_FILE, LKG_META_FILE].sort());
  });

  it("keeps revision, issued-at and manifest beside the bytes, and ignores meta of other bytes", () => {
    const store = new BundleStore(join(dir, "meta"));
    const manifest = new Uint8Array([1, 2, 3]);
    store.save(bundleA, { revision: 7, issuedAt: "2026-11-25T10:00:00.000Z", manifest });
    expect(store.loadMeta(store.load()!)).toEqual({ revision: 7, issuedAt: "2026-11-25T10:00:00.000Z", manifest });
    // meta written, then a crash before the bundle rename: meta names other bytes
    expect(store.loadMeta(bundleB)).toEqual({});
    writeFileSync(join(dir, "meta", LKG_META_FILE), "{not json");
    expect(store.loadMeta(bundleA)).toEqual({});
  });
});

describe("sidecar with --cache-dir", () => {
  it("persists the active bundle, then restarts from it when the configured bundle file is gone", async () => {
    const cache = join(dir, "cache1");
    const file = join(dir, "a.bundle");
    writeFileSync(file, bundleA);
    const first = await sidecar(file, cache);
    expect(first.status().bundle?.source).toBe("file");
    expect(readFileSync(join(cache, LKG_FILE)).equals(Buffer.from(bundleA))).toBe(true);
    await first.stop();

    rmSync(file);
    const second = await sidecar(file, cache);
    const st = second.status();
    expect(st.ready).toBe(true);
    expect(st.bundle?.source).toBe("cache");
    expect(st.degraded).toBe(true);
    expect(st.lastError?.code).toBe("AECP_IO");
    expect(deniesPost(second)).toBe(true); // bundle A's policy is enforced
  });

  it("keeps serving the last-known-good bundle when the configured one is tampered", async () => {
    const cache = join(dir, "cache2");
    new BundleStore(cache).save(bundleA);
    const bad = Buffer.from(bundleB);
    bad[bad.length - 100]! ^= 0xff;
    const file = join(dir, "tampered.bundle");
    writeFileSync(file, bad);
    const s = await sidecar(file, cache);
    expect(s.status().bundle?.name).toBe("a");
    expect(s.status().degraded).toBe(true);
    expect(s.status().lastError?.code).toMatch(/^AECP_BUNDLE_/);
    // the cache still holds A: a bad bundle never overwrites the last-known-good copy
    expect(readFileSync(join(cache, LKG_FILE)).equals(Buffer.from(bundleA))).toBe(true);
  });

  it("never trusts a corrupted cache: the configured bundle wins, and the cache is refreshed", async () => {
    const cache = join(dir, "cache3");
    new BundleStore(cache).save(new Uint8Array([1, 2, 3, 4]));
    const file = join(dir, "b.bundle");
    writeFileSync(file, bundleB);
    const s = await sidecar(file, cache);
    expect(s.status().bundle?.name).toBe("b");
    expect(s.status().bundle?.source).toBe("file");
    expect(s.status().degraded).toBe(false);
    expect(readFileSync(join(cache, LKG_FILE)).equals(Buffer.from(bundleB))).toBe(true);
  });

  it("fails to start when neither the cache nor the configured bundle yields a valid bundle", async () => {
    const cache = join(dir, "cache4");
    const s = new Sidecar(sidecarOptions({ bundle: join(dir, "missing.bundle"), pub: [pubPath], grpc: ["127.0.0.1:0"], http: "127.0.0.1:0", cacheDir: cache }));
    await expect(s.start()).rejects.toMatchObject({ code: "AECP_IO" });
    expect(existsSync(join(cache, LKG_FILE))).toBe(false);
  });

  it("a later activate() replaces the cached copy; a failed one does not", async () => {
    const cache = join(dir, "cache5");
    const file = join(dir, "a2.bundle");
    writeFileSync(file, bundleA);
    const s = await sidecar(file, cache);
    s.activate(bundleB);
    expect(readFileSync(join(cache, LKG_FILE)).equals(Buffer.from(bundleB))).toBe(true);
    expect(() => s.activate(new Uint8Array([9, 9, 9]))).toThrow();
    expect(readFileSync(join(cache, LKG_FILE)).equals(Buffer.from(bundleB))).toBe(true);
  });

  it("distribution mode: starts NOT_SERVING without a cache, then serves what the watcher activates, with its revision", async () => {
    const cache = join(dir, "cache6");
    const opts = { distribution: "http://127.0.0.1:9", name: "a", pub: [pubPath], grpc: ["127.0.0.1:0"], http: "127.0.0.1:0", cacheDir: cache };
    const s = new Sidecar(sidecarOptions(opts));
    running.push(s);
    await s.start();
    expect(s.ready).toBe(false);
    expect(s.active).toBeUndefined();
    expect(s.decide(emptyRequestAttributes()).metadata["aecp_reason"]).toBe("AECP_NO_BUNDLE");
    s.activate(bundleA, "distribution", { revision: 3, issuedAt: "2026-11-25T10:00:00.000Z" });
    expect(s.active).toMatchObject({ name: "a", revision: 3, source: "distribution", issuedAt: "2026-11-25T10:00:00.000Z" });
    expect(s.status().bundle).toMatchObject({ revision: 3, issuedAt: "2026-11-25T10:00:00.000Z" });
    await s.stop();

    // restart: the cached copy comes back with its revision (rollback protection survives)
    const again = new Sidecar(sidecarOptions(opts));
    running.push(again);
    await again.start();
    expect(again.active).toMatchObject({ name: "a", revision: 3, source: "cache" });
    await again.stop();

    // a cache holding another bundle name is not served under this name
    const other = new Sidecar(sidecarOptions({ ...opts, name: "b" }));
    running.push(other);
    await other.start();
    expect(other.ready).toBe(false);
    expect(other.status().lastError?.message).toContain("not `b`");
  });

  it("components reported by long-lived parts show in /status and degrade it; extra metrics append", async () => {
    const file = join(dir, "a3.bundle");
    writeFileSync(file, bundleA);
    const s = await sidecar(file, join(dir, "cache7"));
    expect(s.status().degraded).toBe(false);
    s.reportComponent("distribution", { state: "degraded", code: "AECP_DISTRIBUTION_MANIFEST_EXPIRED", reason: "manifest expired" });
    expect(s.status().degraded).toBe(true);
    expect(s.status().components["distribution"]).toMatchObject({ state: "degraded", code: "AECP_DISTRIBUTION_MANIFEST_EXPIRED" });
    s.reportComponent("distribution", { state: "ok" });
    expect(s.status().degraded).toBe(false);
    s.addMetrics(() => "# TYPE aecp_test_gauge gauge\naecp_test_gauge 1\n");
    expect(s.metrics()).toContain("aecp_test_gauge 1\n");
  });
});
