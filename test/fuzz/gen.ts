// Random well-typed policy programs for differential testing, with an
// independent model of their meaning. The generator builds a small condition
// tree per policy, renders it as policy-language text (random keyword case,
// `=`/`==`, literal-on-left comparisons, `( )`/`{ }` grouping), and evaluates
// the same tree itself, so the test compares three implementations: this
// model, the reference interpreter and the compiled WebAssembly.

import type { Rng } from "./prng.js";
import { validateGlob } from "../../src/legislative/glob.js";

export type MType = "string" | "number" | "bool";
/** What a slot holds: the canonical source text plus the slot type. */
export type SlotKey = `${string}:${MType | "any"}`;
export type MValue = string | number | boolean | undefined;

interface AttrDef {
  /** As written in a policy. */
  text: string;
  /** Canonical source text (`sourceText` of the resolved source). */
  source: string;
  /** `dynamic` attributes take their type from the use. */
  type: MType | "dynamic";
}

/** Attributes declared at the top of every generated program. */
export const DECLARATIONS = [
  'ATTRIBUTE resource.type = request.headers["x-resource-type"]',
  'ATTRIBUTE app.region = request.headers["X-Region"]',
  'attribute app.tier = request.query["tier"] as STRING',
  'ATTRIBUTE app.path = request.headers["x-path"]',
  'ATTRIBUTE app.count = request.headers["x-count"] AS number',
  "ATTRIBUTE app.score == request.body.score AS number",
  'ATTRIBUTE app.flag = request.headers["x-flag"] AS bool',
  'ATTRIBUTE app.admin = context["admin"] AS boolean',
];

const ATTRS: readonly AttrDef[] = [
  { text: "resource.type", source: 'request.headers["x-resource-type"]', type: "string" },
  { text: "app.region", source: 'request.headers["x-region"]', type: "string" },
  { text: 'request.headers["x-region"]', source: 'request.headers["x-region"]', type: "string" },
  { text: "app.tier", source: 'request.query["tier"]', type: "string" },
  { text: "app.path", source: 'request.headers["x-path"]', type: "string" },
  { text: "request.method", source: "request.method", type: "string" },
  { text: "request.path", source: "request.path", type: "string" },
  { text: "request.host", source: "request.host", type: "string" },
  { text: "source.principal", source: "source.principal", type: "string" },
  { text: 'request.headers["X-Count"]', source: 'request.headers["x-count"]', type: "string" },
  { text: 'context["zone"]', source: 'context["zone"]', type: "string" },
  { text: "app.count", source: 'request.headers["x-count"]', type: "number" },
  { text: "app.score", source: "request.body.score", type: "number" },
  { text: "source.port", source: "source.port", type: "number" },
  { text: "destination.port", source: "destination.port", type: "number" },
  { text: "app.flag", source: 'request.headers["x-flag"]', type: "bool" },
  { text: "app.admin", source: 'context["admin"]', type: "bool" },
  { text: "request.body.user.role", source: "request.body.user.role", type: "dynamic" },
  { text: 'metadata["jwt"].claims.level', source: 'metadata["jwt"].claims.level', type: "dynamic" },
  { text: "request.body.items[0].id", source: "request.body.items[0].id", type: "dynamic" },
  { text: 'request.body["weird key"]', source: 'request.body["weird key"]', type: "dynamic" },
];

/** String literals; every one is a valid policy-language string once JSON-quoted. */
export const STRINGS = ["a", "b", "ab", "eu", "EU", "us", "GET", "POST", "customer_data", "orders", "/a/b", "/a", "", "x y", "\u00e9", "\u65e5\u672c", 'q"t', "back\\slash", "tab\there", "123", "true"];
/** Strings no program mentions (unknown to every dictionary). */
export const UNKNOWN_STRINGS = ["unknown", "other", "EU ", "a/b/c", "\u00e9\u00e9", "zz"];
export const NUMBERS = [0, 1, -1, 2.5, 10, 443, 8080, -0.5, 100, 3];
const EXTRA_NUMBERS = [0.5, 2.4999, 11, -2, 1e6, -0, 9007199254740991];
const AFFIXES = ["a", "/a", "", "b", "/", "eu", "E", "\u00e9", "\u65e5", "b/", "/b"];
export const SUBJECTS = ["customer_data", "orders"];
export const EXCEPTIONS = ["break_glass", "e1", "e2"];
const ENFORCEMENTS = ["BLOCKING", "ADVISORY", "AUDIT_ONLY", "REQUIRE_APPROVAL"] as const;
type Enf = (typeof ENFORCEMENTS)[number];

