// Conformance corpus runner. Every YAML file in test/conformance/ holds policy
// sources and request cases with the expected decision. Each file is compiled
// once (signed with an ephemeral key) and loaded through the evaluator host;
// every case is then decided by independent evaluators that must all agree
// with the expectation:
//
//   interpreter  the reference interpreter over the checked program
//                (src/judicial/interpreter.ts), fed bundle.slotValues(attrs)
//   core         the host's fast path, bundle.evaluate(attrs, waivers)
//   core-slots   the same module via bundle.evaluateSlots(values, waivers)
//   component    the bundle's WebAssembly component, transpiled by jco and
//                called through the canonical ABI (`evaluator.evaluate`)
//
// Requests are written in a shorthand (test/conformance/shorthand.ts) that is
// converted to an Envoy CheckRequest and parsed by the real adapter.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readBundle } from "../src/bundle/format.js";
import { LoadedBundle } from "../src/bundle/host.js";
import { generateKeyPairPem, parsePrivateKeyPem, parsePublicKeyPem, TrustedKeys } from "../src/bundle/keys.js";
import { attributesFromCheckRequestJson } from "../src/executive/checkrequest.js";
import { compile, frontEnd, type CompileResult, type SourceInput } from "../src/judicial/compile.js";
import { interpret } from "../src/judicial/interpreter.js";
import type { CheckedCond, CheckedProgram } from "../src/legislative/index.js";
import { cleanupComponentHost, instantiateComponent, witSlots, type ComponentEvaluator } from "./helpers/component-host.js";
import { checkRequestFromShorthand } from "./conformance/shorthand.js";

const DIR = fileURLToPath(new URL("./conformance/", import.meta.url));

// ---------------------------------------------------------------------------
// Corpus loading and schema validation (synchronous: cases become tests)
// ---------------------------------------------------------------------------

type Effect = "allow" | "deny" | "pause";

interface Outcome {
  effect: Effect;
  violations: string[];
  waived: string[];
  defaulted: boolean;
}

interface Case {
  name: string;
  request: unknown;
  waivers: string[];
  expect: Outcome;
}

interface CorpusFile {
  file: string;
  name: string;
  sources: SourceInput[];
  cases: Case[];
}

function fail(where: string, msg: string): never {
  throw new Error(`${where}: ${msg}`);
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function keysOnly(o: Record<string, unknown>, allowed: string[], where: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) fail(where, `unknown key \`${k}\` (allowed: ${allowed.join(", ")})`);
}

function stringList(v: unknown, where: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) fail(where, "must be a list of strings");
  return v as string[];
}

function sortedUnique(v: string[], where: string): string[] {
  const sorted = [...new Set(v)].sort();
  if (sorted.length !== v.length || sorted.some((x, i) => x !== v[i])) fail(where, `must be sorted and unique (write ${JSON.stringify(sorted)})`);
  return v;
}

