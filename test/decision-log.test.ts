// The decision log (src/executive/decision-log.ts) against a REAL HTTP sink:
// node:http on 127.0.0.1, ephemeral port (test/decision-log/sink.ts), the
// log's own undici pool. Covered: options validation; the record shape and
// secret masking as the sink receives it; batching; the memory bound (queue
// never above maxQueue, the oldest dropped and counted) with 100k records and
// the sink down; sink down then up (backlog shipped in order, counters);
// 5xx/408/429/timeouts retried with backoff, 4xx dropped; one request in
// flight at most; record() does no I/O and never throws; stop() flushes
// within its bound; a disabled log reads nothing.
//
// No wall-clock thresholds: where time matters the assertions are lower
// bounds that timers guarantee (a retry is never earlier than its backoff).

import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { afterEach, describe, expect, it } from "vitest";
import { isAecpError } from "../src/common/index.js";
import {
  ALWAYS_MASKED_HEADERS,
  ALWAYS_MASKED_QUERY,
  DECISION_LOG_DEFAULTS,
  DecisionLog,
  MASKED_VALUE,
  backoffDelayMs,
  buildDecisionRecord,
  decisionLogOptions,
  jsonBytesWithin,
  type DecisionLogOptions,
  type DecisionRecord,
} from "../src/executive/decision-log.js";
import { outcomeForDecision, outcomeForError } from "../src/executive/response.js";
import { BUNDLE, SECRETS, attributes, decision, idOf, logDecision } from "./decision-log/fixtures.js";
import { TestSink, sleep, waitFor } from "./decision-log/sink.js";

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

// Everything a test starts is stopped after it, even when it fails.
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function newLog(options: Partial<DecisionLogOptions>): DecisionLog {
  const log = new DecisionLog(options);
  cleanups.push(() => log.stop());
  return log;
}

async function newSink(kind: "up" | "down" = "up"): Promise<TestSink> {
  const sink = kind === "up" ? await TestSink.start() : await TestSink.down();
  cleanups.push(() => sink.down());
  return sink;
}

function configError(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    expect(isAecpError(e, "AECP_CONFIG_INVALID"), String(e)).toBe(true);
    return e as Error;
  }
  throw new Error("expected AECP_CONFIG_INVALID");
}

/** recorded = shipped + rejected + dropped + queued: no record is unaccounted for. */
function expectAccounted(log: DecisionLog, recorded: number): void {
  const s = log.status();
  expect(s.shipped + s.rejected + s.dropped + s.queued).toBe(recorded);
  expect(log.metrics()).toContain(`aecp_decision_log_records_total ${recorded}\n`);
}

function metric(log: DecisionLog, series: string): number {
  const line = log.metrics().split("\n").find((l) => l.startsWith(`${series} `));
  if (line === undefined) throw new Error(`no metric ${series}`);
  return Number(line.slice(series.length + 1));
}

// ---------------------------------------------------------------------------

