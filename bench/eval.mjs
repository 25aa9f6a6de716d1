// npm run bench:eval — evaluation latency and loaded-bundle memory for
// bundles of 10, 1,000 and 10,000 policies (bench/generate.mjs).
//
// Per bundle, RUNS runs (median reported) of per-call latency with the
// timer-pair overhead subtracted:
//   wasm        the module's aecp_eval alone (slots already in memory)
//   host        slot extraction from RequestAttributes (adapter-built) + aecp_eval + decision object
//   checkreq    Envoy CheckRequest JSON → attributes → host evaluation (the sidecar's work)
//   interpreter baseline: the reference interpreter on the same slot values
// Ratios: each bundle against the 10-policy bundle (target ≤ 2x at 10,000)
// and WebAssembly host path against the interpreter baseline.
// Targets (issue 2): wasm p99 ≤ 1 µs, extraction + evaluation p99 ≤ 5 µs,
// loaded-bundle memory ≤ 8 MB for 10,000 policies.
// Run with `node --expose-gc` (the npm script does) for the memory figures.

import { compile, interpret } from "../dist/judicial/index.js";
import { LoadedBundle, TrustedKeys, generateKeyPairPem, parsePrivateKeyPem, parsePublicKeyPem } from "../dist/bundle/index.js";
import { attributesFromCheckRequestJson } from "../dist/executive/index.js";
import { generatePolicies, sampleAttributes } from "./generate.mjs";
import { fmtNs, latency, median, table, timerOverheadNs } from "./stats.mjs";

const SIZES = (process.env.AECP_BENCH_SIZES ?? "10,1000,10000").split(",").map(Number);
const RUNS = Number(process.env.AECP_BENCH_RUNS ?? 5);
const ITER = Number(process.env.AECP_BENCH_ITER ?? 50000);

const kp = generateKeyPairPem();
const key = parsePrivateKeyPem(kp.privatePem);
const trustedKeys = new TrustedKeys([parsePublicKeyPem(kp.publicPem)]);

function checkRequestFor(i) {
  const a = sampleAttributes(i);
  return {
    attributes: {
      source: { principal: a.source.principal },
      destination: { principal: a.destination.principal },
      request: { http: { method: a.method, path: a.path, host: a.host, scheme: "https", headers: { ...a.headers, "content-type": "application/json" }, body: JSON.stringify(a.body) } },
    },
  };
}

function gc() {
  if (globalThis.gc) {
    globalThis.gc();
    globalThis.gc();
  }
}

function memoryNow() {
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed + m.external };
}

const overhead = timerOverheadNs();
const results = [];
for (const n of SIZES) {
  const r = await compile(generatePolicies(n), { name: `bench-${n}`, key });
  if (!r.ok) throw new Error(`bench bundle ${n} does not compile`);
  const before = memoryNow();
  const bundle = LoadedBundle.load(r.bundle, { trustedKeys });
  const after = memoryNow();
  const wasmMemory = bundle.staticMemoryBytes;
  const hit = Math.min(5, n - 1);
  const req = checkRequestFor(hit);
  // Attributes as the sidecar has them: built by the CheckRequest adapter
  // (one object shape for every request, as in production).
  const attrs = attributesFromCheckRequestJson(req);
  const waivers = [];
  const values = bundle.slotValues(attrs);
  const ref = interpret(r.program, values, new Set());
  const dec = bundle.evaluate(attrs, waivers);
  if (dec.effect !== ref.effect) throw new Error("wasm and interpreter disagree in the benchmark");
  const runs = { wasm: [], wasmRaw: [], host: [], checkreq: [], interp: [] };
  for (let k = 0; k < RUNS; k++) {
    bundle.evaluate(attrs, waivers); // slots in memory for the in-place runs
    runs.wasm.push(latency(() => bundle.evaluateInPlace(), { iterations: ITER * 4, overhead, batch: 32 }));
    runs.wasmRaw.push(latency(() => bundle.evaluateInPlace(), { iterations: ITER, overhead: 0 }));
    runs.host.push(latency(() => bundle.evaluate(attrs, waivers), { iterations: ITER, overhead }));
    runs.checkreq.push(latency(() => bundle.evaluate(attributesFromCheckRequestJson(req), waivers), { iterations: ITER, overhead }));
    runs.interp.push(latency(() => interpret(r.program, bundle.slotValues(attrs), new Set()), { iterations: Math.max(200, Math.floor(ITER / (1 + n / 200))), overhead }));
  }
  const med = (xs, f) => median(xs.map((x) => x[f]));
  results.push({
    n,
    effect: dec.effect,
    wasm: { p50: med(runs.wasm, "p50"), p99: med(runs.wasm, "p99"), rawP99: med(runs.wasmRaw, "p99") },
    host: { p50: med(runs.host, "p50"), p99: med(runs.host, "p99") },
    checkreq: { p50: med(runs.checkreq, "p50"), p99: med(runs.checkreq, "p99") },
    interp: { p50: med(runs.interp, "p50"), p99: med(runs.interp, "p99") },
    memHeap: after.heap - before.heap,
    wasmMemory,
    moduleBytes: r.stats.moduleBytes,
  });
}

