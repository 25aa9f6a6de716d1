// Fuzz and property tests for the policy compiler (helpers in test/fuzz/).
//
// 1. Robustness: random characters/bytes, token soup, clause skeletons and
//    mutations of valid files never make `frontEnd` (or `compile`) throw, and
//    every diagnostic satisfies the invariants in test/fuzz/invariants.ts.
// 2. Differential: random well-typed programs and random slot values give the
//    same decision from the generator's own model, the reference interpreter,
//    the WebAssembly fast path (`evaluateSlots`) and the component-model
//    export (canonical ABI, in-module string interning).
// 3. A focused glob differential (the wasm matcher backtracks two levels;
//    the interpreter has its own matcher; the model is a memoized recursion).
//
// Deterministic by default (fixed seeds, bounded iteration counts).
// FUZZ_SEED=<n> explores other seeds, FUZZ_SCALE=<k> multiplies the counts,

import { readdirSync, readFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { compile, frontEnd, type SourceInput } from "../src/judicial/compile.js";
import { interpret } from "../src/judicial/interpreter.js";
import { globMatch, validateGlob } from "../src/legislative/glob.js";
import type { SlotValue } from "../src/bundle/resolve.js";
import { emptyRequestAttributes } from "../src/bundle/attributes.js";
import { Rng, baseSeed, scale } from "./fuzz/prng.js";
import { diagnosticProblems, preview } from "./fuzz/invariants.js";
import { MUTATIONS, mutate, randomBytes, randomChars, skeletonSoup, tokenSoup } from "./fuzz/mutate.js";
import { EXCEPTIONS, genProgram, modelDecide, modelGlob, pathLike, randomGlob, randomSlotValue, type MValue, type SlotKey } from "./fuzz/gen.js";
import { Failures, build, showValues, slotIndex } from "./fuzz/harness.js";
import { CmEvaluator } from "./fuzz/cm.js";

const SEEDS_DIR = fileURLToPath(new URL("../policies/seed-examples/", import.meta.url));
const GOLDEN_PARSE_DIR = fileURLToPath(new URL("./golden/parse/", import.meta.url));

function readPolicies(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".policy"))
    .sort()
    .map((f) => readFileSync(dir + f, "utf8"));
}

/** Valid files to mutate: the seed examples, the parse goldens and a few generated programs. */
function corpus(): string[] {
  const seeds = readPolicies(SEEDS_DIR);
  const rng = new Rng(7);
  return [seeds.join("\n"), ...seeds, ...readPolicies(GOLDEN_PARSE_DIR), ...Array.from({ length: 8 }, () => genProgram(rng, 4).text)];
}

/** Run the front end on one input; returns a failure message or undefined. */
function robust(text: string, path = "fuzz.policy"): string | undefined {
  const sources: SourceInput[] = [{ path, text: text }];
  let diags;
  try {
    diags = frontEnd(sources).diagnostics;
  } catch (e) {
    return `frontEnd threw ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\ninput: ${preview(sources[0]!.text)}`;
  }
  const problems = diagnosticProblems(diags, sources);
  if (problems.length > 0) return `${problems.slice(0, 5).join("\n")}\ninput: ${preview(sources[0]!.text)}`;
  return undefined;
}

async function robustCompile(text: string): Promise<string | undefined> {
  const sources: SourceInput[] = [{ path: "fuzz.policy", text: text }];
  try {
    const r = await compile(sources, { name: "fuzz" });
    const problems = diagnosticProblems(r.diagnostics, sources);
    if (problems.length > 0) return `${problems.slice(0, 5).join("\n")}\ninput: ${preview(sources[0]!.text)}`;
    const fe = frontEnd(sources);
    if (r.ok !== fe.ok && r.diagnostics.some((d) => d.severity === "error")) return `compile ok=${r.ok} but frontEnd ok=${fe.ok}\ninput: ${preview(sources[0]!.text)}`;
  } catch (e) {
    return `compile threw ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\ninput: ${preview(sources[0]!.text)}`;
  }
  return undefined;
}

/** Run `n` cases of a generator; every `compileEvery`-th input also goes through compile (no key). */
async function fuzzFrontEnd(name: string, defaultSeed: number, n: number, gen: (rng: Rng) => string, compileEvery = 0): Promise<number> {
  const base = baseSeed(defaultSeed);
  const root = new Rng(base);
  const failures = new Failures(name, base);
  for (let i = 0; i < n; i++) {
    const rng = root.fork();
    const text = gen(rng);
    const f = robust(text);
    if (f) failures.add(rng.seed, f);
    else if (compileEvery > 0 && i % compileEvery === 0) {
      const g = await robustCompile(text);
      if (g) failures.add(rng.seed, g);
    }
  }
  failures.check();
  return n;
}

