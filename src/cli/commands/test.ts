// `aecp test <file-or-dir>...`: runs policy test files (`*.test.yaml`).
//
// A test file:
//   policies: [../shared, .]     # optional; default: the *.policy files in the test file's folder (recursive)
//   cases:
//     - name: EU data in a US region is denied
//       request: { headers: { x-resource-type: customer_data }, ... }   # shorthand, or
//       input: { attributes: { ... } }                                    # a CheckRequest in any accepted shape
//       waivers: [break_glass]                                            # optional verified exception grants
//       expect: { effect: deny, violations: [data_residency_eu], waived: [], defaulted: false }
//
// Each case runs on the compiled WebAssembly bundle AND the reference
// interpreter; a disagreement between the two is reported as a compiler bug.

import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { AecpError, isAecpError } from "../../common/index.js";
import { LoadedBundle, TrustedKeys, generateKeyPairPem, parsePrivateKeyPem, parsePublicKeyPem } from "../../bundle/index.js";
import { compile, interpret, type CompileResult } from "../../judicial/index.js";
import { attributesFromCheckRequestJson, checkRequestFromShorthand } from "../../executive/index.js";
import { collectFiles, displayPath, readText, renderDiagnostics, EXIT_FAIL, EXIT_OK } from "../io.js";
import { loadSources } from "./compile.js";

const EFFECTS = new Set(["allow", "deny", "pause"]);
const CASE_KEYS = new Set(["name", "request", "input", "waivers", "expect"]);
const EXPECT_KEYS = new Set(["effect", "violations", "waived", "defaulted"]);
const FILE_KEYS = new Set(["policies", "cases", "description"]);

interface TestCase {
  name: string;
  input: unknown;
  waivers: string[];
  expect: { effect: string; violations?: string[]; waived?: string[]; defaulted?: boolean };
}

function invalid(file: string, msg: string): never {
  throw new AecpError("AECP_TEST_FILE_INVALID", `${file}: ${msg}`);
}

function stringList(v: unknown, file: string, where: string): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) invalid(file, `${where} must be a list of strings`);
  return v as string[];
}

