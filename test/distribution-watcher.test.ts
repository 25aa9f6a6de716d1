// The sidecar's bundle watcher with a real Sidecar (src/executive) on port 0.
//
// Tamper matrix: a hostile distribution server (test/distribution/fixtures.ts)
// serves, one after the other, every kind of bad update; after each the
// sidecar must still serve the previous bundle and report why (component
// `distribution` in /status, code, rejection counter). Then a good revision
// activates and the component is ok again.
//
// Faults: distribution down at sidecar start (the last-known-good copy from
// --cache-dir serves, with its revision), down mid-stream, slow responses,
// truncated responses, an expired active manifest (freeze), and the
// `aecp sidecar --distribution` CLI end to end against the real service.

import { spawn, type ChildProcess } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sidecar, sidecarOptions } from "../src/executive/index.js";
import {
  BundleWatcher,
  DistributionServer,
  SHADOW_WATCHER_COMPONENT,
  blobDigestOf,
  createManifest,
  distributionServerOptions,
  publishBundle,
  shadowWatcherForSidecar,
  watcherForSidecar,
} from "../src/distribution/index.js";
import { bundleDigest, editManifest, HostileDistribution, makeFixtures, manifestFor, until, type Fixtures } from "./distribution/fixtures.js";

const MAIN_JS = join(fileURLToPath(new URL("..", import.meta.url)), "dist/cli/main.js");
/** Short waits and backoffs: the tests stay fast (not a timing assertion). */
const FAST = { waitS: 2, backoffMinMs: 20, backoffMaxMs: 200, requestTimeoutMs: 1000, minPollIntervalMs: 0 };

let fx: Fixtures;
const cleanups: Array<() => Promise<unknown>> = [];
const children: ChildProcess[] = [];

async function sidecarOn(url: string, extra: Record<string, unknown> = {}, watcherOverrides: Record<string, unknown> = FAST): Promise<{ sidecar: Sidecar; watcher: BundleWatcher }> {
  const sidecar = new Sidecar(sidecarOptions({ distribution: url, name: "mesh", pub: [fx.pubPath], grpc: ["127.0.0.1:0"], http: "127.0.0.1:0", ...extra }));
  await sidecar.start();
  const watcher = watcherForSidecar(sidecar, watcherOverrides);
  watcher.start();
  cleanups.push(async () => {
    await watcher.stop();
    await sidecar.stop();
  });
  return { sidecar, watcher };
}

async function hostile(): Promise<HostileDistribution> {
  const h = new HostileDistribution();
  await h.start();
  cleanups.push(() => h.stop());
  return h;
}

async function realServer(data: string, listen = "127.0.0.1:0"): Promise<DistributionServer> {
  const s = new DistributionServer(distributionServerOptions({ data, listen, wakeSpreadMaxMs: 10 }));
  await s.start();
  cleanups.push(() => s.stop());
  return s;
}

const publish = (url: string, bundle: Uint8Array, lifetimeMs = 3_600_000) => publishBundle({ url, bundle, keys: [fx.key], lifetimeMs });
const component = (s: Sidecar) => s.status().components["distribution"];

beforeAll(async () => {
  fx = await makeFixtures();
});

afterAll(async () => {
  for (const c of children) c.kill("SIGKILL");
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  rmSync(fx.dir, { recursive: true, force: true });
});