describe("fuzz: front-end robustness", () => {
  it("random characters and bytes", async () => {
    await fuzzFrontEnd("random characters", 0x1001, scale(1500), (rng) => randomChars(rng, 300));
    await fuzzFrontEnd("random bytes", 0x1002, scale(400), (rng) => randomBytes(rng, 400));
  });

  it("token soup from the language's vocabulary", async () => {
    await fuzzFrontEnd("token soup", 0x2001, scale(2000), (rng) => tokenSoup(rng, 80), 25);
  });

  it("clause skeletons with random holes", async () => {
    await fuzzFrontEnd("skeleton soup", 0x2002, scale(1500), (rng) => skeletonSoup(rng), 10);
  });

  it("mutations of valid policy files", async () => {
    const files = corpus();
    expect(files.length).toBeGreaterThan(3);
    await fuzzFrontEnd(
      "mutations",
      0x3001,
      scale(2500),
      (rng) => {
        let text = rng.pick(files);
        for (let k = rng.int(1, 4); k > 0; k--) text = mutate(rng, text, rng.pick(MUTATIONS), rng.pick(files));
        return text;
      },
      15,
    );
  });

  it("pathological inputs: deep nesting, long identifiers and strings, many errors, many files", async () => {
    const cases: string[] = [
      "(".repeat(10_000),
      ")".repeat(10_000),
      "{".repeat(10_000),
      `POLICY p { SCOPE: requests CONSTRAINT: ${"(".repeat(10_000)} ENFORCEMENT: BLOCKING }`,
      `POLICY p { SCOPE: requests CONSTRAINT: ${"(".repeat(10_000)}request.method == "GET"${")".repeat(10_000)} ENFORCEMENT: BLOCKING }`,
      `POLICY p { SCOPE: requests CONSTRAINT: ${"NOT ".repeat(10_000)}request.method == "GET" ENFORCEMENT: BLOCKING }`,
      `POLICY p { SCOPE: requests CONSTRAINT: ${"{ ".repeat(5000)}request.method == "GET"${" }".repeat(5000)} ENFORCEMENT: BLOCKING }`,
      `POLICY p { APPROVAL: ${"{ ".repeat(5000)} }`,
      `POLICY ${"x".repeat(100_000)} { SCOPE: requests ENFORCEMENT: BLOCKING }`,
      `POLICY p { SCOPE: requests CONSTRAINT: ${"a".repeat(100_000)} == "x" ENFORCEMENT: BLOCKING }`,
      `POLICY p { DESCRIPTION: "${"d".repeat(70_000)}" SCOPE: requests ENFORCEMENT: BLOCKING }`,
      `POLICY p { SCOPE: requests CONSTRAINT: request.method IN [${Array.from({ length: 5000 }, (_, i) => `"m${i}"`).join(",")}] ENFORCEMENT: BLOCKING }`,
      `POLICY p { SCOPE: requests CONSTRAINT: ${Array.from({ length: 2000 }, (_, i) => `request.headers["h${i}"] == "v"`).join(" OR ")} ENFORCEMENT: BLOCKING }`,
      "9".repeat(400),
      `POLICY p { SCOPE: requests CONSTRAINT: source.port == ${"9".repeat(400)} ENFORCEMENT: BLOCKING }`,
      Array.from({ length: 300 }, (_, i) => `POLICY p${i % 7} { SCOPE: x${i} CONSTRAINT: y${i} == 1 ENFORCEMENT: NOPE }`).join("\n"),
      "@".repeat(50_000),
      "@ ".repeat(5_000),
      '"'.repeat(10_001),
      "\\".repeat(1000),
      "#".repeat(1000),
      "POLICY",
      "POLICY p",
      "POLICY p {",
      "ATTRIBUTE",
      "ATTRIBUTE a =",
      "DEFAULT",
      "DEFAULT:",
      "",
      "\ufeff",
      "\ufeffPOLICY p { SCOPE: requests ENFORCEMENT: BLOCKING }",
      "POLICY p { SCOPE: requests ENFORCEMENT: BLOCKING }\r\nPOLICY q {\r\n SCOPE: requests\r\n ENFORCEMENT: NOPE\r\n}\r\n",
      "POLICY p {\rSCOPE: requests\rENFORCEMENT: NOPE }",
      "POLICY \u{1f600} { SCOPE: requests ENFORCEMENT: \u{1f600} }",
      "POLICY p { SCOPE: requests CONSTRAINT: request.path == \"\ud800\" ENFORCEMENT: BLOCKING }",
    ];
    const failures = new Failures("pathological inputs", 0);
    for (const [i, text] of cases.entries()) {
      const f = robust(text);
      if (f) failures.add(i, f);
      else {
        const g = await robustCompile(text);
        if (g) failures.add(i, g);
      }
    }
    // many files at once: every diagnostic names a file it came from
    const rng = new Rng(baseSeed(0x4001));
    const files: SourceInput[] = Array.from({ length: 40 }, (_, i) => ({ path: `dir/f${String(i).padStart(2, "0")}.policy`, text: skeletonSoup(rng) }));
    let diags;
    try {
      diags = frontEnd(files).diagnostics;
      const problems = diagnosticProblems(diags, files);
      if (problems.length > 0) failures.add(-1, problems.slice(0, 5).join("\n"));
    } catch (e) {
      failures.add(-1, `frontEnd threw on 40 files: ${String(e)}`);
    }
    failures.check();
  });

  it("the error cap: at most 100 errors plus one E999, in any mix of files", () => {
    const text = Array.from({ length: 150 }, (_, i) => `POLICY p${i} { SCOPE: requests CONSTRAINT: nope${i} == "x" ENFORCEMENT: BLOCKING }`).join("\n");
    const sources = [
      { path: "a.policy", text },
      { path: "b.policy", text: "@ ".repeat(200) },
    ];
    const d = frontEnd(sources).diagnostics;
    expect(diagnosticProblems(d, sources)).toEqual([]);
    expect(d.filter((x) => x.severity === "error").length).toBe(101);
    expect(d.filter((x) => x.code === "E999").length).toBe(1);
  });
});