export function parseTestFile(file: string, text: string): { policies: string[] | undefined; cases: TestCase[] } {
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100 });
  } catch (e) {
    invalid(file, `not valid YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) invalid(file, "must be a map with `cases:`");
  const d = doc as Record<string, unknown>;
  for (const k of Object.keys(d)) if (!FILE_KEYS.has(k)) invalid(file, `unknown key \`${k}\` (expected policies, cases, description)`);
  const policies = d["policies"] === undefined ? undefined : stringList(d["policies"], file, "`policies`");
  if (!Array.isArray(d["cases"]) || d["cases"].length === 0) invalid(file, "`cases` must be a non-empty list");
  const names = new Set<string>();
  const cases = (d["cases"] as unknown[]).map((c, i): TestCase => {
    const where = `case #${i + 1}`;
    if (c === null || typeof c !== "object" || Array.isArray(c)) invalid(file, `${where} must be a map`);
    const r = c as Record<string, unknown>;
    for (const k of Object.keys(r)) if (!CASE_KEYS.has(k)) invalid(file, `${where}: unknown key \`${k}\``);
    if (typeof r["name"] !== "string" || r["name"] === "") invalid(file, `${where} needs a \`name\``);
    const name = r["name"];
    if (names.has(name)) invalid(file, `duplicate case name \`${name}\``);
    names.add(name);
    if ((r["request"] === undefined) === (r["input"] === undefined)) invalid(file, `case \`${name}\` needs exactly one of \`request\` or \`input\``);
    const input = r["request"] !== undefined ? checkRequestFromShorthand(r["request"], `case \`${name}\` request`) : r["input"];
    const e = r["expect"];
    if (e === null || typeof e !== "object" || Array.isArray(e)) invalid(file, `case \`${name}\` needs an \`expect\` map`);
    const ex = e as Record<string, unknown>;
    for (const k of Object.keys(ex)) if (!EXPECT_KEYS.has(k)) invalid(file, `case \`${name}\`: unknown expect key \`${k}\``);
    if (typeof ex["effect"] !== "string" || !EFFECTS.has(ex["effect"])) invalid(file, `case \`${name}\`: expect.effect must be allow, deny or pause`);
    const expect: TestCase["expect"] = { effect: ex["effect"] };
    if (ex["violations"] !== undefined) expect.violations = stringList(ex["violations"], file, `case \`${name}\` expect.violations`);
    if (ex["waived"] !== undefined) expect.waived = stringList(ex["waived"], file, `case \`${name}\` expect.waived`);
    if (ex["defaulted"] !== undefined) {
      if (typeof ex["defaulted"] !== "boolean") invalid(file, `case \`${name}\`: expect.defaulted must be true or false`);
      expect.defaulted = ex["defaulted"];
    }
    const waivers = r["waivers"] === undefined ? [] : stringList(r["waivers"], file, `case \`${name}\` waivers`);
    return { name, input, waivers, expect };
  });
  return { policies, cases };
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const x = [...a].sort();
  const y = [...b].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

export async function testCommand(paths: string[], opts: { verbose?: boolean }): Promise<number> {
  const files = collectFiles(paths, ".test.yaml");
  if (files.length === 0) throw new AecpError("AECP_NO_SOURCES", `no .test.yaml files found in ${paths.map((p) => `\`${p}\``).join(", ")}`);
  const kp = generateKeyPairPem(); // ephemeral: test bundles are never written anywhere
  const key = parsePrivateKeyPem(kp.privatePem);
  const trustedKeys = new TrustedKeys([parsePublicKeyPem(kp.publicPem)]);
  const compiled = new Map<string, { result: CompileResult; bundle: LoadedBundle | undefined }>();
  let passed = 0;
  let failed = 0;
  const out: string[] = [];
  for (const file of files) {
    const shown = displayPath(file);
    let spec;
    try {
      spec = parseTestFile(shown, readText(file));
    } catch (e) {
      if (!isAecpError(e)) throw e;
      out.push(`${shown}\n  error[${e.code}]: ${e.message}`);
      failed++;
      continue;
    }
    const policyPaths = (spec.policies ?? ["."]).map((p) => resolve(dirname(file), p));
    const cacheKey = [...policyPaths].sort().join("\0");
    let entry = compiled.get(cacheKey);
    if (!entry) {
      const { sources, display } = loadSources(policyPaths);
      const result = await compile(sources, { name: "test", key });
      if (!result.ok) {
        out.push(`${shown}\n  policies do not compile:\n${renderDiagnostics(result.diagnostics, sources, display)}`);
      }
      entry = { result, bundle: result.bundle ? LoadedBundle.load(result.bundle, { trustedKeys }) : undefined };
      compiled.set(cacheKey, entry);
    }
    out.push(shown);
    for (const tc of spec.cases) {
      const problems: string[] = [];
      if (!entry.bundle || !entry.result.program) {
        problems.push("policies do not compile");
      } else {
        try {
          const attrs = attributesFromCheckRequestJson(tc.input);
          const d = entry.bundle.evaluate(attrs, tc.waivers);
          const names = entry.result.program.policies.map((p) => p.name);
          const ref = interpret(entry.result.program, entry.bundle.slotValues(attrs), new Set(tc.waivers));
          const got = { effect: d.effect, violations: d.violations.map((v) => v.policy), waived: d.waived.map((v) => v.policy), defaulted: d.defaulted };
          const refGot = { effect: ref.effect, violations: ref.violated.map((i) => names[i]!), waived: ref.waived.map((i) => names[i]!), defaulted: ref.defaulted };
          if (got.effect !== refGot.effect || !sameSet(got.violations, refGot.violations) || !sameSet(got.waived, refGot.waived) || got.defaulted !== refGot.defaulted) {
            problems.push(`compiler bug: WebAssembly says ${JSON.stringify(got)} but the reference interpreter says ${JSON.stringify(refGot)}`);
          }
          if (got.effect !== tc.expect.effect) problems.push(`expected effect ${tc.expect.effect}, got ${got.effect}`);
          if (tc.expect.violations && !sameSet(got.violations, tc.expect.violations)) {
            problems.push(`expected violations [${[...tc.expect.violations].sort().join(", ")}], got [${got.violations.join(", ")}]`);
          }
          if (tc.expect.waived && !sameSet(got.waived, tc.expect.waived)) {
            problems.push(`expected waived [${[...tc.expect.waived].sort().join(", ")}], got [${got.waived.join(", ")}]`);
          }
          if (tc.expect.defaulted !== undefined && got.defaulted !== tc.expect.defaulted) problems.push(`expected defaulted ${tc.expect.defaulted}, got ${got.defaulted}`);
        } catch (e) {
          if (!isAecpError(e)) throw e;
          problems.push(`error[${e.code}]: ${e.message}`);
        }
      }
      if (problems.length === 0) {
        passed++;
        if (opts.verbose !== false) out.push(`  ✓ ${tc.name}`);
      } else {
        failed++;
        out.push(`  ✗ ${tc.name}\n${problems.map((p) => `      ${p}`).join("\n")}`);
      }
    }
  }
  out.push("", `${passed} passed, ${failed} failed`);
  process.stdout.write(out.join("\n") + "\n");
  return failed === 0 ? EXIT_OK : EXIT_FAIL;
}
