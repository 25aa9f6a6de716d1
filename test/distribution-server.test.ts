// The distribution service's HTTP API against a real server on 127.0.0.1
// port 0 with filesystem storage in a temp dir: publish (blob + signed
// manifest) through the real client, ETag/304, the long poll (answers on
// publish, `after`, If-None-Match, timeout), blobs (immutable cache headers),
// lists, health, authentication (publish token, loopback-only publishing,
// read token), what a publish is refused for, restart on the same data dir,
// manifest signing/verification units, option validation, and the
// `aecp publish` / `aecp distribution` CLI (built dist/, spawned).

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TrustedKeys, parsePublicKeyPem } from "../src/bundle/index.js";
import { isAecpError } from "../src/common/index.js";
import {
  DistributionServer,
  LongPollHub,
  blobDigestOf,
  distributionServerOptions,
  parseDuration,
  publishBundle,
  verifyManifest,
  watcherOptions,
} from "../src/distribution/index.js";
import { editManifest, makeFixtures, manifestFor, type Fixtures } from "./distribution/fixtures.js";

const MAIN_JS = join(fileURLToPath(new URL("..", import.meta.url)), "dist/cli/main.js");

let fx: Fixtures;
const servers: DistributionServer[] = [];
const children: ChildProcess[] = [];

async function startServer(raw: Record<string, unknown> = {}, data = join(fx.dir, `data-${servers.length}`)): Promise<DistributionServer> {
  const s = new DistributionServer(distributionServerOptions({ data, listen: "127.0.0.1:0", wakeSpreadMaxMs: 20, ...raw }));
  servers.push(s);
  await s.start();
  return s;
}

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers });
  const body = new Uint8Array(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body, json: () => JSON.parse(Buffer.from(body).toString("utf8")) as Record<string, unknown> };
}

async function put(url: string, body: Uint8Array, headers: Record<string, string> = {}) {
  const res = await request(url, { method: "PUT", body, headers });
  const text = await res.body.text();
  return { status: res.statusCode, json: () => JSON.parse(text) as { error?: { code: string; message: string } } & Record<string, unknown> };
}

const publish = (s: DistributionServer, bundle: Uint8Array, extra: { token?: string } = {}) =>
  publishBundle({ url: s.url, bundle, keys: [fx.key], lifetimeMs: 3_600_000, ...extra });

beforeAll(async () => {
  fx = await makeFixtures();
});

afterAll(async () => {
  for (const c of children) c.kill("SIGKILL");
  await Promise.all(servers.map((s) => s.stop().catch(() => undefined)));
  rmSync(fx.dir, { recursive: true, force: true });
});