export type MCond =
  | { k: "and" | "or"; items: MCond[] }
  | { k: "not"; x: MCond }
  | { k: "const"; v: boolean }
  | { k: "exists"; slot: SlotKey; text: string }
  | { k: "cmp"; op: "==" | "!=" | "<" | "<=" | ">" | ">="; slot: SlotKey; text: string; v: string | number | boolean; flipped: boolean }
  | { k: "cmp_attr"; op: "==" | "!="; a: SlotKey; at: string; b: SlotKey; bt: string }
  | { k: "in"; neg: boolean; slot: SlotKey; text: string; vals: Array<string | number | boolean> }
  | { k: "strop"; op: "STARTS_WITH" | "ENDS_WITH" | "MATCHES"; slot: SlotKey; text: string; v: string };

export interface MPolicy {
  name: string;
  subject: string | undefined;
  where: MCond | undefined;
  constraint: MCond | undefined;
  enforcement: Enf;
  exceptions: string[];
}

export interface MProgram {
  text: string;
  defaultEffect: "allow" | "deny";
  policies: MPolicy[];
  /** String literals used for equality (values drawn from these hit the dictionary). */
  strings: string[];
}

const kw = (rng: Rng, w: string): string => (rng.chance(0.2) ? w.toLowerCase() : rng.chance(0.05) ? w[0] + w.slice(1).toLowerCase() : w);
export const quote = (s: string): string => JSON.stringify(s);
const key = (source: string, t: MType | "any"): SlotKey => `${source}:${t}`;

/** A random valid glob: segments of literals, `*` runs inside segments and whole-segment `**`. */
export function randomGlob(rng: Rng): string {
  for (;;) {
    const segs: string[] = [];
    const n = rng.int(1, 5);
    let globstars = 0;
    for (let i = 0; i < n; i++) {
      segs.push(
        rng.weighted<() => string>([
          [3, () => rng.string("ab", rng.int(1, 2))],
          [2, () => "*"],
          [globstars < 4 ? 2 : 0, () => (globstars++, "**")],
          [3, () => rng.pick(["a*", "*b", "b*c", "*a*", "a*b*", "*.json", "*x"])],
          [1, () => ""],
        ])(),
      );
    }
    const p = (rng.chance(0.8) ? "/" : "") + segs.join("/") + (rng.chance(0.15) ? "/" : "");
    if (validateGlob(p) === undefined) return p;
  }
}

/** A random string over `alphabet` of length 0..max. */
export function pathLike(rng: Rng, max = 10): string {
  const segs: string[] = [];
  const n = rng.int(0, 4);
  for (let i = 0; i < n; i++) segs.push(rng.string("ab", rng.int(0, 3)) + (rng.chance(0.2) ? rng.pick(["c", "x", ".json", "d"]) : ""));
  const s = (rng.chance(0.85) ? "/" : "") + segs.join("/") + (rng.chance(0.2) ? "/" : "");
  return s.length > max * 3 ? s.slice(0, max * 3) : s;
}

class ProgramGen {
  readonly strings = new Set<string>();

  constructor(private readonly rng: Rng) {}

  private attr(filter: (a: AttrDef) => boolean): AttrDef {
    return this.rng.pick(ATTRS.filter(filter));
  }

  private literal(t: MType): string | number | boolean {
    const r = this.rng;
    if (t === "string") {
      const s = r.pick(STRINGS);
      this.strings.add(s);
      return s;
    }
    if (t === "number") return r.pick(NUMBERS);
    return r.chance(0.5);
  }

  private renderLit(v: string | number | boolean): string {
    if (typeof v === "string") return quote(v);
    if (typeof v === "number") return String(v);
    return kw(this.rng, v ? "TRUE" : "FALSE");
  }