describe("tamper matrix: the sidecar keeps serving the previous bundle and reports why", () => {
  let h: HostileDistribution;
  let sidecar: Sidecar;
  let watcher: BundleWatcher;
  const v2Digest = () => bundleDigest(fx.v2);

  beforeAll(async () => {
    h = await hostile();
    ({ sidecar, watcher } = await sidecarOn(h.url, { maxBundleBytes: 64 * 1024 }, { ...FAST, minPollIntervalMs: 100 }));
    h.set(manifestFor(fx.v2, 2, [fx.key]), 2, fx.v2);
    await until(() => sidecar.active?.revision === 2, "revision 2 active");
    expect(sidecar.active).toMatchObject({ name: "mesh", digest: v2Digest(), source: "distribution", revision: 2 });
    expect(component(sidecar)).toMatchObject({ state: "ok" });
  });

  /** Serve `manifest` (+ blobs), wait for the next rejection, check it kept revision 2. */
  async function rejects(code: string, manifest: Uint8Array, revision: number, ...blobs: Uint8Array[]): Promise<void> {
    const before = watcher.status().rejected;
    h.set(manifest, revision, ...blobs);
    await until(() => watcher.status().rejected > before, `a rejection (${code})`);
    expect(watcher.status().rejection?.code).toBe(code);
    expect(sidecar.active).toMatchObject({ digest: v2Digest(), revision: 2 });
    expect(sidecar.ready).toBe(true);
    const c = component(sidecar);
    expect(c).toMatchObject({ state: "degraded", code });
    expect(typeof c?.reason).toBe("string");
    expect(sidecar.status().degraded).toBe(true);
  }

  it("flipped byte in the blob", async () => {
    const m = manifestFor(fx.v3, 3, [fx.key]);
    const flipped = new Uint8Array(fx.v3);
    flipped[flipped.length - 10] = flipped[flipped.length - 10]! ^ 0x01;
    h.setBlob(blobDigestOf(fx.v3), flipped);
    await rejects("AECP_BLOB_DIGEST_MISMATCH", m, 3);
  });

  it("flipped byte in the manifest", async () => {
    const m = Buffer.from(manifestFor(fx.v3, 3, [fx.key]));
    const at = m.indexOf('"blobSize":') + '"blobSize":'.length;
    m[at] = m[at] === 0x39 ? 0x38 : m[at]! + 1; // one digit of the size changes
    await rejects("AECP_MANIFEST_SIGNATURE_INVALID", new Uint8Array(m), 3, fx.v3);
  });

  it("signature by an untrusted key", async () => {
    await rejects("AECP_MANIFEST_UNTRUSTED_KEY", manifestFor(fx.v3, 3, [fx.other]), 3, fx.v3);
  });

  it("missing signature", async () => {
    await rejects("AECP_MANIFEST_UNSIGNED", editManifest(manifestFor(fx.v3, 3, [fx.key]), (d) => (d.signatures = [])), 3, fx.v3);
  });

  it("older revision (rollback)", async () => {
    h.ignoreAfter = true;
    try {
      await rejects("AECP_MANIFEST_ROLLBACK", manifestFor(fx.v1, 1, [fx.key]), 1, fx.v1);
    } finally {
      h.ignoreAfter = false;
    }
  });

  it("same revision with different content", async () => {
    h.ignoreAfter = true;
    try {
      await rejects("AECP_MANIFEST_REVISION_CONFLICT", manifestFor(fx.v3, 2, [fx.key]), 2, fx.v3);
    } finally {
      h.ignoreAfter = false;
    }
  });

  it("expired manifest", async () => {
    await rejects("AECP_MANIFEST_EXPIRED", manifestFor(fx.v3, 3, [fx.key], { issuedAt: new Date(Date.now() - 7200_000), lifetimeMs: 3600_000 }), 3, fx.v3);
  });

  it("wrong bundle name (in the manifest, and a blob of another bundle)", async () => {
    await rejects("AECP_MANIFEST_NAME_MISMATCH", manifestFor(fx.otherName, 3, [fx.key]), 3, fx.otherName);
    await rejects("AECP_MANIFEST_NAME_MISMATCH", manifestFor(fx.otherName, 4, [fx.key], { name: "mesh" }), 4, fx.otherName);
  });

  it("blob over the size limit (declared, and sent beyond the declared size)", async () => {
    // a correctly signed manifest naming a blob one byte over the sidecar's 64 KiB limit: refused before downloading
    const big = new Uint8Array(64 * 1024 + 1).fill(7);
    const before = h.requests;
    await rejects("AECP_BUNDLE_TOO_LARGE", createManifest({ name: "mesh", revision: 3, blob: big, bundleDigest: bundleDigest(fx.v3), lifetimeMs: 3_600_000 }, [fx.key]), 3, big);
    expect(h.requests - before).toBeLessThanOrEqual(2); // long polls only, no blob GET
    // a correctly signed manifest whose server then sends more bytes than it names
    const m = manifestFor(fx.v3, 3, [fx.key]);
    const longer = new Uint8Array(fx.v3.length + 100);
    longer.set(fx.v3);
    h.setBlob(blobDigestOf(fx.v3), longer);
    await rejects("AECP_BLOB_DIGEST_MISMATCH", m, 3);
  });

  it("invalid WebAssembly, wrong ABI version, bundle signed by an untrusted key", async () => {
    await rejects("AECP_BUNDLE_WASM_INVALID", manifestFor(fx.invalidWasm, 5, [fx.key]), 5, fx.invalidWasm);
    await rejects("AECP_BUNDLE_ABI_MISMATCH", manifestFor(fx.wrongAbi, 6, [fx.key]), 6, fx.wrongAbi);
    await rejects("AECP_BUNDLE_UNTRUSTED_KEY", manifestFor(fx.untrustedBundle, 7, [fx.key]), 7, fx.untrustedBundle);
  });

  it("the active revision served again (a server ignoring `after`) is no rejection and no busy loop", async () => {
    const activeManifest = manifestFor(fx.v2, 2, [fx.key]);
    const rejected = watcher.status().rejected;
    h.ignoreAfter = true;
    try {
      const before = h.requests;
      h.set(activeManifest, 2, fx.v2);
      await new Promise((r) => setTimeout(r, 500));
      expect(h.requests - before).toBeGreaterThan(0);
      expect(h.requests - before).toBeLessThan(50); // minPollIntervalMs 100 below: a spinning loop would make thousands
    } finally {
      h.ignoreAfter = false;
    }
    expect(watcher.status().rejected).toBe(rejected);
    expect(sidecar.active).toMatchObject({ digest: v2Digest(), revision: 2 });
  });

  it("reports rejections in /status and /metrics, then recovers with a good revision", async () => {
    const http = `http://${sidecar.status().listening.http!}`;
    const status = (await (await request(`${http}/status`)).body.json()) as { degraded: boolean; components: Record<string, { code?: string; detail?: Record<string, unknown> }> };
    expect(status.degraded).toBe(true);
    expect(status.components["distribution"]?.code).toBe("AECP_BUNDLE_UNTRUSTED_KEY");
    expect(status.components["distribution"]?.detail).toMatchObject({ revision: 2, name: "mesh" });
    const metrics = await (await request(`${http}/metrics`)).body.text();
    for (const code of ["AECP_MANIFEST_UNSIGNED", "AECP_MANIFEST_ROLLBACK", "AECP_BUNDLE_ABI_MISMATCH"]) {
      expect(metrics).toMatch(new RegExp(`aecp_distribution_rejections_total\\{name="mesh",code="${code}"\\} [1-9]`));
    }
    h.set(manifestFor(fx.v3, 8, [fx.key]), 8, fx.v3);
    await until(() => sidecar.active?.revision === 8, "revision 8 active");
    expect(sidecar.active?.digest).toBe(bundleDigest(fx.v3));
    await until(() => component(sidecar)?.state === "ok", "component ok");
    expect(sidecar.status().degraded).toBe(false);
    expect(await (await request(`${http}/metrics`)).body.text()).toContain('aecp_distribution_active_revision{name="mesh"} 8');
  });
});