// --- differential -------------------------------------------------------------------

interface Outcome {
  effect: string;
  violated: string[];
  waived: string[];
  defaulted: boolean;
}

const show = (o: Outcome): string => JSON.stringify(o);
const same = (a: Outcome, b: Outcome): boolean => show(a) === show(b);

describe("fuzz: differential (model vs interpreter vs WebAssembly)", () => {
  it("random well-typed programs and slot values", async () => {
    const base = baseSeed(0x5001);
    const root = new Rng(base);
    const failures = new Failures("differential", base, 3);
    const programs = scale(350);
    const inputsPerProgram = 30;
    let pairs = 0;
    const stats = { deny: 0, allow: 0, pause: 0, defaulted: 0, waived: 0, violated: 0 };
    for (let pi = 0; pi < programs; pi++) {
      const rng = root.fork();
      const gen = genProgram(rng, rng.chance(0.2) ? 12 : 6);
      let built;
      try {
        built = await build([{ path: "gen.policy", text: gen.text }]);
      } catch (e) {
        failures.add(rng.seed, `generated program did not compile: ${String(e)}\n--- program ---\n${gen.text}`);
        continue;
      }
      const { program, bundle } = built;
      const cm = new CmEvaluator(built.component, bundle.exceptions);
      const idx = slotIndex(program);
      const names = program.policies.map((p) => p.name);
      // the bundle's slot table is the checker's
      expect(bundle.slots.map((s) => [s.type, s.source])).toEqual(program.slots.map((s) => [s.type, s.source]));
      // warnings: W501 policies must never be in scope
      const neverInScope = new Set(built.diagnostics.filter((d) => d.code === "W501").map((d) => /policy `([^`]+)`/.exec(d.message)?.[1]));
      for (let k = 0; k < inputsPerProgram; k++) {
        const values: SlotValue[] = [];
        for (const s of program.slots) values.push(randomSlotValue(rng, s.type, gen.strings, values));
        const waivers = rng.subset([...EXCEPTIONS, "not_an_exception"], 0.3);
        pairs++;
        const get = (key: SlotKey): MValue => {
          const i = idx.get(key);
          if (i === undefined) throw new Error(`model refers to slot ${key}, which the checker did not create (slots: ${[...idx.keys()].join(", ")})`);
          return values[i];
        };
        let model: Outcome;
        let interp: Outcome;
        let wasm: Outcome;
        let viaCm: Outcome;
        try {
          model = modelDecide(gen, get, new Set(waivers));
          const r = interpret(program, values, new Set(waivers));
          interp = { effect: r.effect, violated: r.violated.map((i) => names[i]!), waived: r.waived.map((i) => names[i]!), defaulted: r.defaulted };
          const d = bundle.evaluateSlots(values, waivers);
          wasm = { effect: d.effect, violated: d.violations.map((v) => v.policy), waived: d.waived.map((v) => v.policy), defaulted: d.defaulted };
          const c = cm.run(values, waivers);
          viaCm = { effect: c.effect, violated: c.violated.map((i) => names[i] ?? `#${i}`), waived: c.waived.map((i) => names[i] ?? `#${i}`), defaulted: c.defaulted };
        } catch (e) {
          failures.add(rng.seed, `threw: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\nvalues: ${showValues(values)}\n--- program ---\n${gen.text}`);
          continue;
        }
        const never = wasm.violated.concat(wasm.waived).filter((n) => neverInScope.has(n));
        if (!same(model, interp) || !same(interp, wasm) || !same(wasm, viaCm) || never.length > 0) {
          failures.add(
            rng.seed,
            [
              `model:       ${show(model)}`,
              `interpreter: ${show(interp)}`,
              `wasm:        ${show(wasm)}`,
              `component:   ${show(viaCm)}`,
              never.length > 0 ? `W501 said ${never.join(", ")} can never match` : "",
              `slots:  ${program.slots.map((s) => `${s.index}=${s.name}:${s.type}`).join(", ")}`,
              `values: ${showValues(values)}`,
              `waivers: ${JSON.stringify(waivers)}`,
              "--- program ---",
              gen.text,
            ].join("\n"),
          );
        }
        stats[wasm.effect as "deny" | "allow" | "pause"]++;
        if (wasm.defaulted) stats.defaulted++;
        if (wasm.waived.length > 0) stats.waived++;
        if (wasm.violated.length > 0) stats.violated++;
      }
    }
    failures.check();
    expect(pairs).toBeGreaterThanOrEqual(Math.min(5000, programs * inputsPerProgram));
    // the generator must actually reach every outcome
    for (const [k, v] of Object.entries(stats)) expect(v, `outcome ${k} never produced`).toBeGreaterThan(pairs / 100);
  });

  it("focused glob differential over `a b / *` patterns and `a b /` strings", async () => {
    const base = baseSeed(0x6001);
    const root = new Rng(base);
    const failures = new Failures("glob differential", base, 8);
    const rounds = scale(60);
    const PATTERNS = 40;
    const STRINGS = 250;
    let checks = 0;
    let matched = 0;
    const seen = new Set<string>();
    for (let round = 0; round < rounds; round++) {
      const rng = root.fork();
      const patterns: string[] = [];
      // half raw random patterns over `a b / *` (valid ones only), half structured ones like `/a/*/b*c/**/d`
      while (patterns.length < PATTERNS) {
        const p = rng.chance(0.5) ? rng.string("ab/*", rng.int(1, 14)) : randomGlob(rng);
        if (validateGlob(p) === undefined) patterns.push(p);
      }
      const text = patterns.map((p, i) => `POLICY g${i} { SCOPE: requests CONSTRAINT: request.path MATCHES ${JSON.stringify(p)} ENFORCEMENT: ADVISORY }`).join("\n");
      const { program, bundle, component } = await build([{ path: "glob.policy", text }]);
      expect(program.slots.length).toBe(1);
      const cm = new CmEvaluator(component, bundle.exceptions);
      for (let k = 0; k < STRINGS; k++) {
        const s = rng.chance(0.6) ? rng.string("ab/", rng.int(0, 14)) : pathLike(rng);
        const wasmViolated = new Set(bundle.evaluateSlots([s]).violations.map((v) => v.policy));
        const cmViolated = new Set(cm.run([s], []).violated.map((i) => `g${i}`));
        patterns.forEach((p, i) => {
          checks++;
          const wasm = !wasmViolated.has(`g${i}`);
          const viaCm = !cmViolated.has(`g${i}`);
          const re = globMatch(p, s);
          const model = modelGlob(p, s);
          if (model) matched++;
          if (wasm !== re || re !== model || viaCm !== wasm) {
            const key = `${p}\u0000${s}`;
            if (!seen.has(key)) {
              seen.add(key);
              failures.add(rng.seed, `pattern ${JSON.stringify(p)} string ${JSON.stringify(s)}: model ${model}, interpreter ${re}, wasm ${wasm}, component ${viaCm}`);
            }
          }
        });
      }
    }
    failures.check();
    expect(checks).toBe(rounds * PATTERNS * STRINGS);
    // both outcomes are well represented
    expect(matched).toBeGreaterThan(checks / 50);
    expect(matched).toBeLessThan(checks - checks / 50);
  });

  it("long strings (module memory growth) give the same decisions on every path", async () => {
    const text = [
      'POLICY sw { SCOPE: requests CONSTRAINT: request.path STARTS_WITH "/a/" ENFORCEMENT: ADVISORY }',
      'POLICY ew { SCOPE: requests CONSTRAINT: request.path ENDS_WITH "/b" ENFORCEMENT: ADVISORY }',
      'POLICY gl { SCOPE: requests CONSTRAINT: request.path MATCHES "/a/**/b" ENFORCEMENT: ADVISORY }',
      'POLICY st { SCOPE: requests CONSTRAINT: request.path MATCHES "/a/*" ENFORCEMENT: ADVISORY }',
      'POLICY hd { SCOPE: requests CONSTRAINT: request.headers["x-h"] ENDS_WITH "z" AND request.headers["x-h"] != request.path ENFORCEMENT: BLOCKING }',
    ].join("\n");
    const { program, bundle, component } = await build([{ path: "long.policy", text }]);
    const cm = new CmEvaluator(component, bundle.exceptions);
    const rng = new Rng(baseSeed(0x7001));
    const failures = new Failures("long strings", 0x7001);
    for (let i = 0; i < scale(12); i++) {
      const len = rng.pick([1000, 70_000, 200_000, 1_000_000]);
      const body = rng.string("ab/", len);
      const values = program.slots.map(() => (rng.chance(0.1) ? undefined : rng.pick(["/a/", "/a/x/", ""]) + body + rng.pick(["/b", "z", "/b/z", ""])));
      const r = interpret(program, values);
      const expected = r.violated.map((k) => program.policies[k]!.name);
      const wasm = bundle.evaluateSlots(values).violations.map((v) => v.policy);
      const viaCm = cm.run(values, []).violated.map((k) => program.policies[k]!.name);
      if (JSON.stringify(wasm) !== JSON.stringify(expected) || JSON.stringify(viaCm) !== JSON.stringify(expected)) {
        failures.add(i, `lengths ${values.map((v) => (v === undefined ? "missing" : v.length)).join(", ")}: interpreter ${JSON.stringify(expected)}, wasm ${JSON.stringify(wasm)}, component ${JSON.stringify(viaCm)}`);
      }
    }
    failures.check();
  });

  it("glob: invalid patterns are rejected with E408, never compiled", () => {
    const rng = new Rng(baseSeed(0x6002));
    let invalid = 0;
    for (let i = 0; i < scale(400); i++) {
      const p = rng.string("ab/*", rng.int(0, 10));
      const text = `POLICY g { SCOPE: requests CONSTRAINT: request.path MATCHES ${JSON.stringify(p)} ENFORCEMENT: ADVISORY }`;
      const fe = frontEnd([{ path: "g.policy", text }]);
      const err = validateGlob(p);
      if (err !== undefined) invalid++;
      expect(fe.diagnostics.map((d) => d.code), `pattern ${JSON.stringify(p)}`).toEqual(err === undefined ? [] : ["E408"]);
    }
    expect(invalid).toBeGreaterThan(20);
  });
});