  atom(): MCond {
    const r = this.rng;
    return r.weighted<() => MCond>([
      [1, () => ({ k: "const", v: r.chance(0.5) })],
      [2, () => {
        const a = this.attr(() => true);
        const t = a.type === "dynamic" ? "any" : a.type;
        return { k: "exists", slot: key(a.source, t), text: a.text };
      }],
      [10, () => {
        const a = this.attr(() => true);
        const t: MType = a.type === "dynamic" ? r.pick(["string", "number", "bool"] as const) : a.type;
        const ops = t === "number" ? (["==", "!=", "<", "<=", ">", ">="] as const) : (["==", "!="] as const);
        const op = r.pick(ops);
        // literal-on-left is only for strings and numbers
        const flipped = t !== "bool" && r.chance(0.25);
        return { k: "cmp", op, slot: key(a.source, t), text: a.text, v: this.literal(t), flipped };
      }],
      [3, () => {
        const t = r.pick(["string", "number", "bool"] as const);
        const a = this.attr((x) => x.type === t || x.type === "dynamic");
        const b = this.attr((x) => x.type === t || x.type === "dynamic");
        // two dynamic attributes compare as strings; one takes the other's type
        const tt: MType = a.type === "dynamic" && b.type === "dynamic" ? "string" : t;
        return { k: "cmp_attr", op: r.pick(["==", "!="] as const), a: key(a.source, tt), at: a.text, b: key(b.source, tt), bt: b.text };
      }],
      [4, () => {
        const a = this.attr(() => true);
        const n = r.weighted<number>([[1, 0], [5, 1], [6, 3], [3, 15]]);
        // an empty list gives a dynamic attribute the type string
        const t: MType = a.type !== "dynamic" ? a.type : n === 0 ? "string" : r.pick(["string", "number", "bool"] as const);
        const vals: Array<string | number | boolean> = [];
        for (let i = 0; i < n; i++) vals.push(this.literal(t));
        return { k: "in", neg: r.chance(0.35), slot: key(a.source, t), text: a.text, vals };
      }],
      [5, () => {
        const a = this.attr((x) => x.type === "string" || x.type === "dynamic");
        const op = r.pick(["STARTS_WITH", "ENDS_WITH", "MATCHES", "MATCHES"] as const);
        const v = op === "MATCHES" ? randomGlob(r) : r.pick(AFFIXES);
        return { k: "strop", op, slot: key(a.source, "string"), text: a.text, v };
      }],
    ])();
  }

  cond(depth: number): MCond {
    const r = this.rng;
    if (depth <= 0) return this.atom();
    return r.weighted<() => MCond>([
      [5, () => this.atom()],
      [3, () => ({ k: "and", items: Array.from({ length: r.int(2, 4) }, () => this.cond(depth - 1)) })],
      [3, () => ({ k: "or", items: Array.from({ length: r.int(2, 4) }, () => this.cond(depth - 1)) })],
      [1.5, () => ({ k: "not", x: this.cond(depth - 1) })],
    ])();
  }

  /** Render with just enough grouping; randomly adds redundant `( )`/`{ }`. */
  render(c: MCond, ctx: "or" | "and" | "not" | "top"): string {
    const r = this.rng;
    const group = (s: string): string => (r.chance(0.5) ? `(${s})` : `{ ${s} }`);
    let s: string;
    let needs: boolean;
    switch (c.k) {
      case "and":
      case "or":
        s = c.items.map((x) => this.render(x, c.k)).join(` ${kw(r, c.k.toUpperCase())} `);
        needs = (c.k === "or" && (ctx === "and" || ctx === "not")) || (c.k === "and" && ctx === "not");
        break;
      case "not":
        s = `${kw(r, "NOT")} ${this.render(c.x, "not")}`;
        needs = false;
        break;
      case "const":
        s = kw(r, c.v ? "TRUE" : "FALSE");
        needs = false;
        break;
      case "exists":
        s = `${kw(r, "EXISTS")} ${c.text}`;
        needs = false;
        break;
      case "cmp": {
        const op = c.op === "==" ? r.pick(["==", "="]) : c.op;
        if (c.flipped) {
          const back = { "<": ">", ">": "<", "<=": ">=", ">=": "<=" } as Record<string, string>;
          s = `${this.renderLit(c.v)} ${back[c.op] ?? op} ${c.text}`;
        } else s = `${c.text} ${op} ${this.renderLit(c.v)}`;
        needs = false;
        break;
      }
      case "cmp_attr":
        s = `${c.at} ${c.op === "==" ? r.pick(["==", "="]) : "!="} ${c.bt}`;
        needs = false;
        break;
      case "in": {
        const list = c.vals.map((v) => this.renderLit(v)).join(", ") + (c.vals.length > 0 && r.chance(0.1) ? "," : "");
        s = `${c.text} ${c.neg ? `${kw(r, "NOT")} ` : ""}${kw(r, "IN")} [${list}]`;
        needs = false;
        break;
      }
      case "strop":
        s = `${c.text} ${kw(r, c.op)} ${quote(c.v)}`;
        needs = false;
        break;
    }
    return needs || r.chance(0.08) ? group(s) : s;
  }