describe("faults", () => {
  it("distribution down at sidecar start: the last-known-good copy serves, with its revision; updates resume", async () => {
    const data = join(fx.dir, "lkg-data");
    const cacheDir = join(fx.dir, "lkg-cache");
    let server = await realServer(data);
    const port = new URL(server.url).port;
    await publish(server.url, fx.v1);
    await publish(server.url, fx.v2);
    const first = await sidecarOn(server.url, { cacheDir });
    await until(() => first.sidecar.active?.revision === 2, "revision 2 active");
    await first.watcher.stop();
    await first.sidecar.stop();
    await server.stop();

    const { sidecar, watcher } = await sidecarOn(`http://127.0.0.1:${port}`, { cacheDir });
    expect(sidecar.ready).toBe(true);
    expect(sidecar.active).toMatchObject({ source: "cache", revision: 2, digest: bundleDigest(fx.v2) });
    await until(() => component(sidecar)?.code === "AECP_DISTRIBUTION_UNAVAILABLE", "unavailable reported");
    expect(watcher.status().revision).toBe(2); // the cached manifest is known: rollback protection from the first poll
    expect(sidecar.active?.revision).toBe(2);

    server = await realServer(data, `127.0.0.1:${port}`);
    await publish(server.url, fx.v3);
    await until(() => sidecar.active?.revision === 3, "revision 3 active after the service came back", 20_000);
    expect(component(sidecar)?.state).toBe("ok");
  });

  it("down mid-stream: keeps serving, reports it, picks up the next publish after the restart", async () => {
    const data = join(fx.dir, "midstream");
    let server = await realServer(data);
    const port = new URL(server.url).port;
    await publish(server.url, fx.v1);
    const { sidecar } = await sidecarOn(server.url);
    await until(() => sidecar.active?.revision === 1, "revision 1 active");
    await server.stop();
    await until(() => component(sidecar)?.code === "AECP_DISTRIBUTION_UNAVAILABLE", "outage reported");
    expect(sidecar.active?.revision).toBe(1);
    expect(sidecar.ready).toBe(true);
    server = await realServer(data, `127.0.0.1:${port}`);
    await publish(server.url, fx.v2);
    await until(() => sidecar.active?.revision === 2, "revision 2 after restart", 20_000);
  });

  it("slow responses time out and are retried; the bundle stays", async () => {
    const h = await hostile();
    const { sidecar, watcher } = await sidecarOn(h.url, {}, { ...FAST, requestTimeoutMs: 300 });
    h.set(manifestFor(fx.v1, 1, [fx.key]), 1, fx.v1);
    await until(() => sidecar.active?.revision === 1, "revision 1 active");
    h.delayMs = 3000; // beyond wait + timeout of every request
    h.set(manifestFor(fx.v2, 2, [fx.key]), 2, fx.v2);
    await until(() => component(sidecar)?.code === "AECP_DISTRIBUTION_UNAVAILABLE", "timeout reported");
    expect(sidecar.active?.revision).toBe(1);
    expect(watcher.status().consecutiveFailures).toBeGreaterThan(0);
    h.delayMs = 0;
    await until(() => sidecar.active?.revision === 2, "revision 2 once the service is fast again");
  });

  it("truncated responses (manifest and blob cut off mid-body) change nothing", async () => {
    const h = await hostile();
    const { sidecar } = await sidecarOn(h.url);
    h.set(manifestFor(fx.v1, 1, [fx.key]), 1, fx.v1);
    await until(() => sidecar.active?.revision === 1, "revision 1 active");
    h.truncate = true;
    const before = h.requests;
    h.set(manifestFor(fx.v2, 2, [fx.key]), 2, fx.v2);
    await until(() => h.requests > before + 2 && component(sidecar)?.code === "AECP_DISTRIBUTION_UNAVAILABLE", "truncation reported");
    expect(sidecar.active?.revision).toBe(1);
    h.truncate = false;
    await until(() => sidecar.active?.revision === 2, "revision 2 once answers are whole");
  });

  it("an expired ACTIVE manifest keeps the bundle but turns status degraded (freeze), until a new publish", async () => {
    const h = await hostile();
    const { sidecar } = await sidecarOn(h.url);
    h.set(manifestFor(fx.v1, 1, [fx.key], { lifetimeMs: 1500 }), 1, fx.v1);
    await until(() => sidecar.active?.revision === 1, "revision 1 active");
    const c = await until(() => (component(sidecar)?.code === "AECP_MANIFEST_EXPIRED" ? component(sidecar) : undefined), "expiry reported", 10_000);
    expect(c.state).toBe("degraded");
    expect(c.reason).toContain("still serving");
    expect(sidecar.active?.revision).toBe(1);
    expect(sidecar.ready).toBe(true);
    expect(sidecar.metrics()).toContain('aecp_distribution_manifest_expired{name="mesh"} 1');
    h.set(manifestFor(fx.v2, 2, [fx.key]), 2, fx.v2);
    await until(() => sidecar.active?.revision === 2 && component(sidecar)?.state === "ok", "renewed");
    expect(sidecar.metrics()).toContain('aecp_distribution_manifest_expired{name="mesh"} 0');
    expect(sidecar.status().bundle).toMatchObject({ revision: 2, source: "distribution" });
    expect(sidecar.metrics()).toMatch(/aecp_distribution_propagation_seconds_count\{name="mesh"\} 2/);
  });
});