function loadCorpusFile(file: string): CorpusFile {
  const doc: unknown = parseYaml(readFileSync(join(DIR, file), "utf8"));
  if (!isMap(doc)) fail(file, "must be a YAML map");
  keysOnly(doc, ["name", "description", "policies", "cases"], file);
  const name = doc["name"];
  if (typeof name !== "string" || name === "") fail(file, "`name` must be a non-empty string");
  const policies = doc["policies"];
  if (!isMap(policies) || Object.keys(policies).length === 0) fail(file, "`policies` must map file names to policy source text");
  const sources: SourceInput[] = Object.entries(policies).map(([path, text]) => {
    if (typeof text !== "string") fail(`${file} policies.${path}`, "must be a string");
    return { path, text };
  });
  const rawCases = doc["cases"];
  if (!Array.isArray(rawCases) || rawCases.length === 0) fail(file, "`cases` must be a non-empty list");
  const seen = new Set<string>();
  const cases = rawCases.map((c: unknown, i): Case => {
    const where = `${file} cases[${i}]`;
    if (!isMap(c)) fail(where, "must be a map");
    keysOnly(c, ["name", "request", "waivers", "expect"], where);
    const cname = c["name"];
    if (typeof cname !== "string" || cname === "") fail(where, "`name` must be a non-empty string");
    if (seen.has(cname)) fail(where, `duplicate case name \`${cname}\``);
    seen.add(cname);
    const ex = c["expect"];
    if (!isMap(ex)) fail(`${where} (${cname})`, "`expect` must be a map");
    keysOnly(ex, ["effect", "violations", "waived", "defaulted"], `${where}.expect`);
    const effect = ex["effect"];
    if (effect !== "allow" && effect !== "deny" && effect !== "pause") fail(`${where}.expect.effect`, "must be allow, deny or pause");
    if (!Array.isArray(ex["violations"])) fail(`${where}.expect.violations`, "is required (a list, possibly empty)");
    const defaulted = ex["defaulted"] ?? false;
    if (typeof defaulted !== "boolean") fail(`${where}.expect.defaulted`, "must be a boolean");
    return {
      name: cname,
      request: c["request"] ?? {},
      waivers: stringList(c["waivers"], `${where}.waivers`),
      expect: {
        effect,
        violations: sortedUnique(stringList(ex["violations"], `${where}.expect.violations`), `${where}.expect.violations`),
        waived: sortedUnique(stringList(ex["waived"], `${where}.expect.waived`), `${where}.expect.waived`),
        defaulted,
      },
    };
  });
  return { file, name, sources, cases };
}

const FILES = readdirSync(DIR)
  .filter((f) => f.endsWith(".yaml"))
  .sort();
const CORPUS = FILES.map(loadCorpusFile);

// ---------------------------------------------------------------------------
// Evaluators
// ---------------------------------------------------------------------------

const pair = generateKeyPairPem();
const KEY = parsePrivateKeyPem(pair.privatePem);
const TRUSTED = new TrustedKeys([parsePublicKeyPem(pair.publicPem)]);

interface Loaded {
  result: CompileResult;
  program: CheckedProgram;
  bundle: LoadedBundle;
  component: ComponentEvaluator;
}

function show(o: Outcome): string {
  return `effect=${o.effect} violations=${JSON.stringify(o.violations)} waived=${JSON.stringify(o.waived)} defaulted=${o.defaulted}`;
}

function diff(actual: Outcome, expected: Outcome): string | undefined {
  const bad: string[] = [];
  if (actual.effect !== expected.effect) bad.push(`effect ${actual.effect} (expected ${expected.effect})`);
  if (JSON.stringify(actual.violations) !== JSON.stringify(expected.violations)) {
    bad.push(`violations ${JSON.stringify(actual.violations)} (expected ${JSON.stringify(expected.violations)})`);
  }
  if (JSON.stringify(actual.waived) !== JSON.stringify(expected.waived)) bad.push(`waived ${JSON.stringify(actual.waived)} (expected ${JSON.stringify(expected.waived)})`);
  if (actual.defaulted !== expected.defaulted) bad.push(`defaulted ${actual.defaulted} (expected ${expected.defaulted})`);
  return bad.length === 0 ? undefined : bad.join("; ");
}

/** Policy indices → sorted names (duplicates kept, so a doubled index shows). */
function names(program: CheckedProgram, idx: ArrayLike<number>, who: string): string[] {
  return Array.from(idx, (i) => program.policies[i]?.name ?? `<${who}: unknown policy index ${i}>`).sort();
}

