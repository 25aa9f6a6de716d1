// Semantic analysis: resolves attribute references to typed slots, checks
// types and policy structure, and produces the CheckedProgram that both the
// reference interpreter and the compiler's planner consume. Every problem is a
// diagnostic; nothing here throws on user input.

import type { AttrRef, AttrType, Cond, Enforcement, Literal, PolicyFile } from "./ast.js";
import { ENFORCEMENTS } from "./ast.js";
import { suggest, type DiagnosticBag, type Span } from "./diagnostics.js";
import { BUILTIN_NAMES, BUILTIN_ROOTS, lookupBuiltin, sourceText, type AttributeSource, type SourceType } from "./sources.js";
import { validateGlob } from "./glob.js";

/** `any` slots carry presence only (EXISTS on a JSON body/metadata path). */
export type SlotType = AttrType | "any";
export type Scalar = string | number | boolean;

export interface Slot {
  index: number;
  /** The name policies use: a declared attribute or the source text itself. */
  name: string;
  source: AttributeSource;
  type: SlotType;
}

export type CheckedCond =
  | { k: "and"; items: CheckedCond[] }
  | { k: "or"; items: CheckedCond[] }
  | { k: "not"; operand: CheckedCond }
  | { k: "const"; value: boolean }
  | { k: "exists"; slot: number }
  | { k: "cmp"; op: "==" | "!=" | "<" | "<=" | ">" | ">="; slot: number; value: Scalar }
  | { k: "cmp_attr"; op: "==" | "!="; a: number; b: number }
  | { k: "in"; negated: boolean; slot: number; values: Scalar[] }
  | { k: "strop"; op: "starts_with" | "ends_with" | "matches"; slot: number; value: string };

export interface ApprovalSettings {
  approvers: string[];
  quorum: number;
  timeoutMs: number;
}

export interface CheckedPolicy {
  index: number;
  name: string;
  description: string;
  /** Subject and WHERE combined; `{k:"const",value:true}` for `requests`. */
  scope: CheckedCond;
  /** Absent: every in-scope request violates. */
  constraint: CheckedCond | undefined;
  enforcement: Enforcement;
  audit: "REQUIRED" | "OPTIONAL";
  exceptions: string[];
  approval: ApprovalSettings | undefined;
  location: { file: string; line: number; col: number };
}

export interface CheckedProgram {
  defaultEffect: "allow" | "deny";
  slots: Slot[];
  policies: CheckedPolicy[];
  /** Sorted, unique exception names used by any policy. */
  exceptions: string[];
}

interface DeclInfo {
  name: string;
  source: AttributeSource;
  type: SourceType;
  span: Span;
}

const MAX_TIMEOUT_MS = 30 * 24 * 3600 * 1000;

export function parseDuration(text: string): number | undefined {
  const m = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  if (!m || text === "") return undefined;
  const [d, h, mi, s] = [m[1], m[2], m[3], m[4]].map((x) => (x === undefined ? 0 : Number(x))) as [number, number, number, number];
  return (((d * 24 + h) * 60 + mi) * 60 + s) * 1000;
}

export function checkProgram(files: readonly PolicyFile[], diags: DiagnosticBag): CheckedProgram {
  return new Checker(diags).run(files);
}

class Checker {
  private readonly decls = new Map<string, DeclInfo>();
  private readonly slots: Slot[] = [];
  private readonly slotKeys = new Map<string, number>();

  constructor(private readonly diags: DiagnosticBag) {}

  run(files: readonly PolicyFile[]): CheckedProgram {
    let defaultEffect: "allow" | "deny" = "allow";
    let defaultSpan: Span | undefined;
    // pass 1: declarations (bundle-wide, order independent)
    for (const f of files) {
      for (const item of f.items) {
        if (item.kind === "attribute") this.declare(item.name, item.nameSpan, item.source, item.type);
        else if (item.kind === "default") {
          const v = item.value.toUpperCase();
          if (defaultSpan) {
            this.diags.add("E411", item.span, "`DEFAULT` may appear only once per bundle", { related: { span: defaultSpan, message: "first set here" } });
          } else if (v !== "ALLOW" && v !== "DENY") {
            this.diags.add("E411", item.span, `unknown DEFAULT \`${item.value}\``, { help: "use `DEFAULT: ALLOW` or `DEFAULT: DENY`" });
          } else {
            defaultEffect = v === "ALLOW" ? "allow" : "deny";
          }
          defaultSpan ??= item.span;
        }
      }
    }
    // pass 2: policies
    const policies: CheckedPolicy[] = [];
    const names = new Map<string, Span>();
    for (const f of files) {
      for (const item of f.items) {
        if (item.kind !== "policy") continue;
        const prev = names.get(item.name);
        if (prev) {
          this.diags.add("E204", item.nameSpan, `duplicate policy name \`${item.name}\``, { related: { span: prev, message: "first defined here" } });
          continue;
        }
        names.set(item.name, item.nameSpan);
        const checked = this.policy(item, policies.length);
        if (checked) policies.push(checked);
      }
    }
    const exceptions = [...new Set(policies.flatMap((p) => p.exceptions))].sort();
    return { defaultEffect, slots: this.slots, policies, exceptions };
  }