describe("read token", () => {
  it("the sidecar's distributionToken is sent; without it the watcher reports AECP_DISTRIBUTION_UNAUTHORIZED", async () => {
    const s = new DistributionServer(distributionServerOptions({ data: join(fx.dir, "token-data"), listen: "127.0.0.1:0", readToken: "r3ad", publishToken: "wr1te" }));
    await s.start();
    cleanups.push(() => s.stop());
    await publishBundle({ url: s.url, bundle: fx.v1, keys: [fx.key], lifetimeMs: 3_600_000, token: "wr1te" });
    const withToken = await sidecarOn(s.url, { distributionToken: "r3ad" });
    const without = await sidecarOn(s.url);
    await until(() => withToken.sidecar.active?.revision === 1, "revision 1 with the token");
    await until(() => component(without.sidecar)?.code === "AECP_DISTRIBUTION_UNAUTHORIZED", "unauthorized reported");
    expect(without.sidecar.ready).toBe(false);
  });
});

describe("shadow candidate from distribution (--shadow-name)", () => {
  it("a second watcher feeds verified revisions of the shadow name to the shadow evaluator, never to enforcement", async () => {
    const server = await realServer(join(fx.dir, "shadow-data"));
    await publish(server.url, fx.v1);
    await publish(server.url, fx.otherName); // bundle `other`, revision 1
    const { sidecar } = await sidecarOn(server.url, { shadowName: "other" });
    const shadowWatcher = shadowWatcherForSidecar(sidecar, FAST);
    shadowWatcher.start();
    cleanups.push(() => shadowWatcher.stop());
    await until(() => sidecar.active?.revision === 1 && sidecar.shadowActive?.revision === 1, "active mesh r1 and shadow other r1");
    expect(sidecar.active?.name).toBe("mesh");
    expect(sidecar.shadowActive?.name).toBe("other");
    expect(sidecar.status().shadow?.bundle.name).toBe("other");
    expect(sidecar.status().components[SHADOW_WATCHER_COMPONENT]?.state).toBe("ok");
    // a newer shadow revision replaces the candidate; the enforced bundle is untouched
    const activeDigest = sidecar.active?.digest;
    await publish(server.url, fx.otherName); // other r2
    await until(() => sidecar.shadowActive?.revision === 2, "shadow other r2");
    expect(sidecar.active?.digest).toBe(activeDigest);
    // and the other way round: a new enforced revision leaves the shadow candidate alone
    await publish(server.url, fx.v2); // mesh r2
    await until(() => sidecar.active?.revision === 2, "mesh r2 active");
    expect(sidecar.shadowActive?.revision).toBe(2);
    expect(sidecar.shadowActive?.name).toBe("other");
  });

  it("shadowName needs distribution and excludes shadowBundle", () => {
    expect(() => sidecarOptions({ bundle: "/b", pub: ["/k"], shadowName: "other" })).toThrow(/shadowName/);
    expect(() => sidecarOptions({ distribution: "http://127.0.0.1:1", name: "mesh", pub: ["/k"], shadowName: "other", shadowBundle: "/c" })).toThrow(/exclusive/);
  });
});

