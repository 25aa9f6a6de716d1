// OpenTelemetry from the approvals service: with `telemetry.otlpEndpoint`
// set, each HTTP request is a SERVER span joined to the caller's trace
// (traceparent), exported over OTLP/HTTP to a local collector.

import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, expect, it } from "vitest";
import { call, pauseRequest, startApp, TOKENS } from "./approvals-helpers.js";

let collector: Server;
let collectorUrl = "";
const received: Array<{ path: string; body: unknown }> = [];

beforeAll(async () => {
  collector = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        body = undefined; // protobuf or empty: not what this test looks for
      }
      received.push({ path: req.url ?? "", body });
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((r) => collector.listen(0, "127.0.0.1", r));
  collectorUrl = `http://127.0.0.1:${(collector.address() as { port: number }).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => collector.close(() => r()));
});

interface OtlpSpan {
  traceId: string;
  parentSpanId?: string;
  name: string;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
}

it("exports a span per request, joined to the caller's trace, with route, status and execution id", async () => {
  const s = await startApp({ telemetry: { otlpEndpoint: collectorUrl, metricIntervalMs: 1000 } });
  const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
  const parent = "00f067aa0ba902b7";
  let id = "";
  try {
    const r = await call("POST", `${s.url}/v1/executions`, { token: TOKENS.service, body: pauseRequest("otel"), headers: { traceparent: `00-${traceId}-${parent}-01` } });
    expect(r.status).toBe(201);
    id = r.json.id;
    await call("GET", `${s.url}/v1/executions/${id}`, { token: TOKENS.service, headers: { traceparent: `00-${traceId}-${parent}-01` } });
  } finally {
    await s.stop(); // shutdown flushes the exporters
  }
  const spans = received
    .filter((x) => x.path === "/v1/traces" && x.body)
    .flatMap((x) => (x.body as { resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }> }).resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)));
  const attr = (sp: OtlpSpan, k: string) => {
    const v = sp.attributes.find((a) => a.key === k)?.value;
    return v?.["stringValue"] ?? v?.["intValue"];
  };
  const create = spans.find((sp) => sp.name === "approvals executions")!;
  expect(create).toBeDefined();
  expect(create.traceId).toBe(traceId);
  expect(create.parentSpanId).toBe(parent);
  expect(String(attr(create, "http.response.status_code"))).toBe("201");
  const get = spans.find((sp) => sp.name === "approvals get")!;
  expect(attr(get, "aecp.execution_id")).toBe(id);
  expect(received.some((x) => x.path === "/v1/metrics")).toBe(true);
});