  private declare(name: string, nameSpan: Span, sourceRef: AttrRef, type: { value: string; span: Span } | undefined): void {
    const root = name.split(/[.[]/)[0] ?? "";
    const asBuiltin = lookupBuiltin({ kind: "attr", segments: parseNameSegments(name), text: name, span: nameSpan });
    const example = `app.${name.replace(/^[^.]*\./, "")}`;
    if (asBuiltin.ok) {
      this.diags.add("E206", nameSpan, `attribute name \`${name}\` is a built-in attribute`, {
        help: `use \`${name}\` directly without declaring it, or choose another name such as \`${example}\``,
      });
      return;
    }
    if (BUILTIN_ROOTS.has(root) && root !== "source" && root !== "destination") {
      this.diags.add("E206", nameSpan, `attribute name \`${name}\` collides with the built-in \`${root}\` namespace`, {
        help: `choose a name outside \`request\`, \`context\` and \`metadata\`, such as \`${example}\``,
      });
      return;
    }
    const prev = this.decls.get(name);
    if (prev) {
      this.diags.add("E202", nameSpan, `attribute \`${name}\` is already declared`, { related: { span: prev.span, message: "first declared here" } });
      return;
    }
    const b = lookupBuiltin(sourceRef);
    if (!b.ok) {
      this.diags.add("E203", sourceRef.span, b.message ?? `\`${sourceRef.text}\` is not a built-in source`, {
        help: b.help ?? "an attribute maps onto a built-in source such as `request.headers[\"x-tenant\"]` or `request.body.customer.region`",
      });
      return;
    }
    let t: SourceType = b.type === "dynamic" ? "dynamic" : b.type;
    if (type) {
      const v = type.value.toLowerCase();
      if (v === "string" || v === "number" || v === "bool") t = v;
      else if (v === "boolean") t = "bool";
      else {
        this.diags.add("E414", type.span, `unknown attribute type \`${type.value}\``, { help: "types are `string`, `number` and `bool`" });
        return;
      }
    } else if (b.type === "dynamic") t = "dynamic";
    this.decls.set(name, { name, source: b.source, type: t, span: nameSpan });
  }

  private slot(name: string, source: AttributeSource, type: SlotType): number {
    const key = `${sourceText(source)}:${type}`;
    const hit = this.slotKeys.get(key);
    if (hit !== undefined) return hit;
    const index = this.slots.length;
    this.slots.push({ index, name, source, type });
    this.slotKeys.set(key, index);
    return index;
  }

  /** Resolve a reference to its source and (possibly dynamic) type; undefined after a diagnostic. */
  private resolve(ref: AttrRef): { name: string; source: AttributeSource; type: SourceType } | undefined {
    const d = this.decls.get(ref.text);
    if (d) return d;
    const b = lookupBuiltin(ref);
    if (b.ok) return { name: ref.text, source: b.source, type: b.type };
    const guess = suggest(ref.text, [...this.decls.keys(), ...BUILTIN_NAMES.filter((n) => !n.includes("…"))]);
    if (b.builtinRoot) {
      this.diags.add("E201", ref.span, b.message ?? `unknown attribute \`${ref.text}\``, { help: guess ? `did you mean \`${guess}\`?` : (b.help ?? "") });
    } else {
      this.diags.add("E201", ref.span, `unknown attribute \`${ref.text}\``, {
        help: guess
          ? `did you mean \`${guess}\`?`
          : `declare it, e.g. \`ATTRIBUTE ${ref.text} = request.headers["x-${ref.text.replace(/[^A-Za-z0-9]+/g, "-").toLowerCase()}"]\``,
      });
    }
    return undefined;
  }

  private policy(p: import("./ast.js").PolicyDecl, index: number): CheckedPolicy | undefined {
    let ok = true;
    let enforcement: Enforcement | undefined;
    // A clause that appeared but failed to parse was already reported (E103): no "missing" cascade.
    const attempted = (kw: string): boolean => p.attempted.includes(kw);
    if (!p.enforcement && attempted("ENFORCEMENT")) ok = false;
    else if (!p.enforcement) {
      this.diags.add("E401", p.nameSpan, `policy \`${p.name}\` has no ENFORCEMENT`, {
        help: "add `ENFORCEMENT: BLOCKING`, `ADVISORY`, `AUDIT_ONLY` or `REQUIRE_APPROVAL`",
      });
      ok = false;
    } else {
      const v = p.enforcement.value.toUpperCase();
      if ((ENFORCEMENTS as readonly string[]).includes(v)) enforcement = v as Enforcement;
      else {
        const g = suggest(v, ENFORCEMENTS);
        this.diags.add("E402", p.enforcement.span, `unknown ENFORCEMENT mode \`${p.enforcement.value}\``, {
          help: g ? `did you mean \`${g}\`?` : `modes are ${ENFORCEMENTS.map((e) => `\`${e}\``).join(", ")}`,
        });
        ok = false;
      }
    }
    let audit: "REQUIRED" | "OPTIONAL" = "OPTIONAL";
    if (p.audit) {
      const v = p.audit.value.toUpperCase();
      if (v === "REQUIRED" || v === "OPTIONAL") audit = v;
      else {
        this.diags.add("E410", p.audit.span, `unknown AUDIT value \`${p.audit.value}\``, { help: "use `REQUIRED` or `OPTIONAL`" });
        ok = false;
      }
    }
    let approval: ApprovalSettings | undefined;
    if (p.approval) {
      if (enforcement !== undefined && enforcement !== "REQUIRE_APPROVAL") {
        this.diags.add("E403", p.approval.span, `APPROVAL is only valid with \`ENFORCEMENT: REQUIRE_APPROVAL\` (policy \`${p.name}\` is ${enforcement})`);
        ok = false;
      }
      const a = p.approval;
      // an entry that appeared but failed to parse was already reported (E103)
      const broken = (w: string): boolean => a.attempted.includes(w);
      if (a.approvers.length === 0 && broken("APPROVERS")) ok = false;
      else if (a.approvers.length === 0) {
        this.diags.add("E413", a.span, "APPROVAL needs `APPROVERS:` with at least one group", { help: 'e.g. `APPROVERS: "sre-oncall"`' });
        ok = false;
      }
      a.approvers.forEach((g, i) => {
        if (g.trim() === "") {
          this.diags.add("E413", a.approverSpans[i] ?? a.span, "approver group names must not be empty");
          ok = false;
        }
      });
      const quorum = a.quorum ?? 1;
      if (!Number.isInteger(quorum) || quorum < 1 || quorum > 100) {
        this.diags.add("E409", a.quorumSpan ?? a.span, `QUORUM must be a whole number from 1 to 100, not \`${quorum}\``);
        ok = false;
      }
      let timeoutMs = 0;
      if (!a.timeout && broken("TIMEOUT")) ok = false;
      else if (!a.timeout) {
        this.diags.add("E413", a.span, "APPROVAL needs `TIMEOUT:`", { help: "e.g. `TIMEOUT: 15m`; an expired approval always denies" });
        ok = false;
      } else {
        const ms = parseDuration(a.timeout.text);
        if (ms === undefined || ms <= 0 || ms > MAX_TIMEOUT_MS) {
          this.diags.add("E407", a.timeout.span, `invalid duration \`${a.timeout.text}\``, {
            help: "write a positive duration of at most 30d using d, h, m, s in that order, e.g. `15m` or `1h30m`",
          });
          ok = false;
        } else timeoutMs = ms;
      }
      approval = { approvers: [...a.approvers], quorum, timeoutMs };
    } else if (enforcement === "REQUIRE_APPROVAL" && attempted("APPROVAL")) {
      ok = false;
    } else if (enforcement === "REQUIRE_APPROVAL") {
      this.diags.add("E404", p.enforcement!.span, `policy \`${p.name}\` requires approval but has no APPROVAL block`, {
        help: 'add `APPROVAL: { APPROVERS: "group" QUORUM: 1 TIMEOUT: 15m }`',
      });
      ok = false;
    }

    let scope: CheckedCond | undefined;
    if (!p.scope && attempted("SCOPE")) ok = false;
    else if (!p.scope) {
      this.diags.add("E406", p.nameSpan, `policy \`${p.name}\` has no SCOPE`, { help: "add `SCOPE: requests` to apply it to every request" });
      ok = false;
    } else {
      const parts: CheckedCond[] = [];
      if (p.scope.subject.toLowerCase() !== "requests") {
        const rt = this.decls.get("resource.type");
        if (!rt) {
          this.diags.add("E205", p.scope.subjectSpan, `scope subject \`${p.scope.subject}\` needs the attribute \`resource.type\` to be declared`, {
            help: 'declare it, e.g. `ATTRIBUTE resource.type = request.headers["x-resource-type"]`, or use `SCOPE: requests WHERE …`',
          });
          ok = false;
        } else {
          const slot = this.slot("resource.type", rt.source, rt.type === "dynamic" ? "string" : rt.type);
          if (this.slots[slot]!.type !== "string") {
            this.diags.add("E301", p.scope.subjectSpan, "scope subject needs `resource.type` to be a string attribute");
            ok = false;
          }
          parts.push({ k: "cmp", op: "==", slot, value: p.scope.subject });
        }
      }
      if (p.scope.where) {
        const w = this.cond(p.scope.where);
        if (w) parts.push(w);
        else ok = false;
      }
      scope = parts.length === 0 ? { k: "const", value: true } : parts.length === 1 ? parts[0]! : { k: "and", items: parts };
      if (ok && neverMatches(scope)) {
        this.diags.add("W501", p.scope.span, `the scope of policy \`${p.name}\` can never match`, {
          help: "its conditions contradict each other, so the policy never applies",
        });
      }
    }
    let constraint: CheckedCond | undefined;
    if (p.constraint) {
      constraint = this.cond(p.constraint);
      if (!constraint) ok = false;
    }
    if (!ok || !scope || !enforcement) return undefined;
    return {
      index,
      name: p.name,
      description: p.description ?? "",
      scope,
      constraint,
      enforcement,
      audit,
      exceptions: p.exceptions.map((e) => e.name),
      approval,
      location: { file: p.nameSpan.file, line: p.nameSpan.line, col: p.nameSpan.col },
    };
  }

