// Canonical formatter: golden files, plus the properties every input must
// keep — formatting never changes the parsed program (no token or comment is
// lost) and formatting formatted text changes nothing.
//
// Goldens: test/format/NAME.input.policy → test/format/NAME.expected.policy.
// Regenerate with `UPDATE_GOLDEN=1 npx vitest run test/format.test.ts` and
// review the diff.

import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { PolicyFile } from "../src/legislative/ast.js";
import { DiagnosticBag } from "../src/legislative/diagnostics.js";
import { formatPolicyFile, formatSource } from "../src/legislative/format.js";
import { parsePolicyFile } from "../src/legislative/parser.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const goldenDir = join(here, "format");
const UPDATE = process.env["UPDATE_GOLDEN"] === "1";

function parse(path: string, text: string): PolicyFile {
  const bag = new DiagnosticBag();
  const file = parsePolicyFile(path, text, bag);
  expect(bag.sorted(), `syntax errors in ${path}`).toEqual([]);
  return file;
}

function fmt(path: string, text: string): string {
  const r = formatSource(path, text);
  expect(r.diagnostics, `diagnostics for ${path}`).toEqual([]);
  expect(r.formatted).toBeDefined();
  return r.formatted!;
}

/** Formatting from the tree alone, without the source text. */
function fmtAst(path: string, text: string): string {
  return formatPolicyFile(parse(path, text));
}

/** Positions and layout: spans (`span`, `nameSpan`, `approverSpans`, …), the `braces` flag, comment lines. */
const isPositionKey = (k: string): boolean => k === "span" || /Spans?$/.test(k) || k === "braces" || k === "line";
const upperIfKnown = (v: string, known: string[]): string => (known.includes(v.toUpperCase()) ? v.toUpperCase() : v);

/**
 * The parse result without positions: spans, the `braces` layout flag and the
 * comments' line numbers are dropped; comments are compared as a sorted list
 * of their texts (clauses move, and their comments with them), and so is the
 * set of clause and APPROVAL-entry keywords used (`attempted`). Words the
 * checker reads case-insensitively (enforcement, AUDIT and DEFAULT values,
 * attribute types, the `requests` subject) are compared case-folded.
 */
function stripped(file: PolicyFile): unknown {
  const items = file.items.map((it) => {
    switch (it.kind) {
      case "attribute":
        return { ...it, type: it.type && { ...it.type, value: it.type.value.toLowerCase() } };
      case "default":
        return { ...it, value: upperIfKnown(it.value, ["ALLOW", "DENY"]) };
      case "policy":
        return {
          ...it,
          attempted: [...((it as { attempted?: string[] }).attempted ?? [])].sort(),
          approval: it.approval && { ...it.approval, attempted: [...(it.approval.attempted ?? [])].sort() },
          scope: it.scope && { ...it.scope, subject: it.scope.subject.toLowerCase() === "requests" ? "requests" : it.scope.subject },
          enforcement: it.enforcement && { ...it.enforcement, value: upperIfKnown(it.enforcement.value, ["BLOCKING", "ADVISORY", "AUDIT_ONLY", "REQUIRE_APPROVAL"]) },
          audit: it.audit && { ...it.audit, value: upperIfKnown(it.audit.value, ["REQUIRED", "OPTIONAL"]) },
        };
    }
  });
  const comments = file.comments.map((c) => c.text).sort();
  return JSON.parse(JSON.stringify({ items, comments }, (k, v: unknown) => (isPositionKey(k) ? undefined : v)));
}