describe("decisionLogOptions", () => {
  it("fills documented defaults, freezes, and is disabled without a sink", () => {
    const o = decisionLogOptions(undefined);
    expect(o).toEqual({
      sink: undefined,
      token: undefined,
      maxQueue: 10_000,
      maxBatch: 500,
      flushIntervalMs: 1000,
      maxBodyBytes: 4096,
      maskHeaders: ["authorization", "cookie", "set-cookie", "proxy-authorization", "x-api-key"],
      maskQuery: [...ALWAYS_MASKED_QUERY],
      requestTimeoutMs: 5000,
      backoffBaseMs: 250,
      backoffMaxMs: 30_000,
      stopTimeoutMs: 5000,
    });
    expect(Object.isFrozen(o)).toBe(true);
    expect(Object.isFrozen(o.maskHeaders)).toBe(true);
    expect(decisionLogOptions({})).toEqual(o);
    expect(DECISION_LOG_DEFAULTS.maxQueue).toBe(10_000);
  });

  it("accepts any http(s) sink, adds configured masked headers (lower-cased) to the fixed ones, clamps the default batch to the queue", () => {
    const o = decisionLogOptions({ sink: "https://audit.internal.example:8443/v1/decisions", token: "t0k.en-_~+/=", maskHeaders: ["X-Tenant-Key", "x-api-key"], maxQueue: 100 });
    expect(o.sink).toBe("https://audit.internal.example:8443/v1/decisions");
    expect(o.maskHeaders).toEqual([...ALWAYS_MASKED_HEADERS, "x-tenant-key"]);
    expect(o.maxBatch).toBe(100);
    expect(decisionLogOptions({ sink: "http://127.0.0.1:1/", maskHeaders: "x-one" }).maskHeaders).toContain("x-one");
  });

  it("rejects unknown keys and bad values with AECP_CONFIG_INVALID naming the key", () => {
    const cases: Array<[unknown, RegExp]> = [
      [[], /must be a map/],
      ["http://x", /must be a map/],
      [{ bogus: 1 }, /unknown decision log option `bogus`/],
      [{ sink: "" }, /`sink`/],
      [{ sink: 42 }, /`sink`/],
      [{ sink: "not a url" }, /`sink` is not a valid URL/],
      [{ sink: "ftp://127.0.0.1/x" }, /`sink` must use http or https, not `ftp`/],
      [{ sink: "http://127.0.0.1/x#frag" }, /fragment/],
      [{ token: "" }, /`token`/],
      [{ token: "a b" }, /`token`/],
      [{ token: "x\r\ninjected: 1" }, /`token`/],
      [{ maxQueue: 0 }, /`maxQueue` must be a whole number from 1 to 1000000/],
      [{ maxQueue: 1.5 }, /`maxQueue`/],
      [{ maxQueue: "10" }, /`maxQueue`/],
      [{ maxQueue: 10, maxBatch: 11 }, /`maxBatch` must be a whole number from 1 to 10/],
      [{ flushIntervalMs: 0 }, /`flushIntervalMs`/],
      [{ maxBodyBytes: -1 }, /`maxBodyBytes`/],
      [{ requestTimeoutMs: 0 }, /`requestTimeoutMs`/],
      [{ backoffBaseMs: 1000, backoffMaxMs: 10 }, /`backoffMaxMs` must be a whole number from 1000/],
      [{ stopTimeoutMs: -5 }, /`stopTimeoutMs`/],
      [{ maskHeaders: 5 }, /`maskHeaders`/],
      [{ maskHeaders: ["bad header"] }, /`maskHeaders`/],
      [{ maskHeaders: [""] }, /`maskHeaders`/],
    ];
    for (const [raw, message] of cases) expect(configError(() => decisionLogOptions(raw)).message, JSON.stringify(raw)).toMatch(message);
  });

  it("never echoes credentials from a rejected sink URL", () => {
    const err = configError(() => decisionLogOptions({ sink: "http://admin:hunter2@127.0.0.1/x" }));
    expect(err.message).toMatch(/must not carry credentials \(use `token`\)/);
    expect(err.message).not.toContain("hunter2");
  });

  it("DecisionLog validates raw options the same way", () => {
    configError(() => new DecisionLog({ maxQueue: -1 }));
    configError(() => new DecisionLog({ nope: true } as unknown as Partial<DecisionLogOptions>));
  });
});

describe("backoffDelayMs", () => {
  it("doubles from the base with equal jitter and never exceeds the cap", () => {
    const lo = (n: number): number => backoffDelayMs(n, 250, 30_000, () => 0);
    const hi = (n: number): number => backoffDelayMs(n, 250, 30_000, () => 0.999999);
    expect([1, 2, 3, 4].map(hi)).toEqual([250, 500, 1000, 2000]);
    expect([1, 2, 3, 4].map(lo)).toEqual([125, 250, 500, 1000]);
    expect(hi(8)).toBe(30_000);
    expect(lo(8)).toBe(15_000);
    expect(hi(10_000)).toBe(30_000);
    for (let n = 1; n < 50; n++) {
      const d = backoffDelayMs(n, 250, 30_000);
      expect(d).toBeGreaterThanOrEqual(Math.min(30_000, 250 * 2 ** (n - 1)) / 2);
      expect(d).toBeLessThanOrEqual(30_000);
    }
  });
});