// --- src bugs found by fuzzing ----------------------------------------------------------------
// Each test states the correct behaviour; it failed when the bug was found
// (BUG-1..7 were fixed in src/ since and now guard against regressions).

describe("src bugs found by fuzzing (regression tests)", () => {
  it("BUG-1 lexer: a `\\` escape at end of file gives spans past the end of the text", () => {
    const sources = [{ path: "t.policy", text: '"\\' }];
    const d = frontEnd(sources).diagnostics;
    expect(diagnosticProblems(d, sources)).toEqual([]);
  });

  it("BUG-2 lexer: `\\` + newline inside a string swallows the newline (multi-line message, wrong line numbers after it)", () => {
    const text = 'POLICY p {\n  DESCRIPTION: "a\\\n  SCOPE: requests\n  ENFORCEMENT: BLOKING\n}\n';
    const sources = [{ path: "t.policy", text }];
    const d = frontEnd(sources).diagnostics;
    expect(diagnosticProblems(d, sources)).toEqual([]);
    const e402 = d.find((x) => x.code === "E402");
    expect(e402 && [e402.span.line, e402.span.col]).toEqual([4, 16]);
  });

  it("BUG-3 lexer: a `//` comment right after an unexpected character is lexed as code", () => {
    const text = "POLICY p { SCOPE: requests ENFORCEMENT: BLOCKING ;// trailing comment\n}\n";
    const d = frontEnd([{ path: "t.policy", text }]).diagnostics;
    expect(d.map((x) => `${x.code} ${x.span.start}-${x.span.end}`)).toEqual(["E100 49-50"]);
  });

  it("BUG-4 codegen: a flat AND of 10,000 comparisons overflows the stack in compile (RangeError)", async () => {
    const conds = Array.from({ length: 10_000 }, (_, i) => `request.headers["h${i % 50}"] != "v${i}"`).join(" AND ");
    const text = `POLICY p { SCOPE: requests CONSTRAINT: ${conds} ENFORCEMENT: BLOCKING }`;
    let outcome: string;
    try {
      const r = await compile([{ path: "big.policy", text }], { name: "big" });
      outcome = `ok=${r.ok}`;
    } catch (e) {
      outcome = `threw ${String(e)}`;
    }
    expect(outcome).toBe("ok=true");
  });

  it("BUG-5 semantics: strings with lone surrogates matched differently in the interpreter (UTF-16) and wasm (UTF-8 with U+FFFD)", async () => {
    // A JSON body or metadata string may hold a lone surrogate ("\ud800" in JSON). The interpreter compared
    // code units while the module compared UTF-8 bytes (where a lone surrogate becomes U+FFFD).
    const text = [
      'POLICY p { SCOPE: requests CONSTRAINT: request.body.s STARTS_WITH "\\ufffd" ENFORCEMENT: BLOCKING }',
      'POLICY q { SCOPE: requests CONSTRAINT: request.body.s MATCHES "/\\ufffd*" ENFORCEMENT: BLOCKING }',
      'POLICY r { SCOPE: requests CONSTRAINT: request.body.s == "\\ufffd" ENFORCEMENT: BLOCKING }',
    ].join("\n");
    const { program, bundle } = await build([{ path: "s.policy", text }]);
    for (const v of ["\ud800", "/\ud800x", "\ufffd", "\udc00\ud800"]) {
      const attrs = { ...emptyRequestAttributes(), body: JSON.parse(`{"s": ${JSON.stringify(v)}}`) as unknown };
      const r = interpret(program, bundle.slotValues(attrs));
      const expected = r.violated.map((i) => program.policies[i]!.name);
      expect(bundle.evaluate(attrs).violations.map((x) => x.policy), `value ${JSON.stringify(v)} via evaluate`).toEqual(expected);
      expect(bundle.evaluateSlots([v]).violations.map((x) => x.policy), `value ${JSON.stringify(v)} via evaluateSlots`).toEqual(expected);
    }
  });

  it("BUG-6 codegen: with `DEFAULT: DENY` the wasm effect was inverted (deny when in scope, allow when nothing applied)", async () => {
    const text = 'DEFAULT: DENY\nPOLICY p { SCOPE: requests WHERE request.method == "GET" ENFORCEMENT: ADVISORY }\n';
    const { program, bundle } = await build([{ path: "d.policy", text }]);
    for (const method of ["GET", "POST", undefined]) {
      const r = interpret(program, [method]);
      const d = bundle.evaluateSlots([method]);
      expect({ effect: d.effect, defaulted: d.defaulted }, `method ${String(method)}`).toEqual({ effect: r.effect, defaulted: r.defaulted });
    }
    expect(interpret(program, ["POST"]).effect).toBe("deny");
    expect(interpret(program, ["GET"]).effect).toBe("allow");
  });

  it("BUG-7 interpreter: the RegExp glob backtracked polynomially on `**/` chains (a 500-char path took seconds; wasm takes microseconds)", () => {
    // globMatch compiled `/**/**/**/**/x` to ^/(?:[\s\S]*/)?(?:[\s\S]*/)?(?:[\s\S]*/)?(?:[\s\S]*/)?x$ — O(n^4) on a miss.
    // The reference interpreter runs in `aecp test`, so a long test path hung the command.
    const s = "/a".repeat(250);
    const t0 = performance.now();
    expect(globMatch("/**/**/**/**/x", s)).toBe(false);
    const ms = performance.now() - t0;
    expect(ms, `globMatch took ${ms.toFixed(0)} ms`).toBeLessThan(200);
  });
});