  private litType(l: Literal): AttrType {
    return l.kind === "str" ? "string" : l.kind === "num" ? "number" : "bool";
  }

  /** Returns undefined after reporting a diagnostic. */
  private cond(c: Cond): CheckedCond | undefined {
    switch (c.kind) {
      case "and":
      case "or": {
        const items = c.items.map((i) => this.cond(i));
        if (items.some((i) => i === undefined)) return undefined;
        return { k: c.kind, items: items as CheckedCond[] };
      }
      case "not": {
        const o = this.cond(c.operand);
        return o && { k: "not", operand: o };
      }
      case "const":
        return { k: "const", value: c.value };
      case "exists": {
        const r = this.resolve(c.attr);
        if (!r) return undefined;
        return { k: "exists", slot: this.slot(r.name, r.source, r.type === "dynamic" ? "any" : r.type) };
      }
      case "cmp": {
        const l = this.resolve(c.left);
        if (c.right.kind === "attr") {
          const r = this.resolve(c.right);
          if (!l || !r) return undefined;
          if (c.op !== "==" && c.op !== "!=") {
            this.diags.add("E302", c.span, `\`${c.op}\` only compares an attribute with a literal; between two attributes only \`==\` and \`!=\` are supported`);
            return undefined;
          }
          let lt = l.type;
          let rt = r.type;
          if (lt === "dynamic" && rt === "dynamic") lt = rt = "string";
          else if (lt === "dynamic") lt = rt;
          else if (rt === "dynamic") rt = lt;
          if (lt !== rt) {
            this.diags.add("E301", c.span, `type mismatch: \`${c.left.text}\` is a ${lt} but \`${c.right.text}\` is a ${rt}`);
            return undefined;
          }
          return { k: "cmp_attr", op: c.op, a: this.slot(l.name, l.source, lt as AttrType), b: this.slot(r.name, r.source, rt as AttrType) };
        }
        if (!l) return undefined;
        const litT = this.litType(c.right);
        const t = l.type === "dynamic" ? litT : l.type;
        if (t !== litT) {
          this.diags.add("E301", c.right.span, `type mismatch: \`${c.left.text}\` is a ${t} but is compared with a ${litT}`, {
            help: t === "string" && litT === "number" ? `declare it with \`AS number\`, or quote the value` : undefined,
          });
          return undefined;
        }
        if (c.op !== "==" && c.op !== "!=" && t !== "number") {
          this.diags.add("E302", c.span, `\`${c.op}\` needs numbers, but \`${c.left.text}\` is a ${t}`);
          return undefined;
        }
        return { k: "cmp", op: c.op, slot: this.slot(l.name, l.source, t), value: c.right.value };
      }
      case "in": {
        const l = this.resolve(c.attr);
        if (!l) return undefined;
        const types = new Set(c.values.map((v) => this.litType(v)));
        if (types.size > 1) {
          this.diags.add("E303", c.span, "all values in an `IN` list must have the same type");
          return undefined;
        }
        const litT = types.values().next().value ?? (l.type === "dynamic" ? "string" : l.type);
        const t = l.type === "dynamic" ? litT : l.type;
        if (t !== litT) {
          this.diags.add("E301", c.span, `type mismatch: \`${c.attr.text}\` is a ${t} but the list holds ${litT}s`);
          return undefined;
        }
        // INVARIANT: values are de-duplicated and in first-seen order (determinism).
        const values = [...new Set(c.values.map((v) => v.value))];
        return { k: "in", negated: c.negated, slot: this.slot(l.name, l.source, t), values };
      }
      case "strop": {
        const l = this.resolve(c.attr);
        if (!l) return undefined;
        if (c.value.kind !== "str") {
          this.diags.add("E301", c.value.span, `\`${c.op.toUpperCase()}\` needs a string, found a ${this.litType(c.value)}`);
          return undefined;
        }
        const t = l.type === "dynamic" ? "string" : l.type;
        if (t !== "string") {
          this.diags.add("E302", c.span, `\`${c.op.toUpperCase()}\` needs a string attribute, but \`${c.attr.text}\` is a ${t}`);
          return undefined;
        }
        if (c.op === "matches") {
          const err = validateGlob(c.value.value);
          if (err) {
            this.diags.add("E408", c.value.span, `invalid glob ${JSON.stringify(c.value.value)}: ${err}`, {
              help: "`*` matches within one path segment, `**` (a whole segment) matches across segments",
            });
            return undefined;
          }
        }
        return { k: "strop", op: c.op, slot: this.slot(l.name, l.source, "string"), value: c.value.value };
      }
    }
  }
}