function runCase(f: CorpusFile, l: Loaded, c: Case): void {
  const checkRequest = checkRequestFromShorthand(c.request);
  const attrs = attributesFromCheckRequestJson(checkRequest);
  const values = l.bundle.slotValues(attrs);
  const outcomes: Array<[string, Outcome | Error]> = [];
  const attempt = (who: string, fn: () => Outcome): void => {
    try {
      outcomes.push([who, fn()]);
    } catch (e) {
      outcomes.push([who, e instanceof Error ? e : new Error(String(e))]);
    }
  };

  attempt("interpreter", () => {
    const d = interpret(l.program, values, new Set(c.waivers));
    return { effect: d.effect, violations: names(l.program, d.violated, "interpreter"), waived: names(l.program, d.waived, "interpreter"), defaulted: d.defaulted };
  });
  attempt("core (bundle.evaluate)", () => {
    const d = l.bundle.evaluate(attrs, c.waivers);
    return { effect: d.effect, violations: d.violations.map((r) => r.policy).sort(), waived: d.waived.map((r) => r.policy).sort(), defaulted: d.defaulted };
  });
  attempt("core (bundle.evaluateSlots)", () => {
    const d = l.bundle.evaluateSlots(values, c.waivers);
    return { effect: d.effect, violations: d.violations.map((r) => r.policy).sort(), waived: d.waived.map((r) => r.policy).sort(), defaulted: d.defaulted };
  });
  attempt("component (jco)", () => {
    const ids = c.waivers.map((w) => l.bundle.exceptions.indexOf(w)).filter((i) => i >= 0);
    const d = l.component.evaluate(witSlots(l.bundle.slots, values), Uint32Array.from(ids));
    return { effect: d.effect, violations: names(l.program, d.violated, "component"), waived: names(l.program, d.waived, "component"), defaulted: d.defaulted };
  });

  const problems: string[] = [];
  for (const [who, o] of outcomes) {
    if (o instanceof Error) problems.push(`  ${who}: threw ${o.message}`);
    else {
      const d = diff(o, c.expect);
      if (d) problems.push(`  ${who}: ${d}`);
    }
  }
  if (problems.length > 0) {
    const slotDump = l.bundle.slots.map((s, i) => `    [${i}] ${s.name} (${s.type}) = ${values[i] === undefined ? "<missing>" : JSON.stringify(values[i])}`);
    throw new Error(
      [
        `${f.file} › ${c.name}: evaluators disagree with the expectation`,
        `  expected: ${show(c.expect)}`,
        ...problems,
        ...(c.waivers.length ? [`  waivers: ${JSON.stringify(c.waivers)}`] : []),
        "  slots:",
        ...slotDump,
      ].join("\n"),
    );
  }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

afterAll(() => cleanupComponentHost());

describe("conformance corpus", () => {
  it("has the expected size", () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(24);
    expect(CORPUS.reduce((n, f) => n + f.cases.length, 0)).toBeGreaterThanOrEqual(120);
    const names_ = CORPUS.map((f) => f.name);
    expect(new Set(names_).size, "corpus file names must be unique").toBe(names_.length);
  });

  it("covers every operator, source kind, slot type, enforcement and default", () => {
    const seen = new Set<string>();
    const walk = (c: CheckedCond): void => {
      switch (c.k) {
        case "and":
        case "or":
          seen.add(c.k);
          c.items.forEach(walk);
          return;
        case "not":
          seen.add("not");
          walk(c.operand);
          return;
        case "const":
          seen.add(`const:${c.value}`);
          return;
        case "exists":
          seen.add("exists");
          return;
        case "cmp":
          seen.add(`cmp:${c.op}:${typeof c.value}`);
          return;
        case "cmp_attr":
          seen.add(`cmp_attr:${c.op}`);
          return;
        case "in":
          seen.add(`${c.negated ? "not_in" : "in"}:${typeof c.values[0]}:${c.values.length > 8 ? "large" : "small"}`);
          return;
        case "strop":
          seen.add(`strop:${c.op}`);
          return;
      }
    };
    for (const f of CORPUS) {
      const fe = frontEnd(f.sources);
      expect(fe.ok, `${f.file}: ${fe.diagnostics.map((d) => d.message).join("; ")}`).toBe(true);
      seen.add(`default:${fe.program.defaultEffect}`);
      for (const s of fe.program.slots) {
        seen.add(`type:${s.type}`);
        const src = s.source;
        seen.add(src.kind === "request" ? `src:request.${src.field}` : src.kind === "peer" ? `src:${src.peer}.${src.field}` : `src:${src.kind}`);
        if ((src.kind === "body" || src.kind === "metadata") && src.path.some((x) => typeof x === "number")) seen.add(`src:${src.kind}:index`);
      }
      for (const p of fe.program.policies) {
        seen.add(`enf:${p.enforcement}`);
        if (p.exceptions.length > 0) seen.add("exception");
        if (!p.constraint) seen.add("no-constraint");
        walk(p.scope);
        if (p.constraint) walk(p.constraint);
      }
    }
    const required = [
      "and", "or", "not", "const:true", "const:false", "exists", "exception", "no-constraint",
      ...["==", "!="].flatMap((op) => [`cmp:${op}:string`, `cmp:${op}:number`, `cmp:${op}:boolean`]),
      ...["<", "<=", ">", ">="].map((op) => `cmp:${op}:number`),
      "cmp_attr:==", "cmp_attr:!=",
      "in:string:small", "in:string:large", "not_in:string:small", "not_in:string:large",
      "in:number:small", "not_in:number:small", "in:boolean:small",
      "strop:starts_with", "strop:ends_with", "strop:matches",
      "type:string", "type:number", "type:bool", "type:any",
      ...["method", "path", "host", "scheme", "protocol"].map((f) => `src:request.${f}`),
      "src:query", "src:header", "src:body", "src:body:index", "src:context", "src:metadata",
      ...["principal", "address", "port", "namespace", "service_account", "trust_domain", "service"].flatMap((f) => [`src:source.${f}`, `src:destination.${f}`]),
      "enf:BLOCKING", "enf:ADVISORY", "enf:AUDIT_ONLY", "enf:REQUIRE_APPROVAL",
      "default:allow", "default:deny",
    ];
    const missing = required.filter((r) => !seen.has(r));
    expect(missing, "corpus features not covered by any policy").toEqual([]);
  });
});

