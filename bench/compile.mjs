// npm run bench:compile — in-process compile time (after start-up and a
// warm-up compile) for bundles of 10 … 10,000 policies (bench/generate.mjs),
// median of RUNS runs, with per-stage medians. Baselines: the 10-policy
// compile measured in the same run (how cost scales) and the seed design's
// published figure (1,000 rules in 2.9 s; a claim, printed for comparison).
// Targets (issue 2): 1,000 policies ≤ 150 ms, 10,000 ≤ 1.5 s.

import { compile, STAGES } from "../dist/judicial/index.js";
import { generateKeyPairPem, parsePrivateKeyPem } from "../dist/bundle/index.js";
import { generatePolicies } from "./generate.mjs";
import { median, table } from "./stats.mjs";

const SIZES = (process.env.AECP_BENCH_SIZES ?? "10,100,1000,10000").split(",").map(Number);
const RUNS = Number(process.env.AECP_BENCH_RUNS ?? 5);
const key = parsePrivateKeyPem(generateKeyPairPem().privatePem);
const SEED_MS_PER_1000 = 2900;

await compile(generatePolicies(100), { name: "warmup", key }); // loads jco, JITs the compiler

const rows = [];
for (const n of SIZES) {
  const sources = generatePolicies(n);
  const totals = [];
  const stages = Object.fromEntries(STAGES.map((s) => [s, []]));
  let bytes = 0;
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    const res = await compile(sources, { name: `bench-${n}`, key });
    totals.push(performance.now() - t0);
    if (!res.ok) throw new Error(`bench bundle ${n} does not compile`);
    for (const t of res.timings) stages[t.stage].push(t.ms);
    bytes = res.bundle.length;
  }
  rows.push({ n, total: median(totals), stages: Object.fromEntries(STAGES.map((s) => [s, median(stages[s])])), bytes });
}

const base = rows[0];
console.log(`\nAECP compile benchmark — median of ${RUNS} runs per size, in-process after warm-up\n`);
console.log(
  table(
    ["policies", "total", ...STAGES, "policies/s", "bundle bytes", "per-policy vs 10", "vs seed 2.9 s/1000"],
    rows.map((r) => [
      r.n,
      `${r.total.toFixed(1)} ms`,
      ...STAGES.map((s) => r.stages[s].toFixed(1)),
      Math.round((r.n / r.total) * 1000),
      r.bytes,
      `${(r.total / r.n / (base.total / base.n)).toFixed(2)}x`,
      `${((SEED_MS_PER_1000 * r.n) / 1000 / r.total).toFixed(1)}x faster`,
    ]),
  ),
);
const at = (n) => rows.find((r) => r.n === n);
const targets = [
  [1000, 150],
  [10000, 1500],
]
  .filter(([n]) => at(n))
  .map(([n, ms]) => [`compile ${n} policies`, `${at(n).total.toFixed(1)} ms`, `≤ ${ms} ms`, at(n).total <= ms ? "yes" : "NO"]);
if (targets.length) console.log("\n" + table(["target", "measured", "budget", "ok"], targets));