/** Round trip and idempotence of both entry points for one input. */
function checkProperties(path: string, text: string): void {
  const original = stripped(parse(path, text));
  const once = fmt(path, text);
  expect(stripped(parse(path, once)), `round trip of ${path}`).toEqual(original);
  expect(fmt(path, once), `idempotence of ${path}`).toBe(once);
  expect(once.endsWith("\n") && !once.endsWith("\n\n")).toBe(once !== "");

  const onceAst = fmtAst(path, text);
  expect(stripped(parse(path, onceAst)), `round trip (tree only) of ${path}`).toEqual(original);
  expect(fmtAst(path, onceAst), `idempotence (tree only) of ${path}`).toBe(onceAst);
  if (parse(path, text).comments.length === 0) expect(onceAst).toBe(once);
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? walk(p) : e.name.endsWith(".policy") ? [p] : [];
  });
}

const goldenInputs = readdirSync(goldenDir)
  .filter((f) => f.endsWith(".input.policy"))
  .sort();
const policyFiles = existsSync(join(root, "policies")) ? walk(join(root, "policies")).sort() : [];

describe("golden files", () => {
  it("has enough of them", () => {
    expect(goldenInputs.length).toBeGreaterThanOrEqual(10);
  });

  for (const input of goldenInputs) {
    it(input, () => {
      const name = input.replace(/\.input\.policy$/, "");
      const text = readFileSync(join(goldenDir, input), "utf8");
      const got = fmt(input, text);
      const expectedPath = join(goldenDir, `${name}.expected.policy`);
      if (UPDATE || !existsSync(expectedPath)) {
        if (!UPDATE) throw new Error(`missing ${relative(root, expectedPath)}; run with UPDATE_GOLDEN=1`);
        writeFileSync(expectedPath, got);
      }
      expect(got).toBe(readFileSync(expectedPath, "utf8"));
    });
  }
});

describe("round trip and idempotence", () => {
  const cases = [
    ...goldenInputs.map((f) => join(goldenDir, f)),
    ...goldenInputs.map((f) => join(goldenDir, f.replace(/\.input\.policy$/, ".expected.policy"))).filter(existsSync),
    ...policyFiles,
  ];
  for (const path of cases) {
    it(relative(root, path), () => checkProperties(relative(root, path), readFileSync(path, "utf8")));
  }

  it("expected goldens are already canonical", () => {
    for (const input of goldenInputs) {
      const p = join(goldenDir, input.replace(/\.input\.policy$/, ".expected.policy"));
      if (!existsSync(p)) continue;
      const text = readFileSync(p, "utf8");
      expect(fmt(p, text), p).toBe(text);
    }
  });

  it("seed examples format to their goldens", () => {
    // The goldens hold copies of the seed examples as first written; the files
    // themselves may since have been reformatted, which must not change the result.
    let covered = 0;
    for (const seed of walk(join(root, "policies", "seed-examples"))) {
      const expected = join(goldenDir, `seed-${seed.split(/[\\/]/).pop()!.replace(/\.policy$/, "")}.expected.policy`);
      if (!existsSync(expected)) continue;
      covered++;
      expect(fmt(seed, readFileSync(seed, "utf8")), seed).toBe(readFileSync(expected, "utf8"));
    }
    expect(covered).toBeGreaterThanOrEqual(3);
  });
});