  program(maxPolicies: number): MProgram {
    const r = this.rng;
    const policies: MPolicy[] = [];
    const blocks: string[] = [];
    const n = r.int(1, maxPolicies);
    for (let i = 0; i < n; i++) {
      const subject = r.chance(0.35) ? r.pick(SUBJECTS) : undefined;
      if (subject) this.strings.add(subject);
      const where = r.chance(0.6) ? this.cond(r.int(0, 2)) : undefined;
      const constraint = r.chance(0.85) ? this.cond(r.int(0, 3)) : undefined;
      const enforcement = r.pick(ENFORCEMENTS);
      const exceptions = r.subset(EXCEPTIONS, 0.25);
      const name = `p${i}_${r.string("abcxyz", 3)}`;
      policies.push({ name, subject, where, constraint, enforcement, exceptions });
      const clauses: string[] = [];
      if (r.chance(0.5)) clauses.push(`${kw(r, "DESCRIPTION")}: ${quote(`policy ${i}`)}`);
      clauses.push(`${kw(r, "SCOPE")}: ${subject ?? kw(r, "requests")}${where ? ` ${kw(r, "WHERE")} ${this.render(where, "top")}` : ""}`);
      if (constraint) clauses.push(`${kw(r, "CONSTRAINT")}: ${this.render(constraint, "top")}`);
      clauses.push(`${kw(r, "ENFORCEMENT")}: ${kw(r, enforcement)}`);
      if (r.chance(0.4)) clauses.push(`${kw(r, "AUDIT")}: ${kw(r, r.pick(["REQUIRED", "OPTIONAL"]))}`);
      for (const e of exceptions) clauses.push(`${kw(r, "EXCEPTION")}: ${e}`);
      if (enforcement === "REQUIRE_APPROVAL") {
        clauses.push(`${kw(r, "APPROVAL")}: { ${kw(r, "APPROVERS")}: "sre", "sec" ${kw(r, "QUORUM")}: ${r.int(1, 3)} ${kw(r, "TIMEOUT")}: ${r.pick(["15m", "1h30m", "30s", "2d"])} }`);
      }
      // clause order does not matter to the language
      for (let k = clauses.length - 1; k > 0; k--) {
        const j = r.int(0, k);
        [clauses[k], clauses[j]] = [clauses[j]!, clauses[k]!];
      }
      const sep = r.chance(0.5) ? "\n  " : " ";
      blocks.push(`${kw(r, "POLICY")} ${name} {${sep}${clauses.join(sep)}${sep === " " ? " " : "\n"}}`);
    }
    const def = r.pick([undefined, "ALLOW", "DENY"] as const);
    const header = [...DECLARATIONS];
    if (def) header.splice(r.int(0, header.length), 0, `${kw(r, "DEFAULT")}${r.chance(0.8) ? ":" : ""} ${kw(r, def)}`);
    if (r.chance(0.3)) header.push("# a comment", "// another comment");
    const text = `${header.join("\n")}\n\n${blocks.join("\n\n")}\n`;
    return { text, defaultEffect: def === "DENY" ? "deny" : "allow", policies, strings: [...this.strings].sort() };
  }
}

export function genProgram(rng: Rng, maxPolicies = 6): MProgram {
  return new ProgramGen(rng).program(maxPolicies);
}

// --- model semantics -----------------------------------------------------------

/** Independent glob matcher: memoized recursion over (pattern index, string index). */
export function modelGlob(p: string, s: string): boolean {
  const memo = new Map<number, boolean>();
  const go = (i: number, j: number): boolean => {
    const k = i * (s.length + 1) + j;
    const hit = memo.get(k);
    if (hit !== undefined) return hit;
    let res: boolean;
    if (i === p.length) res = j === s.length;
    else if (p[i] === "*" && p[i + 1] === "*") {
      if (p[i + 2] === "/") {
        // `**/` is zero segments, or any run that ends with `/`
        res = go(i + 3, j);
        for (let m = j; !res && m < s.length; m++) if (s[m] === "/") res = go(i + 3, m + 1);
      } else {
        res = false;
        for (let m = j; !res && m <= s.length; m++) res = go(i + 2, m);
      }
    } else if (p[i] === "*") {
      res = go(i + 1, j);
      for (let m = j; !res && m < s.length && s[m] !== "/"; m++) res = go(i + 1, m + 1);
    } else res = j < s.length && s[j] === p[i] && go(i + 1, j + 1);
    memo.set(k, res);
    return res;
  };
  return go(0, 0);
}

