// loadtest/k6/*.js: the k6 scripts parse as ES modules (TypeScript's parser,
// syntax diagnostics only), import only k6 modules, and their `options` —
// evaluated here with k6's modules stubbed out — carry thresholds that equal
// the budgets in loadtest/budgets.json, which loadtest/README.md and
// docs/performance.md quote as one table. Also checked: the proto paths the
// gRPC script loads exist, and its default addresses are the sidecar's and
// Envoy's. k6 itself is not installed here, so the scripts are not run.

import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { runInNewContext } from "node:vm";
import ts from "typescript";
import { parse as parseYaml } from "yaml";
import { describe, expect, it } from "vitest";
import { SIDECAR_DEFAULTS } from "../src/executive/index.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const K6_DIR = join(ROOT, "loadtest/k6");

interface Budget {
  script: string;
  what: string;
  rate_per_s: number;
  duration: string;
  p50_ms: number;
  p99_ms: number;
  max_error_rate: number;
}
const budgets = JSON.parse(readFileSync(join(ROOT, "loadtest/budgets.json"), "utf8")) as Record<string, Budget | string>;
const budget = (key: string): Budget => budgets[key] as Budget;
const SCRIPTS = { check_grpc: "check-grpc.js", through_envoy: "through-envoy.js" } as const;

/** Syntax problems of a script parsed as an ES module. */
function syntaxProblems(file: string, source: string): string[] {
  const out = ts.transpileModule(source, { fileName: file, reportDiagnostics: true, compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, allowJs: true } });
  return (out.diagnostics ?? []).map((d) => ts.flattenDiagnosticMessageText(d.messageText, " "));
}

/** Import specifiers and whether the file is an ES module (has import/export). */
function moduleShape(file: string, source: string): { imports: string[]; exports: string[] } {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
  const imports: string[] = [];
  const exports: string[] = [];
  for (const st of sf.statements) {
    if (ts.isImportDeclaration(st)) imports.push((st.moduleSpecifier as ts.StringLiteral).text);
    const exported = ts.canHaveModifiers(st) && ts.getModifiers(st)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
    if (exported && ts.isVariableStatement(st)) for (const d of st.declarationList.declarations) exports.push(d.name.getText(sf));
    if (exported && ts.isFunctionDeclaration(st)) exports.push(st.modifiers?.some((m) => m.kind === ts.SyntaxKind.DefaultKeyword) ? "default" : st.name!.text);
  }
  return { imports, exports };
}

interface Evaluated {
  options: { scenarios: Record<string, Record<string, unknown>>; thresholds: Record<string, string[]> };
  loaded: { importPaths: string[]; files: string[] } | undefined;
  constants: Record<string, unknown>;
}

/**
 * Run a script's init code in a sandbox: imports become stubs of k6's modules,
 * `open()` reads relative to the script (as k6 does), `__ENV` is empty, so the
 * defaults apply. Returns `options` and what the gRPC client was asked to load.
 */
