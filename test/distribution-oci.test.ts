// OCI registry storage against a REAL registry: Debian's docker-registry (the
// CNCF Distribution registry, /usr/bin/docker-registry), started here on
// 127.0.0.1 with a temp config (filesystem storage in a temp dir). Covered:
// the artifact layout (artifactType, media types, tag per revision), two
// stateless distribution replicas over one repository (a publish through one
// wakes a watcher on the other), a watching Sidecar, and a registry restart
// (publishes fail with AECP_REGISTRY_ERROR and /readyz turns 503 while it is
// down; sidecars keep their bundle; everything resumes after).
//
// Without the binary the suite is skipped with a printed reason, except on
// CI (CI=true), where that is a failure (.ci/run installs docker-registry).

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "./helpers/net.js";
import { Sidecar, sidecarOptions } from "../src/executive/index.js";
import {
  DistributionServer,
  OCI_ARTIFACT_TYPE,
  OCI_BUNDLE_MEDIA_TYPE,
  OCI_MANIFEST_CONFIG_MEDIA_TYPE,
  OciStorage,
  blobDigestOf,
  distributionServerOptions,
  publishBundle,
  watcherForSidecar,
  type BundleWatcher,
} from "../src/distribution/index.js";
import { bundleDigest, makeFixtures, until, type Fixtures } from "./distribution/fixtures.js";

const REGISTRY = "/usr/bin/docker-registry";
const HAVE_REGISTRY = existsSync(REGISTRY);
const ON_CI = process.env["CI"] === "true";

if (!HAVE_REGISTRY) {
  if (ON_CI) {
    describe("OCI storage on a real registry", () => {
      it(`needs ${REGISTRY} (CI=true: a missing registry fails instead of skipping; .ci/run installs docker-registry)`, () => {
        expect.fail(`${REGISTRY} not found`);
      });
    });
  } else {
    console.warn(`distribution-oci: skipped, ${REGISTRY} not found (apt-get install docker-registry)`);
  }
}