describe("formatSource", () => {
  it("returns no text and the diagnostics on syntax errors", () => {
    const r = formatSource("bad.policy", 'POLICY p {\n  SCOPE: requests WHERE a ==\n}\n');
    expect(r.formatted).toBeUndefined();
    expect(r.diagnostics.map((d) => d.code)).toEqual(["E103"]);
    expect(r.diagnostics[0]!.span.file).toBe("bad.policy");
  });

  it("agrees with formatPolicyFile given the source", () => {
    const text = readFileSync(join(goldenDir, "comments-everywhere.input.policy"), "utf8");
    expect(formatPolicyFile(parse("x.policy", text), text)).toBe(fmt("x.policy", text));
  });

  it("ignores a source text that is not the parsed one", () => {
    const text = "# a\nDEFAULT: DENY\n";
    const file = parse("x.policy", text);
    expect(formatPolicyFile(file, "something else entirely")).toBe(formatPolicyFile(file));
  });

  it("formats empty and comment-only files", () => {
    expect(fmt("e.policy", "")).toBe("");
    expect(fmt("e.policy", "\n\n  \n")).toBe("");
    expect(fmt("c.policy", "\n\n   # only\n\n")).toBe("# only\n");
  });

  it("normalizes line endings, tabs and a byte-order mark", () => {
    const text = "\uFEFFDEFAULT:\tdeny\r\nPOLICY p {\r\n\tSCOPE: requests # why\r\n\tENFORCEMENT: advisory\r\n}\r\n";
    expect(fmt("crlf.policy", text)).toBe("DEFAULT: DENY\n\nPOLICY p {\n  SCOPE: requests  # why\n  ENFORCEMENT: ADVISORY\n}\n");
  });

  it("keeps values the checker would reject as written", () => {
    const text = "DEFAULT: maybe\nATTRIBUTE a = request.headers[\"a\"] AS text\nPOLICY p {\n  SCOPE: Orders\n  ENFORCEMENT: strict\n  AUDIT: sometimes\n}\n";
    expect(fmt("x.policy", text)).toBe(
      'DEFAULT: maybe\n\nATTRIBUTE a = request.headers["a"] AS text\n\nPOLICY p {\n  SCOPE: Orders\n  ENFORCEMENT: strict\n  AUDIT: sometimes\n}\n',
    );
  });

  it("re-escapes strings with only the escapes the lexer accepts", () => {
    const text = 'POLICY p {\n  DESCRIPTION: "\\u0008\\u000c\\u0001\\u001f \\\\b \\"q\\" \\ud83d\\ude00 \\u00e9"\n  SCOPE: requests WHERE request.headers["\\u000c"] == "\\u0008"\n}\n';
    const out = fmt("x.policy", text);
    expect(out).toContain('DESCRIPTION: "\\u0008\\u000c\\u0001\\u001f \\\\b \\"q\\" 😀 é"');
    expect(out).toContain('SCOPE: requests WHERE request.headers["\\u000c"] == "\\u0008"');
    checkProperties("x.policy", text);
  });

  it("prints numbers as written and QUORUM without an exponent", () => {
    const text = "POLICY p {\n  SCOPE: requests WHERE a > -0.50 AND b IN [007, 1.0]\n  APPROVAL: { QUORUM: 1000000000000000000000000 }\n}\n";
    const out = fmt("x.policy", text);
    expect(out).toContain("SCOPE: requests WHERE a > -0.50 AND b IN [007, 1.0]");
    expect(out).toContain("QUORUM: 1000000000000000000000000\n");
    checkProperties("x.policy", text);
    for (const q of ["0.000000000000000000000000123", "-0.0000001", "12345678901234567890123.5", "1.5"]) {
      const t = `POLICY p {\n  APPROVAL: {\n    QUORUM: ${q}\n  }\n}\n`;
      const quorum = (s: string): unknown => (parse("q.policy", s).items[0] as { approval: { quorum: number } }).approval.quorum;
      expect(quorum(fmt("q.policy", t)), q).toBe(quorum(t));
    }
  });

  it("keeps the tree shape of nested same-operator groups", () => {
    const text = "POLICY p {\n  SCOPE: requests WHERE (a == 1 AND b == 2) AND c == 3 OR (d == 4 OR e == 5)\n}\n";
    expect(fmt("x.policy", text)).toContain("SCOPE: requests WHERE (a == 1 AND b == 2) AND c == 3 OR (d == 4 OR e == 5)\n");
  });

  it("keeps several end-of-line comments of one printed line", () => {
    const text = "POLICY p {\n  SCOPE: requests WHERE a IN [1, # one\n    2, # two\n    3] # three\n}\n";
    expect(fmt("x.policy", text)).toBe("POLICY p {\n  # one\n  # two\n  SCOPE: requests WHERE a IN [1, 2, 3]  # three\n}\n");
    checkProperties("x.policy", text);
  });
});

// --- generated inputs ------------------------------------------------------------