function evaluate(script: string, constantNames: string[]): Evaluated {
  const file = join(K6_DIR, script);
  let source = readFileSync(file, "utf8");
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
  // replace imports (last first, so earlier offsets stay valid), then drop `export`
  for (const st of [...sf.statements].reverse()) {
    if (!ts.isImportDeclaration(st)) continue;
    const clause = st.importClause!;
    const names = [clause.name?.text, ...((clause.namedBindings as ts.NamedImports | undefined)?.elements.map((e) => e.name.text) ?? [])].filter((n) => n !== undefined);
    source = source.slice(0, st.getStart(sf)) + names.map((n) => `const ${n} = __k6.${n};`).join(" ") + source.slice(st.getEnd());
  }
  source = source.replace(/^export default function\s*\(/gm, "function __default(").replace(/^export (default )?/gm, "");
  let loaded: Evaluated["loaded"];
  class Client {
    load(importPaths: string[], ...files: string[]): void {
      loaded = { importPaths, files };
    }
  }
  const k6 = { grpc: { Client, StatusOK: 0 }, http: {}, check: () => true };
  const result = runInNewContext(`${source}\n;({ options, constants: { ${constantNames.join(", ")} } })`, {
    __k6: k6,
    __ENV: {},
    open: (p: string) => readFileSync(resolve(dirname(file), p), "utf8"),
  }) as Omit<Evaluated, "loaded">;
  return { ...result, loaded };
}

const expectedThresholds = (b: Budget): string[][] => [[`p(50)<${b.p50_ms}`, `p(99)<${b.p99_ms}`], [`rate>=${1 - b.max_error_rate}`]];

/** The budget table as loadtest/README.md and docs/performance.md print it. */
function budgetTable(): string {
  const pct = (r: number): string => `${Number((r * 100).toFixed(3))}%`;
  const rows = Object.keys(SCRIPTS).map((k) => {
    const b = budget(k);
    return `| \`k6/${b.script}\` | ${b.what} | ${b.rate_per_s}/s | ${b.duration} | < ${b.p50_ms} ms | < ${b.p99_ms} ms | ≤ ${pct(b.max_error_rate)} |`;
  });
  return ["| script | path | rate | duration | p50 | p99 | errors |", "|---|---|---|---|---|---|---|", ...rows].join("\n");
}

describe("loadtest/k6 scripts", () => {
  for (const [key, script] of Object.entries(SCRIPTS)) {
    it(`${script} parses as an ES module importing only k6 modules`, () => {
      const file = join(K6_DIR, script);
      const source = readFileSync(file, "utf8");
      expect(syntaxProblems(file, source)).toEqual([]);
      const shape = moduleShape(file, source);
      expect(shape.imports.length).toBeGreaterThan(0);
      for (const i of shape.imports) expect(i === "k6" || i.startsWith("k6/"), i).toBe(true);
      expect(shape.exports).toContain("options");
      expect(budget(key).script).toBe(script);
    });
  }

  it("the syntax check is real: a broken script is reported", () => {
    expect(syntaxProblems("x.js", "export const options = { thresholds: { a: [ }; ")).not.toEqual([]);
  });

  it("check-grpc.js: thresholds are the check_grpc budget; Envoy's protos load from paths that exist", () => {
    const b = budget("check_grpc");
    const { options, loaded, constants } = evaluate("check-grpc.js", ["ADDR", "DEPS"]);
    expect(options.thresholds).toEqual({ grpc_req_duration: expectedThresholds(b)[0], checks: expectedThresholds(b)[1] });
    expect(options.scenarios["check"]).toMatchObject({ executor: "constant-arrival-rate", rate: b.rate_per_s, timeUnit: "1s", duration: b.duration });
    expect(constants["ADDR"]).toBe(SIDECAR_DEFAULTS.grpc[0]);
    expect(loaded!.files).toEqual(["envoy/service/auth/v3/external_auth.proto"]);
    const dirs = loaded!.importPaths.map((p) => resolve(K6_DIR, p));
    for (const d of dirs) expect(existsSync(d), d).toBe(true);
    expect(dirs.some((d) => existsSync(join(d, loaded!.files[0]!)))).toBe(true);
  });

  it("through-envoy.js: thresholds are the through_envoy budget; it targets Envoy's listener and its unauthorized route", () => {
    const b = budget("through_envoy");
    const { options, constants } = evaluate("through-envoy.js", ["BASE", "BASELINE_PATH", "AUTHORIZED_PATH"]);
    const [latency, rate] = expectedThresholds(b);
    expect(options.thresholds).toEqual({
      "http_req_duration{scenario:authorized}": latency,
      "http_req_failed{scenario:authorized}": [`rate<=${b.max_error_rate}`],
      "checks{scenario:authorized}": rate,
      "http_req_duration{scenario:baseline}": [`p(99)<${b.p99_ms}`],
    });
    for (const s of ["authorized", "baseline"]) expect(options.scenarios[s]).toMatchObject({ executor: "constant-arrival-rate", exec: s, rate: b.rate_per_s, duration: b.duration });
    const envoy = parseYaml(readFileSync(join(ROOT, "envoy/envoy.yaml"), "utf8")) as { static_resources: { listeners: Array<{ address: { socket_address: { port_value: number } } }> } };
    expect(constants["BASE"]).toBe(`http://127.0.0.1:${envoy.static_resources.listeners[0]!.address.socket_address.port_value}`);
    // the baseline is the route envoy.yaml leaves without ext_authz
    expect(readFileSync(join(ROOT, "envoy/envoy.yaml"), "utf8")).toContain(`match: { path: ${String(constants["BASELINE_PATH"])} }`);
    expect(constants["AUTHORIZED_PATH"]).not.toBe(constants["BASELINE_PATH"]);
  });

  it("loadtest/README.md and docs/performance.md quote the budgets from loadtest/budgets.json", () => {
    const table = budgetTable();
    expect(readFileSync(join(ROOT, "loadtest/README.md"), "utf8")).toContain(table);
    expect(readFileSync(join(ROOT, "docs/performance.md"), "utf8")).toContain(table);
  });
});