describe("jsonBytesWithin (body snapshot budget)", () => {
  it("is the exact UTF-8 size of JSON.stringify within the budget", () => {
    const values: unknown[] = [
      null,
      true,
      false,
      0,
      -12.5e-7,
      "",
      'quote " backslash \\ newline \n tab \t bell \u0007',
      "ünïcödé € 😀",
      "lone \ud800 surrogate",
      [],
      {},
      [1, "two", { three: [null, false] }],
      { "kéy": { nested: ["a", { b: 1 }] }, empty: {}, list: [[], [[]]] },
    ];
    for (const v of values) expect(jsonBytesWithin(v, 10_000), JSON.stringify(v)).toBe(Buffer.byteLength(JSON.stringify(v), "utf8"));
    const v = { a: "x".repeat(100) };
    const exact = Buffer.byteLength(JSON.stringify(v));
    expect(jsonBytesWithin(v, exact)).toBe(exact);
    expect(jsonBytesWithin(v, exact - 1)).toBe(-1);
    expect(jsonBytesWithin(1n, 100)).toBe(-1);
  });

  it("stops at the budget: reads of a huge body are bounded by the budget, not the body", () => {
    let reads = 0;
    const huge = new Proxy(
      Array.from({ length: 1_000_000 }, (_, i) => ({ i })),
      {
        get(target, key, receiver) {
          reads++;
          return Reflect.get(target, key, receiver) as unknown;
        },
      },
    );
    expect(jsonBytesWithin(huge, 4096)).toBe(-1);
    expect(reads).toBeLessThan(10); // `length`, then over budget before any element
    const wide: Record<string, number> = {};
    for (let i = 0; i < 100_000; i++) wide[`k${i}`] = i;
    let visited = 0;
    const counting = new Proxy(wide, {
      get(target, key, receiver) {
        visited++;
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    expect(jsonBytesWithin(counting, 4096)).toBe(-1);
    expect(visited).toBeLessThan(4096);
  });

  it("handles nesting deeper than the call stack and cycles", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(jsonBytesWithin(deep, 1 << 20)).toBe(2 * 200_000 + 1);
    expect(jsonBytesWithin(deep, 4096)).toBe(-1);
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic["self"] = cyclic;
    expect(jsonBytesWithin(cyclic, 4096)).toBe(-1);
  });
});

describe("the record", () => {
  it("has the documented snake_case shape, with secrets masked", () => {
    const d = decision();
    const rec = buildDecisionRecord(outcomeForDecision(d, "d-1"), attributes(7), d, { maskHeaders: decisionLogOptions({ maskHeaders: ["x-tenant-key"] }).maskHeaders, maxBodyBytes: 4096 }, Date.UTC(2025, 0, 2, 3, 4, 5, 678));
    expect(rec).toEqual({
      decision_id: "d-1",
      time: "2025-01-02T03:04:05.678Z",
      effect: "deny",
      reason: "AECP_POLICY_VIOLATION",
      violations: [
        { policy: "no-pan-in-body", enforcement: "BLOCKING" },
        { policy: "eu-only", enforcement: "ADVISORY" },
      ],
      waived: [{ policy: "business-hours", enforcement: "BLOCKING" }],
      defaulted: false,
      bundle: { name: "payments", revision: 42, digest: BUNDLE.digest },
      eval_ns: 1834,
      attributes: {
        method: "POST",
        path: "/v1/payments",
        host: "api.example.com",
        scheme: "https",
        query: { dry_run: "true" },
        headers: {
          authorization: MASKED_VALUE,
          cookie: MASKED_VALUE,
          "set-cookie": MASKED_VALUE,
          "proxy-authorization": MASKED_VALUE,
          "x-api-key": MASKED_VALUE,
          "x-tenant-key": MASKED_VALUE,
          "content-type": "application/json",
          "x-request-id": "req-7",
        },
        source: { principal: "spiffe://cluster.local/ns/shop/sa/web", address: "10.0.0.7", port: 41234, namespace: "shop", service_account: "web", trust_domain: "cluster.local" },
        destination: { address: "10.0.0.9", port: 8080, labels: { app: "payments" } },
        context: { route: "payments" },
        body: { amount: 7, currency: "EUR" },
      },
    } satisfies DecisionRecord);
  });

  it("masks header names case-insensitively, and only the configured ones besides the fixed set", () => {
    const d = decision({ effect: "allow", violations: [] });
    const a = attributes(1, { headers: { Authorization: "Bearer x", "X-Tenant-Key": "visible-here", accept: "*/*" } });
    const rec = buildDecisionRecord(outcomeForDecision(d, "d-2"), a, d);
    expect(rec.attributes?.headers).toEqual({ Authorization: MASKED_VALUE, "X-Tenant-Key": "visible-here", accept: "*/*" });
    expect(rec.reason).toBeUndefined();
    expect(rec.effect).toBe("allow");
  });

  it("masks credential query parameters in query and in the :path / x-envoy-original-path headers; configured names add to the fixed set", () => {
    const d = decision({ effect: "allow", violations: [] });
    const a = attributes(1, {
      query: { access_token: "s3cr3t", Page: "2", tenant_key: "t-1" },
      headers: { ":path": "/orders?Page=2&access_token=s3cr3t&%74oken=x&tenant_key=t-1&flag", "x-envoy-original-path": "/o?sig=abc", accept: "*/*" },
    });
    const rec = buildDecisionRecord(outcomeForDecision(d, "d-q"), a, d);
    expect(rec.attributes?.query).toEqual({ access_token: MASKED_VALUE, Page: "2", tenant_key: "t-1" });
    expect(rec.attributes?.headers[":path"]).toBe(`/orders?Page=2&access_token=${MASKED_VALUE}&%74oken=${MASKED_VALUE}&tenant_key=t-1&flag`);
    expect(rec.attributes?.headers["x-envoy-original-path"]).toBe(`/o?sig=${MASKED_VALUE}`);
    expect(JSON.stringify(rec)).not.toContain("s3cr3t");
    const opts = decisionLogOptions({ maskQuery: ["Tenant_Key"] });
    expect(opts.maskQuery).toContain("tenant_key");
    const custom = buildDecisionRecord(outcomeForDecision(d, "d-q2"), a, d, { ...opts });
    expect(custom.attributes?.query["tenant_key"]).toBe(MASKED_VALUE);
    expect(custom.attributes?.headers[":path"]).toContain(`tenant_key=${MASKED_VALUE}`);
    expect(() => decisionLogOptions({ maskQuery: [""] })).toThrow(/`maskQuery`/);
  });

  it("logs a large body as {truncated, bytes}: size from the raw body, else content-length, else null; omits an absent body", () => {
    const d = decision();
    const o = outcomeForDecision(d, "d-3");
    const big = { items: Array.from({ length: 500 }, (_, i) => ({ sku: `sku-${i}`, qty: i })) };
    const raw = JSON.stringify(big);
    const opts = { maskHeaders: ALWAYS_MASKED_HEADERS, maxBodyBytes: 1024 };
    expect(buildDecisionRecord(o, attributes(1, { body: big, rawBody: raw }), d, opts).attributes?.body).toEqual({ truncated: true, bytes: Buffer.byteLength(raw) });
    expect(buildDecisionRecord(o, attributes(1, { body: big, rawBody: new TextEncoder().encode(raw) }), d, opts).attributes?.body).toEqual({ truncated: true, bytes: raw.length });
    const noRaw = attributes(1, { body: big, rawBody: undefined, headers: { "content-length": "31337" } });
    expect(buildDecisionRecord(o, noRaw, d, opts).attributes?.body).toEqual({ truncated: true, bytes: 31337 });
    expect(buildDecisionRecord(o, attributes(1, { body: big, rawBody: undefined, headers: {} }), d, opts).attributes?.body).toEqual({ truncated: true, bytes: null });
    expect(buildDecisionRecord(o, attributes(1, { body: { a: 1 } }), d, { ...opts, maxBodyBytes: 0 }).attributes?.body).toEqual({ truncated: true, bytes: expect.any(Number) as number });
    expect(buildDecisionRecord(o, attributes(1, { body: undefined }), d, opts).attributes).not.toHaveProperty("body");
  });

  it("logs a failure to decide with its reason, no bundle and no eval time; a fail-open as allow", () => {
    const closed = buildDecisionRecord(outcomeForError("AECP_NO_BUNDLE", 503, "e-1", { failOpen: false, failStatus: 403 }), attributes(1));
    expect(closed).toMatchObject({ decision_id: "e-1", effect: "deny", reason: "AECP_NO_BUNDLE", violations: [], waived: [], defaulted: false, bundle: null, eval_ns: null });
    expect(closed.time).toMatch(RFC3339);
    const malformed = buildDecisionRecord(outcomeForError("AECP_REQUEST_MALFORMED", 400, "e-2", { failOpen: false, failStatus: 403 }), undefined);
    expect(malformed.attributes).toBeNull();
    const open = buildDecisionRecord(outcomeForError("AECP_EVAL_FAILED", 403, "e-3", { failOpen: true, failStatus: 403 }), attributes(1));
    expect(open).toMatchObject({ effect: "allow", reason: "AECP_EVAL_FAILED" });
  });

  it("logs a paused decision as pause with the approvals reason", () => {
    const d = decision({ effect: "pause", violations: [{ policy: "large-refund", enforcement: "REQUIRE_APPROVAL" }], waived: [] });
    expect(buildDecisionRecord(outcomeForDecision(d, "p-1"), attributes(1), d)).toMatchObject({ effect: "pause", reason: "AECP_APPROVALS_UNAVAILABLE", violations: [{ policy: "large-refund", enforcement: "REQUIRE_APPROVAL" }] });
  });
});

describe("shipping to a real sink", () => {
  it("POSTs {records:[...]} in batches of maxBatch with the bearer token, masked, in order", async () => {
    const sink = await newSink();
    const log = newLog({ sink: sink.url, token: "sink-token-1", maxBatch: 3, flushIntervalMs: 60_000, maskHeaders: ["x-tenant-key"] });
    log.start();
    for (let i = 0; i < 7; i++) logDecision(log, i);
    await waitFor("two full batches", () => log.status().shipped === 6);
    await sleep(50);
    expect(sink.requests.length).toBe(2); // the 7th waits for the flush timer (60 s) or stop()
    expect(log.status()).toMatchObject({ state: "OK", queued: 1, shipped: 6, dropped: 0, rejected: 0, failedBatches: 0, lastError: null });
    await log.stop();
    expect(sink.requests.map((r) => r.records.length)).toEqual([3, 3, 1]);
    for (const r of sink.requests) {
      expect(r.method).toBe("POST");
      expect(r.path).toBe("/v1/decisions?tenant=t1");
      expect(r.headers["content-type"]).toBe("application/json");
      expect(r.headers["authorization"]).toBe("Bearer sink-token-1");
      expect(Object.keys(JSON.parse(r.raw) as object)).toEqual(["records"]);
      for (const secret of SECRETS) expect(r.raw).not.toContain(secret);
    }
    expect(sink.records.map((r) => r.decision_id)).toEqual([0, 1, 2, 3, 4, 5, 6].map(idOf));
    const first = sink.records[0]!;
    expect(first.time).toMatch(RFC3339);
    const d = decision();
    expect(first).toEqual({ ...buildDecisionRecord(outcomeForDecision(d, idOf(0)), attributes(0), d, log.options), time: first.time });
    expect(first.attributes?.headers["x-tenant-key"]).toBe(MASKED_VALUE);
    expect(log.status()).toMatchObject({ shipped: 7, queued: 0, dropped: 0 });
    expect(log.status().lastShippedAt).toMatch(RFC3339);
  });

  it("sends a partial batch when the flush interval passes", async () => {
    const sink = await newSink();
    const log = newLog({ sink: sink.url, maxBatch: 500, flushIntervalMs: 20 });
    log.start();
    logDecision(log, 1);
    logDecision(log, 2);
    await waitFor("the timer flush", () => sink.records.length === 2);
    expect(sink.requests.length).toBe(1);
    expect(sink.requests[0]!.headers["authorization"]).toBeUndefined();
  });

  it("bounds memory with 100k records and the sink down: queue <= maxQueue, the OLDEST dropped and counted", async () => {
    const sink = await newSink("down");
    const log = newLog({ sink: sink.url, maxQueue: 1000, maxBatch: 100, flushIntervalMs: 10 });
    for (let i = 0; i < 100_000; i++) {
      logDecision(log, i);
      if (i % 997 === 0) expect(log.status().queued).toBeLessThanOrEqual(1000);
    }
    expect(log.status()).toMatchObject({ queued: 1000, dropped: 99_000, shipped: 0 });
    expect(metric(log, 'aecp_decision_log_dropped_total{reason="overflow"}')).toBe(99_000);
    expect(metric(log, "aecp_decision_log_queued")).toBe(1000);
    expectAccounted(log, 100_000);
    await sink.up();
    log.start();
    await waitFor("backlog shipped", () => log.status().shipped === 1000);
    // the newest 1000 survived, in order
    expect(sink.accepted.map((r) => r.decision_id)).toEqual(Array.from({ length: 1000 }, (_, k) => idOf(99_000 + k)));
    expect(Math.max(...sink.requests.map((r) => r.records.length))).toBeLessThanOrEqual(100);
    expect(sink.maxOpen).toBe(1);
    expectAccounted(log, 100_000);
  });

  it("keeps the bound while running against a dead sink (in-flight batches count toward it)", async () => {
    const sink = await newSink("down");
    const log = newLog({ sink: sink.url, maxQueue: 500, maxBatch: 200, flushIntervalMs: 10, backoffBaseMs: 2, backoffMaxMs: 10 });
    log.start();
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 5000; i++) {
        logDecision(log, round * 5000 + i);
        expect(log.status().queued).toBeLessThanOrEqual(500);
      }
      await sleep(3); // let send attempts fail in between
    }
    await waitFor("a few failed attempts", () => log.status().failedBatches >= 3);
    const s = log.status();
    expect(s.state).toBe("ERROR");
    expect(s.queued).toBeLessThanOrEqual(500);
    expect(s.dropped).toBeGreaterThanOrEqual(100_000 - 500);
    expect(s.lastError).toMatchObject({ code: "AECP_DECISION_LOG_UNAVAILABLE", status: null });
    expect(s.lastError?.message).toMatch(/ECONNREFUSED/);
    expectAccounted(log, 100_000);
  });

  it("sink down then up: the backlog is shipped in order, exactly once, and the counters add up", async () => {
    const sink = await newSink("down");
    const log = newLog({ sink: sink.url, maxQueue: 10_000, maxBatch: 100, flushIntervalMs: 10, backoffBaseMs: 10, backoffMaxMs: 50 });
    log.start();
    for (let i = 0; i < 2500; i++) logDecision(log, i);
    await waitFor("failures while down", () => log.status().failedBatches >= 3);
    expect(log.status()).toMatchObject({ state: "ERROR", shipped: 0, dropped: 0, queued: 2500 });
    expect(metric(log, "aecp_decision_log_consecutive_failures")).toBeGreaterThanOrEqual(3);
    await sink.up();
    await waitFor("backlog shipped", () => log.status().shipped === 2500);
    const ids = sink.accepted.map((r) => r.decision_id);
    expect(ids).toEqual(Array.from({ length: 2500 }, (_, i) => idOf(i)));
    const s = log.status();
    expect(s).toMatchObject({ state: "OK", queued: 0, dropped: 0, rejected: 0 });
    expect(s.failedBatches).toBe(metric(log, 'aecp_decision_log_batches_total{result="failed"}'));
    expect(metric(log, 'aecp_decision_log_batches_total{result="shipped"}')).toBe(sink.requests.length);
    expect(metric(log, "aecp_decision_log_shipped_total")).toBe(2500);
    expect(metric(log, "aecp_decision_log_consecutive_failures")).toBe(0);
    expect(sink.maxOpen).toBe(1);
    expectAccounted(log, 2500);
  });

  it("retries a 500 with growing backoff, resending the same batch, then ships", async () => {
    const sink = await newSink();
    const log = newLog({ sink: sink.url, maxBatch: 5, flushIntervalMs: 60_000, backoffBaseMs: 40, backoffMaxMs: 1000 });
    const seen: Array<ReturnType<DecisionLog["status"]>> = [];
    sink.script = (n) => {
      seen.push(log.status());
      return n < 3 ? 500 : 200;
    };
    log.start();
    for (let i = 0; i < 5; i++) logDecision(log, i);
    await waitFor("shipped after retries", () => log.status().shipped === 5);
    expect(sink.requests.length).toBe(4);
    for (const r of sink.requests) expect(r.records.map((x) => x.decision_id)).toEqual([0, 1, 2, 3, 4].map(idOf));
    // while retrying: ERROR, the batch still held (in flight), each failure counted
    expect(seen.map((s) => [s.state, s.failedBatches, s.queued])).toEqual([
      ["OK", 0, 5],
      ["ERROR", 1, 5],
      ["ERROR", 2, 5],
      ["ERROR", 3, 5],
    ]);
    expect(seen[1]!.lastError).toMatchObject({ code: "AECP_DECISION_LOG_UNAVAILABLE", status: 500 });
    // a retry never comes before its backoff's lower bound: base * 2^(k-1) / 2
    const at = sink.requests.map((r) => r.at);
    for (let k = 1; k <= 3; k++) expect(at[k]! - at[k - 1]!).toBeGreaterThanOrEqual((40 * 2 ** (k - 1)) / 2 - 5);
    expect(log.status()).toMatchObject({ state: "OK", shipped: 5, failedBatches: 3, rejected: 0, dropped: 0, queued: 0 });
  });

  it("retries 408 and 429 (honouring retry-after up to backoffMaxMs) and network timeouts", async () => {
    const sink = await newSink();
    const log = newLog({ sink: sink.url, maxBatch: 2, flushIntervalMs: 60_000, backoffBaseMs: 1, backoffMaxMs: 150, requestTimeoutMs: 100 });
    sink.script = (n) => [{ status: 408 }, { status: 429, headers: { "retry-after": "1" } }, { status: 200, hang: true }][n] ?? { status: 200 };
    log.start();
    logDecision(log, 0);
    logDecision(log, 1);
    await waitFor("shipped", () => log.status().shipped === 2);
    expect(sink.requests.length).toBe(4);
    const at = sink.requests.map((r) => r.at);
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(150 - 5); // retry-after 1 s, capped at backoffMaxMs
    expect(log.status()).toMatchObject({ failedBatches: 3, rejected: 0, dropped: 0, shipped: 2 });
    expect(sink.accepted.map((r) => r.decision_id)).toEqual([idOf(0), idOf(1)]);
  });

  it("reports a timeout as the last error", async () => {
    const sink = await newSink();
    const log = newLog({ sink: sink.url, maxBatch: 1, flushIntervalMs: 60_000, backoffBaseMs: 10_000, backoffMaxMs: 10_000, requestTimeoutMs: 50 });
    sink.script = () => ({ status: 200, hang: true });
    log.start();
    logDecision(log, 0);
    await waitFor("a failed attempt", () => log.status().failedBatches === 1);
    expect(log.status()).toMatchObject({ state: "ERROR", queued: 1, shipped: 0 });
    expect(log.status().lastError?.message).toMatch(/no answer within 50 ms/);
  });

  it("drops a batch the sink refuses (4xx, 3xx) without retrying, counts it as rejected, and goes on", async () => {
    const sink = await newSink();
    const log = newLog({ sink: sink.url, maxBatch: 5, flushIntervalMs: 60_000 });
    const seen: Array<ReturnType<DecisionLog["status"]>> = [];
    sink.script = (n) => {
      seen.push(log.status());
      return [400, 302][n] ?? 200;
    };
    log.start();
    for (let i = 0; i < 5; i++) logDecision(log, i);
    await waitFor("first answered", () => log.status().rejected === 5);
    for (let i = 5; i < 10; i++) logDecision(log, i);
    await waitFor("second answered", () => log.status().rejected === 10);
    for (let i = 10; i < 15; i++) logDecision(log, i);
    await waitFor("third shipped", () => log.status().shipped === 5);
    await sleep(50);
    expect(sink.requests.length).toBe(3); // nothing was retried
    expect(sink.accepted.map((r) => r.decision_id)).toEqual([10, 11, 12, 13, 14].map(idOf));
    expect(seen[1]!.state).toBe("WARN"); // after a rejection
    expect(seen[1]!.lastError).toMatchObject({ code: "AECP_DECISION_LOG_REJECTED", status: 400 });
    expect(log.status()).toMatchObject({ state: "OK", rejected: 10, shipped: 5, failedBatches: 0, dropped: 0, queued: 0 });
    expect(metric(log, 'aecp_decision_log_batches_total{result="rejected"}')).toBe(2);
    expect(metric(log, "aecp_decision_log_rejected_total")).toBe(10);
    expectAccounted(log, 15);
  });
});