describe("manifests", () => {
  const trusted = () => TrustedKeys.fromPems([fx.keyPem.publicPem]);

  it("sign and verify; every tampered field breaks the signature", () => {
    const m = manifestFor(fx.v1, 1, [fx.key]);
    const v = verifyManifest(m, { trustedKeys: trusted(), name: "mesh" });
    expect(v.signed).toMatchObject({ name: "mesh", revision: 1, blobDigest: blobDigestOf(fx.v1), blobSize: fx.v1.length });
    expect(v.keyId).toBe(fx.key.keyId);
    for (const [field, value] of [["revision", 2], ["blobSize", 5], ["expiresAt", "2099-01-01T00:00:00.000Z"], ["blobDigest", blobDigestOf(fx.v2)]] as const) {
      const t = editManifest(m, (d) => (d.signed[field] = value));
      expect(() => verifyManifest(t, { trustedKeys: trusted(), name: "mesh" }), field).toThrow(expect.objectContaining({ code: "AECP_MANIFEST_SIGNATURE_INVALID" }));
    }
  });

  it("verification does not depend on whitespace or key order (canonical JSON)", () => {
    const m = manifestFor(fx.v1, 1, [fx.key]);
    const doc = JSON.parse(Buffer.from(m).toString("utf8")) as { signed: Record<string, unknown> };
    const reordered = Object.fromEntries(Object.entries(doc.signed).reverse());
    const bytes = new TextEncoder().encode(JSON.stringify({ signatures: (doc as unknown as { signatures: unknown }).signatures, signed: reordered }, null, 2));
    expect(verifyManifest(bytes, { trustedKeys: trusted(), name: "mesh" }).signed.revision).toBe(1);
  });

  it("several keys: any trusted signature verifies (rotation)", () => {
    const both = manifestFor(fx.v1, 1, [fx.other, fx.key]);
    expect(verifyManifest(both, { trustedKeys: trusted(), name: "mesh" }).keyId).toBe(fx.key.keyId);
    const onlyOther = new TrustedKeys([{ publicKey: fx.other.publicKey, keyId: fx.other.keyId }]);
    expect(verifyManifest(both, { trustedKeys: onlyOther, name: "mesh" }).keyId).toBe(fx.other.keyId);
    expect(() => verifyManifest(manifestFor(fx.v1, 1, [fx.key]), { trustedKeys: onlyOther, name: "mesh" })).toThrow(expect.objectContaining({ code: "AECP_MANIFEST_UNTRUSTED_KEY" }));
  });

  it("rejects malformed manifests with coded reasons", () => {
    const t = trusted();
    const m = manifestFor(fx.v1, 1, [fx.key]);
    const cases: Array<[Uint8Array, string]> = [
      [new TextEncoder().encode("not json"), "AECP_MANIFEST_MALFORMED"],
      [new Uint8Array(70 * 1024), "AECP_MANIFEST_MALFORMED"],
      [editManifest(m, (d) => (d.signed["extra"] = 1)), "AECP_MANIFEST_MALFORMED"],
      [editManifest(m, (d) => (d.signed["revision"] = 0)), "AECP_MANIFEST_MALFORMED"],
      [editManifest(m, (d) => (d.signed["issuedAt"] = "yesterday")), "AECP_MANIFEST_MALFORMED"],
      [editManifest(m, (d) => (d.signatures = [])), "AECP_MANIFEST_UNSIGNED"],
    ];
    for (const [bytes, code] of cases) expect(() => verifyManifest(bytes, { trustedKeys: t, name: "mesh" })).toThrow(expect.objectContaining({ code }));
    expect(() => verifyManifest(m, { trustedKeys: t, name: "other" })).toThrow(expect.objectContaining({ code: "AECP_MANIFEST_NAME_MISMATCH" }));
    const expired = manifestFor(fx.v1, 1, [fx.key], { issuedAt: new Date(Date.now() - 7200_000), lifetimeMs: 3600_000 });
    expect(() => verifyManifest(expired, { trustedKeys: t, name: "mesh" })).toThrow(expect.objectContaining({ code: "AECP_MANIFEST_EXPIRED" }));
  });

  it("durations and options", () => {
    expect(parseDuration("30d")).toBe(30 * 86_400_000);
    expect(parseDuration("90m")).toBe(5_400_000);
    expect(() => parseDuration("soon")).toThrow(expect.objectContaining({ code: "AECP_USAGE" }));
    expect(() => parseDuration("0s")).toThrow(expect.objectContaining({ code: "AECP_USAGE" }));
    const o = distributionServerOptions({ data: "/d" });
    expect(o).toMatchObject({ listen: "127.0.0.1:8181", pollIntervalMs: 0, maxWaitS: 300, publishToken: undefined });
    expect(Object.isFrozen(o)).toBe(true);
    expect(distributionServerOptions({ oci: "http://127.0.0.1:5000/aecp" }).pollIntervalMs).toBe(1000);
    for (const bad of [{}, { data: "/d", bogus: 1 }, { data: "/d", listen: "nope" }, { data: "/d", maxWaitS: 0 }, { oci: "ftp://x/y" }]) {
      expect(() => distributionServerOptions(bad), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: "AECP_CONFIG_INVALID" }));
    }
    expect(watcherOptions({ url: "http://127.0.0.1:1/", name: "mesh" })).toMatchObject({ url: "http://127.0.0.1:1", waitS: 30, backoffMinMs: 250 });
    for (const bad of [{ name: "mesh" }, { url: "http://x", name: "../x" }, { url: "http://x", name: "m", backoffMinMs: 10, backoffMaxMs: 5 }]) {
      expect(() => watcherOptions(bad), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: "AECP_CONFIG_INVALID" }));
    }
  });
});