/** Deterministic generator of valid policy text with random layout and comments. */
class Gen {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 1;
  }
  private next(): number {
    // xorshift32
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 0x100000000;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  /** Whitespace, sometimes with a comment (which always ends its line). */
  ws(required = true): string {
    const r = this.int(10);
    if (r === 0) return ` ${this.pick(["#", "//"])} c${this.int(1000)}\n${this.pick(["", "  ", "\t"])}`;
    if (r === 1) return `\n${this.pick(["", "  "])}# own${this.int(1000)}\n${this.pick(["", "    "])}`;
    if (r === 2) return "\n";
    if (r === 3) return "\n    ";
    if (!required && r < 6) return "";
    return this.pick([" ", "  ", "\t"]);
  }
  kw(word: string): string {
    const r = this.int(4);
    return r === 0 ? word.toLowerCase() : r === 1 ? word[0]! + word.slice(1).toLowerCase() : word;
  }
  attr(): string {
    return this.pick(["a", "b.c", "customer.region", 'request.headers["x-id"]', 'metadata["jwt"].claims[0].role', "d.type", 'm["k\\"q"]']);
  }
  lit(): string {
    return this.pick(['"EU"', '""', '"tab\\there"', '"\\u00e9\\u0008"', "0", "-12", "3.50", "007", "true", "FALSE"]);
  }
  cond(depth: number): string {
    const w = (): string => this.ws();
    const o = (): string => this.ws(false);
    const r = depth > 3 ? this.int(6) : this.int(11);
    switch (r) {
      case 0:
        return `${this.attr()}${o()}${this.pick(["==", "=", "!=", "<", "<=", ">", ">="])}${o()}${this.lit()}`;
      case 1:
        // A literal first may not be a boolean: `true ==` would read as the constant TRUE.
        return `${this.pick(['"EU"', "0", "-12", "3.50"])}${o()}${this.pick(["==", "!=", "<", ">="])}${o()}${this.attr()}`;
      case 2: {
        const vals = Array.from({ length: this.int(4) }, () => this.lit());
        return `${this.attr()}${w()}${this.chance(0.3) ? `${this.kw("NOT")}${w()}` : ""}${this.kw("IN")}${o()}[${o()}${vals.join(`,${o()}`)}${vals.length > 0 && this.chance(0.2) ? "," : ""}${o()}]`;
      }
      case 3:
        return `${this.attr()}${w()}${this.kw(this.pick(["STARTS_WITH", "ENDS_WITH", "MATCHES"]))}${w()}${this.lit()}`;
      case 4:
        return `${this.kw("EXISTS")}${w()}${this.attr()}`;
      case 5:
        return this.kw(this.pick(["TRUE", "FALSE"]));
      case 6:
        return `${this.kw("NOT")}${w()}${this.cond(depth + 1)}`;
      case 7:
      case 8:
      case 9: {
        const op = this.kw(this.pick(["AND", "OR"]));
        const n = 2 + this.int(3);
        const items = Array.from({ length: n }, () => this.cond(depth + 1));
        return items.join(`${w()}${this.chance(0.5) ? op : this.kw(this.pick(["AND", "OR"]))}${w()}`);
      }
      default: {
        const [open, close] = this.pick([["(", ")"], ["{", "}"]] as const);
        return `${open}${o()}${this.cond(depth + 1)}${o()}${close}`;
      }
    }
  }
  clause(kw: string): string {
    const head = `${this.kw(kw)}${this.ws(false)}:${this.ws(false)}`;
    switch (kw) {
      case "DESCRIPTION":
        return head + this.pick(['"A policy"', '"quote \\" here"', '""']);
      case "SCOPE":
        return head + this.pick(["requests", "Requests", "orders"]) + (this.chance(0.7) ? `${this.ws()}${this.kw("WHERE")}${this.ws()}${this.cond(0)}` : "");
      case "CONSTRAINT":
        return head + this.cond(0);
      case "ENFORCEMENT":
        return head + this.kw(this.pick(["BLOCKING", "ADVISORY", "REQUIRE_APPROVAL"]));
      case "AUDIT":
        return head + this.kw("REQUIRED");
      case "EXCEPTION":
        return head + this.pick(["break_glass", "ops_override"]);
      default: {
        const entries: string[] = [];
        if (this.chance(0.8)) entries.push(`${this.kw("APPROVERS")}${this.ws(false)}:${this.ws(false)}${Array.from({ length: 1 + this.int(3) }, (_, i) => `"g${i}"`).join(`,${this.ws(false)}`)}`);
        if (this.chance(0.6)) entries.push(`${this.kw("QUORUM")}:${this.ws(false)}${1 + this.int(3)}${this.chance(0.3) ? "," : ""}`);
        if (this.chance(0.6)) entries.push(`${this.kw("TIMEOUT")}:${this.ws(false)}${this.pick(["15m", "1h30m", "2d"])}`);
        for (let i = entries.length - 1; i > 0; i--) {
          const j = this.int(i + 1);
          [entries[i], entries[j]] = [entries[j]!, entries[i]!];
        }
        return `${head}{${this.ws(false)}${entries.join(this.ws())}${this.ws(false)}}`;
      }
    }
  }
  policy(i: number): string {
    const kws = ["DESCRIPTION", "SCOPE", "CONSTRAINT", "ENFORCEMENT", "AUDIT", "EXCEPTION", "EXCEPTION", "APPROVAL"].filter(() => this.chance(0.7));
    for (let k = kws.length - 1; k > 0; k--) {
      const j = this.int(k + 1);
      [kws[k], kws[j]] = [kws[j]!, kws[k]!];
    }
    return `${this.kw("POLICY")}${this.ws()}p${i}${this.ws(false)}{${this.ws(false)}${kws.map((k) => this.clause(k)).join(this.ws())}${this.ws(false)}}`;
  }
  file(): string {
    const n = this.int(5);
    const items = Array.from({ length: n }, (_, i) => {
      const r = this.int(5);
      if (r === 0) return `${this.kw("DEFAULT")}${this.chance(0.5) ? ":" : ""}${this.ws()}${this.kw(this.pick(["ALLOW", "DENY"]))}`;
      if (r === 1) return `${this.kw("ATTRIBUTE")}${this.ws()}${this.attr()}${this.ws(false)}${this.pick(["=", "=="])}${this.ws(false)}${this.attr()}${this.chance(0.5) ? `${this.ws()}${this.kw("AS")}${this.ws()}${this.pick(["string", "NUMBER", "Bool"])}` : ""}`;
      return this.policy(i);
    });
    return `${this.ws(false)}${items.join(this.ws())}${this.ws(false)}${this.chance(0.5) ? "\n" : ""}`;
  }
}

describe("generated inputs", () => {
  it("round-trip and are idempotent", () => {
    for (let seed = 1; seed <= 400; seed++) {
      const text = new Gen(seed * 7919).file();
      try {
        checkProperties(`gen-${seed}.policy`, text);
      } catch (e) {
        throw new Error(`seed ${seed}: ${String(e)}\n--- input ---\n${text}`, { cause: e });
      }
    }
  });

  it("keep every line within 100 characters when it can be broken", () => {
    for (let seed = 1; seed <= 200; seed++) {
      const out = fmt("x.policy", new Gen(seed * 104729).file());
      for (const line of out.split("\n")) {
        const code = line.replace(/\s+(#|\/\/).*$/, "");
        if (code.length <= 100) continue;
        // Only unbreakable lines may be longer: no top-level AND/OR outside brackets and strings.
        let flat = code.replace(/"(?:[^"\\]|\\.)*"/g, '""');
        for (let prev = ""; prev !== flat; ) [prev, flat] = [flat, flat.replace(/\([^()]*\)/g, "_")];
        expect(/ (AND|OR) /.test(flat), line).toBe(false);
      }
    }
  });
});
