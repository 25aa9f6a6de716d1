// The decision log wired into the sidecar: every decision and every failure
// to decide reaches the sink as a record, secrets masked; a paused decision
// is recorded once settled (what was enforced); a dead sink changes nothing
// for decisions.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKeyPairPem, parsePrivateKeyPem } from "../src/bundle/index.js";
import { Sidecar, sidecarOptions, type DecisionRecord } from "../src/executive/index.js";
import { compile } from "../src/judicial/index.js";

let dir: string;
let bundlePath: string;
let pubPath: string;
let sink: Server;
let sinkUrl: string;
const received: DecisionRecord[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "aecp-dlog-"));
  const kp = generateKeyPairPem();
  pubPath = join(dir, "aecp.pub");
  writeFileSync(pubPath, kp.publicPem);
  const r = await compile(
    [
      {
        path: "p.policy",
        text: `POLICY no_delete { SCOPE: requests CONSTRAINT: request.method != "DELETE" ENFORCEMENT: BLOCKING }
POLICY approve_put { SCOPE: requests WHERE request.method == "PUT" ENFORCEMENT: REQUIRE_APPROVAL APPROVAL: { APPROVERS: "sre" QUORUM: 1 TIMEOUT: 5m } }`,
      },
    ],
    { name: "dlog", key: parsePrivateKeyPem(kp.privatePem) },
  );
  bundlePath = join(dir, "b.bundle");
  writeFileSync(bundlePath, r.bundle!);
  sink = createServer((rq, rs) => {
    let body = "";
    rq.on("data", (c) => (body += c));
    rq.on("end", () => {
      received.push(...(JSON.parse(body) as { records: DecisionRecord[] }).records);
      rs.writeHead(200).end();
    });
  });
  await new Promise<void>((res) => sink.listen(0, "127.0.0.1", () => res()));
  sinkUrl = `http://127.0.0.1:${(sink.address() as { port: number }).port}/v1/audit`;
});

afterAll(async () => {
  await new Promise<void>((res) => sink.close(() => res()));
  rmSync(dir, { recursive: true, force: true });
});

const checkRequest = (method: string, headers: Record<string, string> = {}) => ({
  attributes: { request: { http: { method, path: "/things/1", host: "svc", headers: { authorization: "Bearer top-secret", ...headers } } } },
});

describe("sidecar decision log", () => {
  it("ships a masked record for allow, deny, pause and a failure to decide, and stop() flushes", async () => {
    const s = new Sidecar(sidecarOptions({ bundle: bundlePath, pub: [pubPath], grpc: ["127.0.0.1:0"], http: "127.0.0.1:0", decisionLog: { sink: sinkUrl, flushIntervalMs: 50 } }));
    await s.start();
    const allow = s.decideCheckRequest(checkRequest("GET"));
    const deny = s.decideCheckRequest(checkRequest("DELETE"));
    const pause = await s.settle(s.decideCheckRequest(checkRequest("PUT")));
    const bad = s.decideCheckRequest({ attributes: { request: { http: { method: "GET", path: "/a/../../x", headers: {} } } } });
    await s.stop();
    const byId = new Map(received.map((r) => [r.decision_id, r]));
    expect(byId.get(allow.decisionId)).toMatchObject({ effect: "allow", violations: [] });
    expect(byId.get(deny.decisionId)).toMatchObject({ effect: "deny", violations: [{ policy: "no_delete", enforcement: "BLOCKING" }] });
    expect(byId.get(pause.decisionId)).toMatchObject({ effect: "pause", reason: "AECP_APPROVALS_UNAVAILABLE" });
    expect(byId.get(bad.decisionId)).toMatchObject({ effect: "deny", reason: "AECP_REQUEST_PATH_INVALID" });
    expect(received.filter((r) => r.decision_id === pause.decisionId)).toHaveLength(1); // once, after settling
    expect(JSON.stringify(received)).not.toContain("top-secret");
    expect(byId.get(allow.decisionId)!.attributes!.headers["authorization"]).toBe("***");
  });

  it("a dead sink never changes or blocks decisions; drops are counted, not buffered without bound", async () => {
    const s = new Sidecar(
      sidecarOptions({ bundle: bundlePath, pub: [pubPath], grpc: ["127.0.0.1:0"], http: "127.0.0.1:0", decisionLog: { sink: "http://127.0.0.1:1/x", maxQueue: 100, flushIntervalMs: 20 } }),
    );
    await s.start();
    for (let i = 0; i < 1000; i++) expect(s.decideCheckRequest(checkRequest(i % 2 ? "GET" : "DELETE")).allowed).toBe(i % 2 === 1);
    const st = s.status().decisionLog;
    expect(st.queued).toBeLessThanOrEqual(100);
    expect(st.dropped).toBeGreaterThanOrEqual(900);
    expect(s.metrics()).toContain("aecp_decision_log_dropped_total");
    await s.stop();
  });
});