describe("the hot path", () => {
  it("record() does no I/O and returns nothing; 100k records ship with never more than one request open", async () => {
    const sink = await newSink();
    sink.script = () => ({ status: 200, delayMs: 5 });
    const log = newLog({ sink: sink.url, maxQueue: 200_000, maxBatch: 5000, flushIntervalMs: 20 });
    let created = 0;
    const onCreate = (): void => {
      created++;
    };
    subscribe("undici:request:create", onCreate);
    cleanups.push(async () => {
      unsubscribe("undici:request:create", onCreate);
    });
    log.start();
    const d = decision();
    const a = attributes(0);
    let returned = 0;
    for (let i = 0; i < 100_000; i++) if (log.record(outcomeForDecision(d, idOf(i)), a, d) !== undefined) returned++;
    expect(returned).toBe(0); // never a promise: nothing to await
    expect(created).toBe(0); // no request was even created inside record()
    expect(log.status().queued).toBe(100_000);
    await waitFor("all shipped", () => log.status().shipped === 100_000, 30_000);
    expect(sink.maxOpen).toBe(1);
    expect(created).toBe(sink.requests.length);
    expect(sink.requests.every((r) => r.records.length <= 5000)).toBe(true);
    const ids = sink.records.map((r) => r.decision_id);
    expect(new Set(ids).size).toBe(100_000);
    expect(ids[0]).toBe(idOf(0));
    expect(ids[99_999]).toBe(idOf(99_999));
    expectAccounted(log, 100_000);
  });

  it("never throws on hostile input; what cannot be logged is counted as dropped{invalid}", async () => {
    const sink = await newSink();
    const log = newLog({ sink: sink.url, maxBatch: 100, flushIntervalMs: 10 });
    log.start();
    const d = decision();
    const o = outcomeForDecision(d, "ok-1");
    const throwing = new Proxy({} as never, {
      get() {
        throw new Error("boom");
      },
    });
    const cyclic: Record<string, unknown> = {};
    cyclic["self"] = cyclic;
    const unlistable = new Proxy({} as Record<string, string>, {
      ownKeys() {
        throw new Error("no keys");
      },
    });
    expect(() => {
      log.record(throwing, attributes(1), d); // fails at record(): counted at once
      log.record(o, throwing, d);
      log.record(o, attributes(2, { body: cyclic }), d); // logged, body truncated
      log.record(o, attributes(3, { body: { n: 10n } }), d); // logged, body truncated
      log.record(o, attributes(4, { headers: unlistable }), d); // fails when the batch is built
      log.record(o, attributes(5), d);
    }).not.toThrow();
    await waitFor("shipped", () => log.status().shipped === 3);
    expect(sink.records.map((r) => r.attributes?.body)).toEqual([{ truncated: true, bytes: expect.any(Number) as number }, { truncated: true, bytes: expect.any(Number) as number }, { amount: 5, currency: "EUR" }]);
    expect(metric(log, 'aecp_decision_log_dropped_total{reason="invalid"}')).toBe(3);
    expectAccounted(log, 6);
  });
});