describe("long-poll hub", () => {
  it("wakes every fresh waiter once, spread over time, and times the rest out", async () => {
    const hub = new LongPollHub<number>(50);
    const answered: number[] = [];
    let timedOut = 0;
    for (let i = 0; i < 200; i++) hub.hold("b", { isFresh: (s) => s > 0, answer: (s) => answered.push(s), timeout: () => timedOut++ }, 5_000);
    hub.hold("other", { isFresh: () => true, answer: () => answered.push(-1), timeout: () => timedOut++ }, 50);
    expect(hub.size).toBe(201);
    let state = 1;
    hub.publish("b", () => state);
    state = 2; // a newer state before the spread ends is what late waiters get
    await new Promise((r) => setTimeout(r, 150));
    expect(answered.length).toBe(200);
    expect(answered.every((s) => s === 1 || s === 2)).toBe(true);
    expect(answered.filter((s) => s === 2).length).toBeGreaterThan(0);
    expect(timedOut).toBe(1);
    expect(hub.size).toBe(0);
    expect(hub.woken).toBe(200);
  });
});

describe("HTTP API", () => {
  let s: DistributionServer;
  beforeAll(async () => {
    s = await startServer();
  });

  it("health, readiness, empty lists, unknown bundle", async () => {
    expect((await get(`${s.url}/healthz`)).status).toBe(200);
    expect((await get(`${s.url}/readyz`)).status).toBe(200);
    expect((await get(`${s.url}/v1/bundles`)).json()).toEqual({ bundles: [] });
    const r = await get(`${s.url}/v1/bundles/mesh/manifest`);
    expect(r.status).toBe(404);
    expect(r.json()).toMatchObject({ error: { code: "AECP_DISTRIBUTION_NOT_FOUND" } });
    expect((await get(`${s.url}/v1/bundles/..%2Fetc/manifest`)).json()).toMatchObject({ error: { code: "AECP_DISTRIBUTION_BAD_REQUEST" } });
    expect((await get(`${s.url}/v1/bundles/%E0%A4%A/manifest`)).json()).toMatchObject({ error: { code: "AECP_DISTRIBUTION_BAD_REQUEST" } });
    expect((await get(`${s.url}/nope`)).status).toBe(404);
    const del = await request(`${s.url}/v1/bundles`, { method: "DELETE" });
    expect(del.statusCode).toBe(405);
    await del.body.dump();
  });

  it("publishes revisions 1, 2 with manifests, ETag/304, lists and immutable blobs", async () => {
    const r1 = await publish(s, fx.v1);
    expect(r1).toMatchObject({ name: "mesh", revision: 1, blobDigest: blobDigestOf(fx.v1) });
    const m = await get(`${s.url}/v1/bundles/mesh/manifest`);
    expect(m.status).toBe(200);
    expect(m.headers["content-type"]).toBe("application/vnd.aecp.manifest.v1+json");
    expect(m.headers["x-aecp-revision"]).toBe("1");
    const etag = m.headers["etag"] as string;
    expect(etag).toMatch(/^"[0-9a-f]{64}"$/);
    const again = await get(`${s.url}/v1/bundles/mesh/manifest`, { "if-none-match": etag });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    const v = verifyManifest(m.body, { trustedKeys: TrustedKeys.fromPems([fx.keyPem.publicPem]), name: "mesh" });
    const blob = await get(`${s.url}/v1/blobs/${v.signed.blobDigest}`);
    expect(blob.status).toBe(200);
    expect(Buffer.from(blob.body).equals(Buffer.from(fx.v1))).toBe(true);
    expect(blob.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect((await get(`${s.url}/v1/blobs/${v.signed.blobDigest}`, { "if-none-match": blob.headers["etag"] as string })).status).toBe(304);
    expect((await get(`${s.url}/v1/blobs/sha256:${"0".repeat(64)}`)).json()).toMatchObject({ error: { code: "AECP_BLOB_NOT_FOUND" } });

    const r2 = await publish(s, fx.v2);
    expect(r2.revision).toBe(2);
    expect((await get(`${s.url}/v1/bundles/mesh/manifest`, { "if-none-match": etag })).status).toBe(200);
    expect((await get(`${s.url}/v1/bundles/mesh/revisions`)).json()).toEqual({ name: "mesh", revisions: [1, 2] });
    const old = await get(`${s.url}/v1/bundles/mesh/revisions/1`);
    expect(Buffer.from(old.body).equals(Buffer.from(m.body))).toBe(true);
    const list = (await get(`${s.url}/v1/bundles`)).json() as { bundles: Array<Record<string, unknown>> };
    expect(list.bundles).toEqual([expect.objectContaining({ name: "mesh", revision: 2, blobDigest: blobDigestOf(fx.v2) })]);
    const metrics = Buffer.from((await get(`${s.url}/metrics`)).body).toString();
    expect(metrics).toContain("aecp_distribution_publishes_total 2");
    expect(metrics).toContain('aecp_distribution_bundle_revision{name="mesh"} 2');
  });

  it("long poll answers the moment a newer revision is published, and times out with 304", async () => {
    const before = Date.now();
    const timedOut = await get(`${s.url}/v1/bundles/mesh/manifest?wait=0.3&after=2`);
    expect(timedOut.status).toBe(304);
    expect(Date.now() - before).toBeGreaterThanOrEqual(250); // it did hold (lower bound only)
    const polls = Array.from({ length: 20 }, () => get(`${s.url}/v1/bundles/mesh/manifest?wait=30&after=2`));
    await new Promise((r) => setTimeout(r, 100));
    expect((await get(`${s.url}/v1/bundles`)).json()).toMatchObject({ bundles: [{ watchers: 20 }] });
    const r3 = await publish(s, fx.v3);
    expect(r3).toMatchObject({ revision: 3, watchers: 20 });
    const answers = await Promise.all(polls);
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(a.headers["x-aecp-revision"]).toBe("3");
    }
    // already newer: answered at once
    expect((await get(`${s.url}/v1/bundles/mesh/manifest?wait=30&after=1`)).headers["x-aecp-revision"]).toBe("3");
    expect((await get(`${s.url}/v1/bundles/mesh/manifest?wait=500&after=1`)).json()).toMatchObject({ error: { code: "AECP_DISTRIBUTION_BAD_REQUEST" } });
  });

  it("refuses bad publishes with coded reasons and keeps the current revision", async () => {
    const t = (bytes: Uint8Array) => put(`${s.url}/v1/bundles/mesh/manifest`, bytes);
    const rollback = await t(manifestFor(fx.v1, 2, [fx.key]));
    expect([rollback.status, rollback.json().error?.code]).toEqual([409, "AECP_MANIFEST_ROLLBACK"]);
    const cases: Array<[Uint8Array, number, string]> = [
      [manifestFor(fx.v1, 9, [fx.key], { name: "other" }), 400, "AECP_MANIFEST_NAME_MISMATCH"],
      [manifestFor(fx.otherName, 9, [fx.key], { name: "mesh" }), 400, "AECP_MANIFEST_NAME_MISMATCH"],
      [manifestFor(fx.wrongAbi, 9, [fx.key]), 404, "AECP_BLOB_NOT_FOUND"],
      [manifestFor(fx.v1, 9, [fx.key], { issuedAt: new Date(Date.now() - 7200_000), lifetimeMs: 3600_000 }), 400, "AECP_MANIFEST_EXPIRED"],
      [editManifest(manifestFor(fx.v1, 9, [fx.key]), (d) => (d.signatures = [])), 400, "AECP_MANIFEST_UNSIGNED"],
      [editManifest(manifestFor(fx.v1, 9, [fx.key]), (d) => (d.signed["blobSize"] = 7)), 400, "AECP_BLOB_DIGEST_MISMATCH"],
      [new TextEncoder().encode("{"), 400, "AECP_MANIFEST_MALFORMED"],
    ];
    await put(`${s.url}/v1/blobs/${blobDigestOf(fx.otherName)}`, fx.otherName);
    for (const [bytes, status, code] of cases) {
      const r = await t(bytes);
      expect([r.status, r.json().error?.code], code).toEqual([status, code]);
    }
    const wrongDigest = await put(`${s.url}/v1/blobs/${blobDigestOf(fx.v1)}`, fx.v2);
    expect(wrongDigest.json().error?.code).toBe("AECP_BLOB_DIGEST_MISMATCH");
    expect((await get(`${s.url}/v1/bundles/mesh/manifest`)).headers["x-aecp-revision"]).toBe("3");
  });

  it("refuses blobs over the size limit before reading them", async () => {
    const small = await startServer({ maxBundleBytes: 1024 });
    const r = await put(`${small.url}/v1/blobs/${blobDigestOf(fx.v1)}`, fx.v1);
    expect([r.status, r.json().error?.code]).toEqual([413, "AECP_BUNDLE_TOO_LARGE"]);
  });

  it("keeps every revision across a restart on the same data directory (crash-safe files, no temp files left)", async () => {
    const data = join(fx.dir, "restart");
    const a = await startServer({}, data);
    await publish(a, fx.v1);
    await publish(a, fx.v2);
    await a.stop();
    const b = await startServer({}, data);
    expect((await get(`${b.url}/v1/bundles/mesh/manifest`)).headers["x-aecp-revision"]).toBe("2");
    expect((await publish(b, fx.v3)).revision).toBe(3);
    const files = readdirSync(join(data, "bundles", "mesh"));
    expect(files.sort()).toEqual(["0000000000000001.json", "0000000000000002.json", "0000000000000003.json"]);
    expect(readdirSync(join(data, "blobs", "sha256")).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });
});

describe("authentication", () => {
  it("a publish token is required from everyone when configured", async () => {
    const s = await startServer({ publishToken: "s3cret" });
    expect(s.loopbackOnlyPublish).toBe(false);
    await expect(publish(s, fx.v1)).rejects.toMatchObject({ code: "AECP_DISTRIBUTION_UNAUTHORIZED" });
    await expect(publish(s, fx.v1, { token: "wrong" })).rejects.toMatchObject({ code: "AECP_DISTRIBUTION_UNAUTHORIZED" });
    expect((await publish(s, fx.v1, { token: "s3cret" })).revision).toBe(1);
    expect((await get(`${s.url}/v1/bundles/mesh/manifest`)).status).toBe(200); // reads stay open
  });

  it("without a token, publishes are accepted only from loopback", async () => {
    const s = await startServer({ listen: "0.0.0.0:0" });
    expect(s.loopbackOnlyPublish).toBe(true);
    const port = new URL(s.url).port;
    expect((await publishBundle({ url: `http://127.0.0.1:${port}`, bundle: fx.v1, keys: [fx.key], lifetimeMs: 60_000 })).revision).toBe(1);
    // a non-loopback address of this machine, when it has one
    const { networkInterfaces } = await import("node:os");
    const external = Object.values(networkInterfaces()).flat().find((i) => i && i.family === "IPv4" && !i.internal);
    if (!external) {
      console.warn("distribution-server: no non-loopback IPv4 interface; the remote-publish refusal is not exercised");
      return;
    }
    const r = await put(`http://${external.address}:${port}/v1/blobs/${blobDigestOf(fx.v2)}`, fx.v2);
    expect([r.status, r.json().error?.code]).toEqual([403, "AECP_DISTRIBUTION_FORBIDDEN"]);
  });

  it("a read token protects manifests, blobs, lists and metrics (health stays open)", async () => {
    const s = await startServer({ readToken: "reader", publishToken: "writer" });
    await publish(s, fx.v1, { token: "writer" });
    for (const path of ["/v1/bundles", "/v1/bundles/mesh/manifest", `/v1/blobs/${blobDigestOf(fx.v1)}`, "/metrics"]) {
      const r = await get(`${s.url}${path}`);
      expect([path, r.status, r.headers["www-authenticate"]]).toEqual([path, 401, 'Bearer realm="aecp-distribution"']);
      expect((await get(`${s.url}${path}`, { authorization: "Bearer reader" })).status).toBe(200);
    }
    expect((await get(`${s.url}/healthz`)).status).toBe(200);
    const r = await put(`${s.url}/v1/blobs/${blobDigestOf(fx.v2)}`, fx.v2, { authorization: "Bearer reader" });
    expect(r.status).toBe(401);
  });
});

describe("CLI", () => {
  it("aecp distribution + aecp publish: the bundle name comes from the bundle; bad usage exits 2", async () => {
    const data = join(fx.dir, "cli-data");
    const child = spawn(process.execPath, [MAIN_JS, "distribution", "--data", data, "--listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    let out = "";
    child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no start line: ${out}`)), 20_000);
      child.stdout!.on("data", () => {
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (m && out.includes("reads:")) {
          clearTimeout(t);
          resolve(m[1]!);
        }
      });
    });
    expect(out).toContain("accepted only from loopback");
    const bundlePath = join(fx.dir, "cli.bundle");
    writeFileSync(bundlePath, fx.v2);
    const ok = spawnSync(process.execPath, [MAIN_JS, "publish", bundlePath, "--to", url, "--key", fx.keyPath, "--expires", "2h"], { encoding: "utf8" });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/published .* as `mesh` revision 1 .*expires/);
    const m = await get(`${url}/v1/bundles/mesh/manifest`);
    const v = verifyManifest(m.body, { trustedKeys: TrustedKeys.fromPems([fx.keyPem.publicPem]), name: "mesh" });
    expect(v.expiresAtMs - v.issuedAtMs).toBe(2 * 3600_000);
    const bad = spawnSync(process.execPath, [MAIN_JS, "publish", bundlePath, "--to", url, "--key", fx.keyPath, "--expires", "soon"], { encoding: "utf8" });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("AECP_USAGE");
    const denied = spawnSync(process.execPath, [MAIN_JS, "publish", bundlePath, "--to", "http://127.0.0.1:1", "--key", fx.keyPath], { encoding: "utf8" });
    expect(denied.status).toBe(1);
    expect(denied.stderr).toContain("AECP_DISTRIBUTION_UNAVAILABLE");
    child.kill("SIGTERM");
    const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
    expect(code).toBe(0);
    expect(parsePublicKeyPem(fx.keyPem.publicPem).keyId).toBe(v.keyId);
  });

  it("aecp distribution refuses an invalid configuration with exit 2", () => {
    const r = spawnSync(process.execPath, [MAIN_JS, "distribution", "--listen", "127.0.0.1:0"], { encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("AECP_CONFIG_INVALID");
  });
});

it("isAecpError is what the client throws", async () => {
  const e = await publishBundle({ url: "http://127.0.0.1:1", bundle: fx.v1, keys: [fx.key], lifetimeMs: 1000 }).catch((x: unknown) => x);
  expect(isAecpError(e, "AECP_DISTRIBUTION_UNAVAILABLE")).toBe(true);
});
