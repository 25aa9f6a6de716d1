// OpenTelemetry: with an OTLP endpoint configured, every Check is a SERVER
// span joined to the caller's trace (Envoy forwards `traceparent` in the
// CheckRequest headers), and decision/latency/bundle metrics are exported.
// The collector here is a real OTLP/HTTP (JSON) receiver on loopback.
// Also: the always-on Prometheus histograms and per-policy counters.

import { rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Sidecar, sidecarOptions } from "../src/executive/index.js";
import { authClient, noPostBundle, type AuthClient } from "./helpers/sidecar-fixture.js";

let dir: string;
let bundlePath: string;
let pubPath: string;
let collector: Server;
let collectorUrl: string;
const received: Array<{ path: string; type: string; body: unknown }> = [];

beforeAll(async () => {
  ({ dir, bundlePath, pubPath } = await noPostBundle("aecp-otel-", "otel"));
  collector = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // kept as text: the assertion on content-type says what went wrong
      }
      received.push({ path: req.url ?? "", type: String(req.headers["content-type"]), body });
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise<void>((r) => collector.listen(0, "127.0.0.1", r));
  const a = collector.address() as { port: number };
  collectorUrl = `http://127.0.0.1:${a.port}`;
});

afterAll(async () => {
  await new Promise<void>((r) => collector.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

function check(client: AuthClient, method: string, headers: Record<string, string>): Promise<number | undefined> {
  const req = { attributes: { request: { http: { method, path: "/orders", host: "shop.local", headers } } } };
  return new Promise((resolve, reject) =>
    client.Check(req, { deadline: Date.now() + 10_000 }, (e, r) => (e ? reject(e) : resolve(r?.status?.code ?? 0))),
  );
}

interface OtlpSpan {
  traceId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
}

const attr = (s: OtlpSpan, key: string): unknown => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v === undefined ? undefined : (v["stringValue"] ?? v["intValue"] ?? v["arrayValue"]);
};

describe("OpenTelemetry export", () => {
  it("exports a span per Check joined to the caller's trace, and decision metrics", async () => {
    const s = new Sidecar(
      sidecarOptions({ bundle: bundlePath, pub: [pubPath], grpc: ["127.0.0.1:0"], http: "127.0.0.1:0", telemetry: { otlpEndpoint: collectorUrl, serviceName: "aecp-test" } }),
    );
    await s.start();
    const client = authClient(s.status().listening.grpc[0]!);
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const parent = "00f067aa0ba902b7";
    expect(await check(client, "POST", { traceparent: `00-${traceId}-${parent}-01` })).toBe(7);
    expect(await check(client, "GET", {})).toBe(0);
    client.close();
    await s.stop(); // flushes

    const traces = received.filter((r) => r.path === "/v1/traces");
    expect(traces.length).toBeGreaterThan(0);
    expect(traces[0]!.type).toContain("application/json");
    const spans = traces.flatMap(
      (t) => (t.body as { resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }> }).resourceSpans.flatMap((r) => r.scopeSpans.flatMap((x) => x.spans)),
    );
    expect(spans).toHaveLength(2);
    const denied = spans.find((x) => attr(x, "aecp.effect") === "deny")!;
    expect(denied.name).toBe("envoy.service.auth.v3.Authorization/Check");
    expect(denied.kind).toBe(2); // SERVER
    expect(denied.traceId).toBe(traceId); // joined to the caller's trace
    expect(denied.parentSpanId).toBe(parent);
    expect(attr(denied, "http.request.method")).toBe("POST");
    expect(attr(denied, "aecp.bundle.name")).toBe("otel");
    expect(JSON.stringify(attr(denied, "aecp.policies"))).toContain("no_post");
    const root = spans.find((x) => attr(x, "aecp.effect") === "allow")!;
    expect(root.traceId).not.toBe(traceId); // no traceparent: a new trace
    expect(root.parentSpanId ?? "").toBe("");

    const metrics = JSON.stringify(received.filter((r) => r.path === "/v1/metrics").map((r) => r.body));
    for (const name of ["aecp.decisions", "aecp.policy.violations", "aecp.eval.duration", "aecp.check.duration", "aecp.bundle.revision", "aecp.bundle.age"]) {
      expect(metrics).toContain(`"${name}"`);
    }
    expect(metrics).toContain('"aecp-test"');
  });
});

describe("Prometheus /metrics", () => {
  it("has latency histograms by transport, violations by policy, and bundle gauges", async () => {
    const s = new Sidecar(sidecarOptions({ bundle: bundlePath, pub: [pubPath], grpc: ["127.0.0.1:0"], http: "127.0.0.1:0" }));
    await s.start();
    try {
      const client = authClient(s.status().listening.grpc[0]!);
      await check(client, "POST", {});
      await check(client, "GET", {});
      client.close();
      const http = `http://${s.status().listening.http}`;
      const authz = await request(`${http}/authz/orders`, { method: "POST" });
      await authz.body.dump();
      expect(authz.statusCode).toBe(403);
      const text = await (await request(`${http}/metrics`)).body.text();
      expect(text).toContain('aecp_policy_violations_total{policy="no_post",enforcement="BLOCKING"} 2');
      expect(text).toContain('aecp_check_duration_seconds_count{transport="grpc"} 2');
      expect(text).toContain('aecp_check_duration_seconds_count{transport="http"} 1');
      expect(text).toMatch(/aecp_check_duration_seconds_bucket\{transport="grpc",le="\+Inf"\} 2/);
      expect(text).toContain("aecp_eval_duration_seconds_count 3");
      expect(text).toContain("aecp_bundle_revision -1");
      expect(text).toMatch(/aecp_bundle_age_seconds \d+\.\d{3}/);
      // one HELP/TYPE per metric family
      expect(text.match(/# TYPE aecp_check_duration_seconds histogram/g)).toHaveLength(1);
    } finally {
      await s.stop();
    }
  });
});