describe("lifecycle", () => {
  it("stop() flushes what is queued; later records are counted, not kept; no restart", async () => {
    const sink = await newSink();
    const log = newLog({ sink: sink.url, maxBatch: 4, flushIntervalMs: 60_000 });
    log.start();
    expect(log.status().state).toBe("OK");
    for (let i = 0; i < 10; i++) logDecision(log, i); // 2 full batches + 2 waiting for the timer
    const stopped = log.stop();
    expect(log.stop()).toBe(stopped);
    await stopped;
    expect(sink.records.map((r) => r.decision_id)).toEqual(Array.from({ length: 10 }, (_, i) => idOf(i)));
    expect(log.status()).toMatchObject({ state: "WARN", shipped: 10, queued: 0, dropped: 0 });
    logDecision(log, 10);
    expect(log.status()).toMatchObject({ queued: 0, dropped: 1 });
    expect(metric(log, 'aecp_decision_log_dropped_total{reason="shutdown"}')).toBe(1);
    expect(() => log.start()).toThrow(/cannot be restarted/);
    expectAccounted(log, 11);
  });

  it("stop() is bounded by stopTimeoutMs when the sink never answers; the rest is dropped{shutdown}", async () => {
    const sink = await newSink();
    sink.script = () => ({ status: 200, hang: true });
    const log = newLog({ sink: sink.url, maxBatch: 5, flushIntervalMs: 60_000, requestTimeoutMs: 600_000, stopTimeoutMs: 200 });
    log.start();
    for (let i = 0; i < 12; i++) logDecision(log, i);
    await waitFor("a request hanging", () => sink.requests.length === 1);
    const t0 = performance.now();
    await log.stop();
    expect(performance.now() - t0).toBeLessThan(60_000); // the stop budget ended it, not the 10-minute request timeout
    expect(log.status()).toMatchObject({ shipped: 0, queued: 0, dropped: 12 });
    expect(metric(log, 'aecp_decision_log_dropped_total{reason="shutdown"}')).toBe(12);
    expect(log.status().lastError?.message).toMatch(/aborted at shutdown/);
    expect(sink.requests.length).toBe(1); // a failed request ends the flush
  });

  it("stop() gives up after one failure when the sink is down", async () => {
    const sink = await newSink("down");
    const log = newLog({ sink: sink.url, maxBatch: 100, flushIntervalMs: 60_000, stopTimeoutMs: 60_000 });
    log.start();
    for (let i = 0; i < 50; i++) logDecision(log, i);
    await log.stop();
    expect(log.status()).toMatchObject({ shipped: 0, queued: 0, dropped: 50, failedBatches: 1 });
  });

  it("a log without a sink is DISABLED: record() reads nothing, keeps nothing, sends nothing", async () => {
    const log = newLog({});
    expect(log.enabled).toBe(false);
    let touched = 0;
    const spy = <T extends object>(target: T): T =>
      new Proxy(target, {
        get(t, k, r) {
          touched++;
          return Reflect.get(t, k, r) as unknown;
        },
        has(t, k) {
          touched++;
          return Reflect.has(t, k);
        },
        ownKeys(t) {
          touched++;
          return Reflect.ownKeys(t);
        },
      });
    const d = spy(decision());
    const o = spy(outcomeForDecision(decision(), "x"));
    const a = spy(attributes(1));
    log.start();
    for (let i = 0; i < 100_000; i++) log.record(o, a, d);
    expect(touched).toBe(0);
    expect(log.status()).toEqual({ state: "DISABLED", queued: 0, shipped: 0, dropped: 0, rejected: 0, failedBatches: 0, lastError: null, lastShippedAt: null });
    expect(metric(log, "aecp_decision_log_enabled")).toBe(0);
    expect(metric(log, "aecp_decision_log_records_total")).toBe(0);
    await log.stop();
    expect(log.status().state).toBe("DISABLED");
  });

  it("exposes well-formed Prometheus text, every series named aecp_decision_log_*", () => {
    const log = newLog({ sink: "http://127.0.0.1:9/" });
    const lines = log.metrics().trimEnd().split("\n");
    const names = new Set<string>();
    for (const line of lines) {
      if (line.startsWith("# ")) {
        expect(line).toMatch(/^# (HELP|TYPE) aecp_decision_log_[a-z_]+ \S/);
        continue;
      }
      expect(line).toMatch(/^aecp_decision_log_[a-z_]+(\{[a-z]+="[a-z]+"\})? \d+(\.\d+)?$/);
      names.add(line.split(/[ {]/)[0]!);
    }
    for (const n of names) expect(lines).toContain(`# TYPE ${n} ${n.endsWith("_total") ? "counter" : "gauge"}`);
    expect(names).toEqual(
      new Set([
        "aecp_decision_log_enabled",
        "aecp_decision_log_records_total",
        "aecp_decision_log_shipped_total",
        "aecp_decision_log_dropped_total",
        "aecp_decision_log_rejected_total",
        "aecp_decision_log_batches_total",
        "aecp_decision_log_queued",
        "aecp_decision_log_queue_capacity",
        "aecp_decision_log_consecutive_failures",
        "aecp_decision_log_last_shipped_timestamp_seconds",
      ]),
    );
    expect(log.status().state).toBe("WARN"); // not started
  });
});