/** One registry process on a fixed root dir and port (restartable). */
class Registry {
  private child: ChildProcess | undefined;
  log = "";
  constructor(
    readonly dir: string,
    readonly port: number,
  ) {
    writeFileSync(
      join(dir, "config.yml"),
      [
        "version: 0.1",
        "log:",
        "  level: error",
        "  accesslog:",
        "    disabled: true",
        "storage:",
        "  filesystem:",
        `    rootdirectory: ${join(dir, "root")}`,
        "http:",
        `  addr: 127.0.0.1:${port}`,
        "  secret: aecp-test-secret",
        "",
      ].join("\n"),
    );
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn(REGISTRY, ["serve", join(this.dir, "config.yml")], { stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    child.stdout!.on("data", (c: Buffer) => (this.log += c.toString()));
    child.stderr!.on("data", (c: Buffer) => (this.log += c.toString()));
    await until(
      async () => {
        if (child.exitCode !== null) throw new Error(`docker-registry exited: ${this.log}`);
        try {
          const r = await request(`${this.url}/v2/`);
          await r.body.dump();
          return r.statusCode === 200;
        } catch {
          return false;
        }
      },
      "the registry to answer /v2/",
      20_000,
    );
  }

  async stop(): Promise<void> {
    const c = this.child;
    this.child = undefined;
    if (!c || c.exitCode !== null) return;
    c.kill("SIGTERM");
    await new Promise((resolve) => c.once("exit", resolve));
  }
}

describe.skipIf(!HAVE_REGISTRY)("OCI storage on a real registry (docker-registry)", () => {
  let fx: Fixtures;
  let dir: string;
  let registry: Registry;
  const cleanups: Array<() => Promise<unknown>> = [];
  let repo: string;

  async function replica(): Promise<DistributionServer> {
    const s = new DistributionServer(distributionServerOptions({ oci: repo, listen: "127.0.0.1:0", pollIntervalMs: 200, wakeSpreadMaxMs: 10 }));
    await s.start();
    cleanups.push(() => s.stop());
    return s;
  }

  beforeAll(async () => {
    fx = await makeFixtures();
    dir = mkdtempSync(join(tmpdir(), "aecp-registry-"));
    registry = new Registry(dir, await freePort());
    await registry.start();
    repo = `${registry.url}/aecp/bundles`;
  });

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await registry?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (fx) rmSync(fx.dir, { recursive: true, force: true });
  });

  it("stores each revision as an OCI artifact: artifactType, config = signed manifest, layer = bundle, tag <name>.r<revision>", async () => {
    const a = await replica();
    const r = await publishBundle({ url: a.url, bundle: fx.v1, keys: [fx.key], lifetimeMs: 3_600_000 });
    expect(r.revision).toBe(1);
    const res = await request(`${registry.url}/v2/aecp/bundles/manifests/mesh.r1`, { headers: { accept: "application/vnd.oci.image.manifest.v1+json" } });
    const doc = (await res.body.json()) as {
      mediaType: string;
      artifactType: string;
      config: { mediaType: string; digest: string };
      layers: Array<{ mediaType: string; digest: string; size: number }>;
      annotations: Record<string, string>;
    };
    expect(doc).toMatchObject({
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      artifactType: OCI_ARTIFACT_TYPE,
      config: { mediaType: OCI_MANIFEST_CONFIG_MEDIA_TYPE },
      layers: [{ mediaType: OCI_BUNDLE_MEDIA_TYPE, digest: blobDigestOf(fx.v1), size: fx.v1.length }],
      annotations: { "io.aecp.bundle.name": "mesh", "io.aecp.bundle.revision": "1" },
    });
    const blob = await request(`${registry.url}/v2/aecp/bundles/blobs/${blobDigestOf(fx.v1)}`);
    expect(Buffer.from(await blob.body.arrayBuffer()).equals(Buffer.from(fx.v1))).toBe(true);
    // the storage reads it back; a second write of the revision is refused
    const storage = new OciStorage({ url: repo, maxBlobBytes: 1 << 20 });
    cleanups.push(() => storage.close());
    expect(await storage.names()).toEqual(["mesh"]);
    expect(await storage.revisions("mesh")).toEqual([1]);
    const m = await storage.latest("mesh");
    expect(m?.revision).toBe(1);
    await expect(storage.putManifest(m!)).rejects.toMatchObject({ code: "AECP_MANIFEST_ROLLBACK" });
  });

  it("registry token auth: a 401 Bearer challenge is answered from the realm with Basic credentials", async () => {
    // an auth proxy in front of the real registry, as hosted registries do it
    const seen = { tokenRequests: 0, basic: "" };
    const proxy = createHttpServer((req, res) => {
      const self = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
      if (req.url?.startsWith("/token")) {
        seen.tokenRequests++;
        seen.basic = req.headers["authorization"] ?? "";
        const ok = seen.basic === `Basic ${Buffer.from("ci:pa55").toString("base64")}`;
        res.writeHead(ok ? 200 : 401, { "content-type": "application/json" });
        return void res.end(ok ? JSON.stringify({ token: "tok-123" }) : "{}");
      }
      if (req.headers["authorization"] !== "Bearer tok-123") {
        res.writeHead(401, { "www-authenticate": `Bearer realm="${self}/token",service="test-registry",scope="repository:aecp/auth:pull,push"` });
        return void res.end();
      }
      // no pooled keep-alive sockets (agent: false), and every error handled: the
      // registry is stopped by a later test, and a reset socket must not surface
      // as an uncaught exception in this process
      const up = httpRequest(`${registry.url}${req.url}`, { agent: false, method: req.method, headers: { ...req.headers, host: `127.0.0.1:${registry.port}` } }, (r) => {
        const headers = { ...r.headers };
        if (typeof headers.location === "string") headers.location = headers.location.replace(registry.url, self);
        res.writeHead(r.statusCode ?? 502, headers);
        r.on("error", () => res.destroy());
        r.pipe(res);
      });
      up.on("error", () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
      req.on("error", () => up.destroy());
      req.pipe(up);
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", () => resolve()));
    cleanups.push(() => new Promise((resolve) => proxy.close(resolve)));
    const url = `http://127.0.0.1:${(proxy.address() as { port: number }).port}/aecp/auth`;
    const anonymous = new OciStorage({ url, maxBlobBytes: 1 << 20 });
    await expect(anonymous.check()).rejects.toMatchObject({ code: "AECP_REGISTRY_ERROR" });
    await anonymous.close();
    const s = new DistributionServer(distributionServerOptions({ oci: url, ociUsername: "ci", ociPassword: "pa55", listen: "127.0.0.1:0" }));
    await s.start();
    cleanups.push(() => s.stop());
    expect((await publishBundle({ url: s.url, bundle: fx.v2, keys: [fx.key], lifetimeMs: 3_600_000 })).revision).toBe(1);
    expect(seen.tokenRequests).toBeGreaterThan(0);
    expect(seen.basic).toBe(`Basic ${Buffer.from("ci:pa55").toString("base64")}`);
    const direct = await request(`${registry.url}/v2/aecp/auth/tags/list`);
    expect(((await direct.body.json()) as { tags: string[] }).tags).toEqual(["mesh.r1"]);
  });

  it("two stateless replicas over one repository: a publish through A reaches a sidecar watching B", async () => {
    const a = await replica();
    const b = await replica();
    const sidecar = new Sidecar(sidecarOptions({ distribution: b.url, name: "mesh", pub: [fx.pubPath], grpc: ["127.0.0.1:0"], http: "127.0.0.1:0" }));
    await sidecar.start();
    const watcher: BundleWatcher = watcherForSidecar(sidecar, { waitS: 5, backoffMinMs: 20, backoffMaxMs: 300, minPollIntervalMs: 0 });
    watcher.start();
    cleanups.push(async () => {
      await watcher.stop();
      await sidecar.stop();
    });
    await until(() => sidecar.active?.revision === 1, "revision 1 (published before B started) active via B");
    const r2 = await publishBundle({ url: a.url, bundle: fx.v2, keys: [fx.key], lifetimeMs: 3_600_000 });
    expect(r2.revision).toBe(2);
    await until(() => sidecar.active?.revision === 2, "revision 2 published through A, active via B");
    expect(sidecar.active?.digest).toBe(bundleDigest(fx.v2));
    // B refuses a stale revision too: it reads the registry, not only its memory
    await expect(publishBundle({ url: b.url, bundle: fx.v3, keys: [fx.key], lifetimeMs: 3_600_000 })).resolves.toMatchObject({ revision: 3 });
    await until(() => sidecar.active?.revision === 3, "revision 3 active");

    // registry restart: while it is down, publishes fail with a registry error and
    // readiness drops, but the sidecar keeps its bundle; afterwards everything resumes
    await registry.stop();
    const down = await publishBundle({ url: a.url, bundle: fx.v1, keys: [fx.key], lifetimeMs: 3_600_000 }).catch((e: unknown) => e);
    expect(down).toMatchObject({ code: "AECP_REGISTRY_ERROR" });
    await until(async () => (await request(`${a.url}/readyz`)).statusCode === 503, "A not ready while the registry is down", 10_000);
    expect(sidecar.active?.revision).toBe(3);
    expect(sidecar.ready).toBe(true);
    await registry.start();
    await until(async () => (await request(`${a.url}/readyz`)).statusCode === 200, "A ready again", 10_000);
    const r4 = await publishBundle({ url: a.url, bundle: fx.v1, keys: [fx.key], lifetimeMs: 3_600_000 });
    expect(r4.revision).toBe(4);
    await until(() => sidecar.active?.revision === 4, "revision 4 after the registry restart");
    expect(watcher.status().rejection).toBeNull();

    // a replica that never re-reads the registry on its own still publishes the right next revision
    const stale = new DistributionServer(distributionServerOptions({ oci: repo, listen: "127.0.0.1:0", pollIntervalMs: 0 }));
    await stale.start();
    cleanups.push(() => stale.stop());
    await publishBundle({ url: a.url, bundle: fx.v2, keys: [fx.key], lifetimeMs: 3_600_000 }); // r5 through A
    expect((await publishBundle({ url: stale.url, bundle: fx.v3, keys: [fx.key], lifetimeMs: 3_600_000 })).revision).toBe(6);
    await until(() => sidecar.active?.revision === 6, "revision 6 (published through the stale replica)");
  });
});