describe("aecp sidecar --distribution (CLI, built dist/)", () => {
  it("starts without a bundle, activates the published one, reports propagation lag in /status", async () => {
    const server = await realServer(join(fx.dir, "cli-data"));
    const cfg = join(fx.dir, "sidecar.yaml");
    writeFileSync(cfg, `grpc: ["127.0.0.1:0"]\nhttp: "127.0.0.1:0"\n`);
    const child = spawn(process.execPath, [MAIN_JS, "sidecar", "--distribution", server.url, "--name", "mesh", "--pub", fx.pubPath, "--config", cfg], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    let out = "";
    child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr!.on("data", (c: Buffer) => (out += c.toString()));
    const http = await until(() => /HTTP on (127\.0\.0\.1:\d+)/.exec(out)?.[1], `sidecar start line (${out})`, 30_000);
    expect(out).toContain("no bundle yet");
    expect((await request(`http://${http}/readyz`)).statusCode).toBe(503);
    await publish(server.url, fx.v1);
    const status = await until(async () => {
      const s = (await (await request(`http://${http}/status`)).body.json()) as { bundle: { revision: number } | null; components: Record<string, { state: string; detail?: { lastPropagationMs?: number } }> };
      return s.bundle?.revision === 1 ? s : undefined;
    }, "revision 1 active in the CLI sidecar");
    expect(status.components["distribution"]?.state).toBe("ok");
    expect(status.components["distribution"]?.detail?.lastPropagationMs).toBeGreaterThanOrEqual(0);
    expect((await request(`http://${http}/readyz`)).statusCode).toBe(200);
    child.kill("SIGTERM");
    expect(await new Promise((resolve) => child.once("exit", resolve))).toBe(0);
  });
});