function parseNameSegments(name: string): import("./ast.js").PathSegment[] {
  return name.split(".").map((n) => ({ kind: "name" as const, name: n }));
}

/** Conservative contradiction check on the top-level conjunction of a scope. */
function neverMatches(c: CheckedCond): boolean {
  const conj: CheckedCond[] = c.k === "and" ? c.items : [c];
  const allowed = new Map<number, Set<Scalar>>();
  const excluded = new Map<number, Set<Scalar>>();
  for (const x of conj) {
    if (x.k === "const" && !x.value) return true;
    if (x.k === "and" && neverMatches(x)) return true;
    if (x.k === "in" && x.values.length === 0 && !x.negated) return true;
    let vals: Scalar[] | undefined;
    let slot: number | undefined;
    if (x.k === "cmp" && x.op === "==") [vals, slot] = [[x.value], x.slot];
    else if (x.k === "in" && !x.negated) [vals, slot] = [x.values, x.slot];
    if (vals && slot !== undefined) {
      const prev = allowed.get(slot);
      const next = prev ? new Set(vals.filter((v) => prev.has(v))) : new Set(vals);
      if (next.size === 0) return true;
      allowed.set(slot, next);
    }
    if (x.k === "cmp" && x.op === "!=") excluded.set(x.slot, new Set([...(excluded.get(x.slot) ?? []), x.value]));
    if (x.k === "in" && x.negated) {
      const set = excluded.get(x.slot) ?? new Set<Scalar>();
      for (const v of x.values) set.add(v);
      excluded.set(x.slot, set);
    }
  }
  for (const [slot, vals] of allowed) {
    const ex = excluded.get(slot);
    if (ex && [...vals].every((v) => ex.has(v))) return true;
  }
  return false;
}

export type { AttrType };