for (const f of CORPUS) {
  describe(`${f.file} (${f.name})`, () => {
    let loaded: Loaded | undefined;
    let loadError: unknown;

    beforeAll(async () => {
      try {
        const result = await compile(f.sources, { name: f.name, key: KEY });
        if (!result.ok || !result.bundle || !result.program) {
          throw new Error(`${f.file} does not compile:\n${result.diagnostics.map((d) => `  ${d.code} ${d.span.file}:${d.span.line}:${d.span.col} ${d.message}`).join("\n")}`);
        }
        const bundle = LoadedBundle.load(result.bundle, { trustedKeys: TRUSTED });
        // The component path runs the component shipped inside the signed bundle.
        const shipped = readBundle(result.bundle, { trustedKeys: TRUSTED }).component;
        if (!result.component || Buffer.compare(Buffer.from(shipped), Buffer.from(result.component)) !== 0) {
          throw new Error(`${f.file}: the component inside the signed bundle differs from the compiler's component`);
        }
        const component = await instantiateComponent(shipped);
        loaded = { result, program: result.program, bundle, component };
      } catch (e) {
        loadError = e;
      }
    });

    it("compiles, loads and exposes consistent tables", () => {
      if (loadError) throw loadError;
      const l = loaded!;
      expect(l.bundle.policies.map((p) => p.name)).toEqual(l.program.policies.map((p) => p.name));
      expect([...l.bundle.exceptions]).toEqual(l.program.exceptions);
      expect(l.bundle.slots.map((s) => s.type)).toEqual(l.program.slots.map((s) => s.type));
      expect(l.component.abiVersion()).toBe(1);
      const known = new Set(l.program.policies.map((p) => p.name));
      for (const c of f.cases) {
        for (const n of [...c.expect.violations, ...c.expect.waived]) expect(known.has(n), `${c.name}: expectation names unknown policy \`${n}\``).toBe(true);
      }
    });

    for (const c of f.cases) {
      it(c.name, () => {
        if (loadError) throw loadError;
        runCase(f, loaded!, c);
      });
    }
  });
}
