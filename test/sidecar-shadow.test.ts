// Shadow evaluation (`--shadow-bundle`): a candidate bundle decides beside the
// active one; differences are recorded and never change a response.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { emptyRequestAttributes, generateKeyPairPem, LoadedBundle, parsePrivateKeyPem, TrustedKeys, type RequestAttributes } from "../src/bundle/index.js";
import { ShadowEvaluator, Sidecar, sidecarOptions } from "../src/executive/index.js";
import { compile } from "../src/judicial/index.js";

let dir: string;
let pubPath: string;
let publicPem: string;
let noPost: Uint8Array;
let noGet: Uint8Array;
const running: Sidecar[] = [];

async function build(name: string, text: string, privatePem: string): Promise<Uint8Array> {
  const r = await compile([{ path: "p.policy", text }], { name, key: parsePrivateKeyPem(privatePem) });
  expect(r.ok).toBe(true);
  return r.bundle!;
}

function req(method: string, path = "/orders"): RequestAttributes {
  const a = emptyRequestAttributes();
  a.method = method;
  a.path = path;
  return a;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "aecp-shadow-"));
  const kp = generateKeyPairPem();
  publicPem = kp.publicPem;
  pubPath = join(dir, "aecp.pub");
  writeFileSync(pubPath, kp.publicPem);
  noPost = await build("active", 'POLICY no_post { SCOPE: requests CONSTRAINT: request.method != "POST" ENFORCEMENT: BLOCKING }', kp.privatePem);
  noGet = await build("candidate", 'POLICY no_get { SCOPE: requests CONSTRAINT: request.method != "GET" ENFORCEMENT: BLOCKING }', kp.privatePem);
  writeFileSync(join(dir, "active.bundle"), noPost);
  writeFileSync(join(dir, "candidate.bundle"), noGet);
});

afterAll(async () => {
  for (const s of running) await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function start(shadowBundle: string): Promise<Sidecar> {
  const s = new Sidecar(sidecarOptions({ bundle: join(dir, "active.bundle"), shadowBundle, pub: [pubPath], grpc: ["127.0.0.1:0"], http: "127.0.0.1:0" }));
  running.push(s);
  await s.start();
  return s;
}

describe("shadow bundle", () => {
  it("records where the candidate decides differently, and never changes the response", async () => {
    const s = await start(join(dir, "candidate.bundle"));
    const get = s.decide(req("GET"));
    const post = s.decide(req("POST"));
    const put = s.decide(req("PUT"));
    // responses are the active bundle's alone
    expect(get.allowed).toBe(true);
    expect(post.allowed).toBe(false);
    expect(put.allowed).toBe(true);
    s.shadowEvaluator!.flush();
    const st = s.status().shadow!;
    expect(st.bundle.name).toBe("candidate");
    expect(st).toMatchObject({ evaluated: 3, agreed: 1, differed: 2, dropped: 0, failed: 0 });
    expect(st.byTransition).toEqual({ "allow→deny": 1, "deny→allow": 1 });
    expect(st.recent.map((d) => [d.decisionId, d.method, d.active.effect, d.shadow.effect, d.shadow.violations])).toEqual([
      [get.decisionId, "GET", "allow", "deny", ["no_get"]],
      [post.decisionId, "POST", "deny", "allow", []],
    ]);
    const http = `http://${s.status().listening.http}`;
    const res = await request(`${http}/shadow`);
    expect(res.statusCode).toBe(200);
    expect(((await res.body.json()) as { differed: number }).differed).toBe(2);
    const metrics = await (await request(`${http}/metrics`)).body.text();
    expect(metrics).toContain('aecp_shadow_differences_total{active="allow",shadow="deny"} 1');
    expect(metrics).toContain('aecp_shadow_evaluations_total{result="agreed"} 1');
  });

  it("evaluates off the request path: queued until the event loop turns", async () => {
    const s = await start(join(dir, "candidate.bundle"));
    s.decide(req("GET"));
    expect(s.status().shadow!.queued).toBe(1);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(s.status().shadow!).toMatchObject({ queued: 0, evaluated: 1, differed: 1 });
  });

  it("a bad candidate never stops the sidecar: the shadow component reports why", async () => {
    const bad = Buffer.from(noGet);
    bad[bad.length - 50]! ^= 0xff;
    writeFileSync(join(dir, "bad.bundle"), bad);
    const s = await start(join(dir, "bad.bundle"));
    expect(s.ready).toBe(true);
    expect(s.status().shadow).toBeNull();
    expect(s.status().degraded).toBe(true);
    expect(s.status().components["shadow"]).toMatchObject({ state: "error" });
    expect(s.status().components["shadow"]!.code).toMatch(/^AECP_BUNDLE_/);
    expect(s.decide(req("POST")).allowed).toBe(false);
    const missing = await start(join(dir, "missing.bundle"));
    expect(missing.status().components["shadow"]).toMatchObject({ state: "error", code: "AECP_IO" });
  });

  it("drops, and counts, what does not fit in the bounded queue", () => {
    const b = LoadedBundle.load(noGet, { trustedKeys: TrustedKeys.fromPems([publicPem]) });
    const active = b.evaluate(req("GET"));
    const sh = new ShadowEvaluator(b, { maxQueue: 2, keepDifferences: 1, batch: 1 });
    for (let i = 0; i < 5; i++) sh.offer(req("GET"), `d${i}`, active);
    expect(sh.status()).toMatchObject({ queued: 2, dropped: 3 });
    sh.flush();
    expect(sh.status()).toMatchObject({ queued: 0, evaluated: 2, agreed: 2, differed: 0 });
  });
});