export type SlotLookup = (k: SlotKey) => MValue;

export function modelHolds(c: MCond, get: SlotLookup): boolean {
  switch (c.k) {
    case "and":
      return c.items.every((x) => modelHolds(x, get));
    case "or":
      return c.items.some((x) => modelHolds(x, get));
    case "not":
      return !modelHolds(c.x, get);
    case "const":
      return c.v;
    case "exists":
      return get(c.slot) !== undefined;
    case "cmp": {
      const x = get(c.slot);
      if (x === undefined) return false;
      const v = c.v;
      switch (c.op) {
        case "==":
          return x === v;
        case "!=":
          return x !== v;
        case "<":
          return (x as number) < (v as number);
        case "<=":
          return (x as number) <= (v as number);
        case ">":
          return (x as number) > (v as number);
        case ">=":
          return (x as number) >= (v as number);
      }
      return false;
    }
    case "cmp_attr": {
      const a = get(c.a);
      const b = get(c.b);
      if (a === undefined || b === undefined) return false;
      return c.op === "==" ? a === b : a !== b;
    }
    case "in": {
      const x = get(c.slot);
      if (x === undefined) return false;
      return c.vals.includes(x) !== c.neg;
    }
    case "strop": {
      const x = get(c.slot);
      if (typeof x !== "string") return false;
      return c.op === "STARTS_WITH" ? x.startsWith(c.v) : c.op === "ENDS_WITH" ? x.endsWith(c.v) : modelGlob(c.v, x);
    }
  }
}

export interface ModelDecision {
  effect: "allow" | "deny" | "pause";
  violated: string[];
  waived: string[];
  defaulted: boolean;
}

export function modelDecide(p: MProgram, get: SlotLookup, waivers: ReadonlySet<string>): ModelDecision {
  const violated: string[] = [];
  const waived: string[] = [];
  let inScope = false;
  let block = false;
  let pause = false;
  for (const pol of p.policies) {
    const subjectOk = pol.subject === undefined || get(key('request.headers["x-resource-type"]', "string")) === pol.subject;
    if (!subjectOk || (pol.where && !modelHolds(pol.where, get))) continue;
    inScope = true;
    if (pol.constraint && modelHolds(pol.constraint, get)) continue;
    if (pol.exceptions.some((e) => waivers.has(e))) {
      waived.push(pol.name);
      continue;
    }
    violated.push(pol.name);
    if (pol.enforcement === "BLOCKING") block = true;
    if (pol.enforcement === "REQUIRE_APPROVAL") pause = true;
  }
  const effect = block ? "deny" : pause ? "pause" : !inScope && p.defaultEffect === "deny" ? "deny" : "allow";
  return { effect, violated, waived, defaulted: !inScope };
}

// --- slot values -----------------------------------------------------------------

/** A value for a slot of type `t`, biased toward interesting cases. */
export function randomSlotValue(rng: Rng, t: MType | "any", dictionary: readonly string[], shared: readonly MValue[]): MValue {
  if (rng.chance(0.15)) return undefined;
  switch (t) {
    case "any":
      return true;
    case "bool":
      return rng.chance(0.5);
    case "number":
      return rng.weighted<() => number>([
        [5, () => rng.pick(NUMBERS)],
        [2, () => rng.pick(EXTRA_NUMBERS)],
        [1, () => rng.int(-3, 12)],
      ])();
    case "string":
      return rng.weighted<() => string>([
        [5, () => (dictionary.length > 0 ? rng.pick(dictionary) : rng.pick(STRINGS))],
        [2, () => rng.pick(STRINGS)],
        [2, () => rng.pick(UNKNOWN_STRINGS)],
        [3, () => pathLike(rng)],
        [2, () => {
          // reuse a string another slot already holds (same unknown string in two slots)
          const strs = shared.filter((x): x is string => typeof x === "string");
          return strs.length > 0 ? rng.pick(strs) : rng.pick(UNKNOWN_STRINGS);
        }],
        [1, () => rng.pick(AFFIXES) + rng.pick(STRINGS) + rng.pick(AFFIXES)],
      ])();
  }
}