const base = results[0];
console.log(`\nAECP evaluation benchmark — ${RUNS} runs × ${ITER} calls, medians; timer overhead ${Math.round(overhead)} ns subtracted\n`);
console.log(
  table(
    ["policies", "wasm p50*", "wasm p99*", "wasm p99 raw", "host p50", "host p99", "CheckRequest p99", "interp p99", "host p99 vs 10", "interp/host p50"],
    results.map((x) => [
      x.n,
      fmtNs(x.wasm.p50),
      fmtNs(x.wasm.p99),
      fmtNs(x.wasm.rawP99),
      fmtNs(x.host.p50),
      fmtNs(x.host.p99),
      fmtNs(x.checkreq.p99),
      fmtNs(x.interp.p99),
      `${(x.host.p99 / base.host.p99).toFixed(2)}x`,
      `${(x.interp.p50 / x.host.p50).toFixed(1)}x`,
    ]),
  ),
);
console.log("* per-call means of 32-call batches (a single call is shorter than the timer); raw = single calls timed including the ~50 ns timer cost, an upper bound\n");
console.log(
  table(
    ["policies", "module bytes", "wasm memory", "JS heap+external Δ"],
    results.map((x) => [x.n, x.moduleBytes, `${(x.wasmMemory / 1048576).toFixed(2)} MB`, `${(x.memHeap / 1048576).toFixed(2)} MB`]),
  ),
);
const big = results[results.length - 1];
const rssLoad = await freshProcessRss(big.n);
const targets = [
  ["wasm evaluation p99 (single call, upper bound)", fmtNs(big.wasm.rawP99), "≤ 1 µs", big.wasm.rawP99 <= 1000],
  ["extraction + evaluation p99", fmtNs(big.host.p99), "≤ 5 µs", big.host.p99 <= 5000],
  [`${big.n} vs ${base.n} policies (host p99)`, `${(big.host.p99 / base.host.p99).toFixed(2)}x`, "≤ 2x", big.host.p99 / base.host.p99 <= 2],
  ["loaded-bundle memory (JS heap + wasm memory)", `${((big.memHeap + big.wasmMemory) / 1048576).toFixed(2)} MB`, "≤ 8 MB", big.memHeap + big.wasmMemory <= 8 * 1048576],
  ["loaded-bundle RSS in a fresh process (incl. machine code)", `${(rssLoad / 1048576).toFixed(2)} MB`, "(reported)", true],
];
console.log(`\ntargets at ${big.n} policies\n`);
console.log(table(["target", "measured", "budget", "ok"], targets.map((t) => [t[0], t[1], t[2], t[3] ? "yes" : "NO"])));

/** RSS growth from loading the bundle and evaluating one request 10,000 times, in a fresh child process. */
async function freshProcessRss(n) {
  const { mkdtempSync, writeFileSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { execFileSync } = await import("node:child_process");
  const r = await compile(generatePolicies(n), { name: `bench-${n}`, key });
  const dir = mkdtempSync(join(tmpdir(), "aecp-bench-"));
  try {
    writeFileSync(join(dir, "b.bundle"), r.bundle);
    writeFileSync(join(dir, "k.pub"), kp.publicPem);
    const script = `
      import { readFileSync } from "node:fs";
      const { LoadedBundle, TrustedKeys } = await import(${JSON.stringify(new URL("../dist/bundle/index.js", import.meta.url).href)});
      const { sampleAttributes } = await import(${JSON.stringify(new URL("./generate.mjs", import.meta.url).href)});
      const bytes = new Uint8Array(readFileSync(${JSON.stringify(join(dir, "b.bundle"))}));
      const keys = TrustedKeys.fromPems([readFileSync(${JSON.stringify(join(dir, "k.pub"))}, "utf8")]);
      globalThis.gc(); const before = process.memoryUsage().rss;
      const b = LoadedBundle.load(bytes, { trustedKeys: keys });
      const a = sampleAttributes(5);
      for (let i = 0; i < 10000; i++) b.evaluate(a);
      globalThis.gc(); const after = process.memoryUsage().rss;
      process.stdout.write(String(after - before));`;
    return Number(execFileSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], { encoding: "utf8" }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
