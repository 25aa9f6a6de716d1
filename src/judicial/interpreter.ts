// The reference interpreter: evaluates a CheckedProgram directly, with plain
// JS comparisons and the regex-based glob from the Legislative layer. It
// shares only slot resolution with the WebAssembly path, so conformance and
// differential tests compare two independent implementations of the semantics.

import type { CheckedCond, CheckedProgram } from "../legislative/index.js";
import { globMatch } from "../legislative/index.js";
import type { SlotValue } from "../bundle/index.js";

export interface InterpretedDecision {
  effect: "allow" | "deny" | "pause";
  violated: number[];
  waived: number[];
  defaulted: boolean;
}

function holds(c: CheckedCond, v: readonly SlotValue[]): boolean {
  switch (c.k) {
    case "and":
      return c.items.every((x) => holds(x, v));
    case "or":
      return c.items.some((x) => holds(x, v));
    case "not":
      return !holds(c.operand, v);
    case "const":
      return c.value;
    case "exists":
      return v[c.slot] !== undefined;
    case "cmp": {
      const x = v[c.slot];
      if (x === undefined) return false; // a comparison with a missing attribute is false
      switch (c.op) {
        case "==":
          return x === c.value;
        case "!=":
          return x !== c.value;
        case "<":
          return (x as number) < (c.value as number);
        case "<=":
          return (x as number) <= (c.value as number);
        case ">":
          return (x as number) > (c.value as number);
        case ">=":
          return (x as number) >= (c.value as number);
      }
      return false;
    }
    case "cmp_attr": {
      const a = v[c.a];
      const b = v[c.b];
      if (a === undefined || b === undefined) return false;
      return c.op === "==" ? a === b : a !== b;
    }
    case "in": {
      const x = v[c.slot];
      if (x === undefined) return false;
      return c.values.includes(x) !== c.negated;
    }
    case "strop": {
      const x = v[c.slot];
      if (typeof x !== "string") return false;
      return c.op === "starts_with" ? x.startsWith(c.value) : c.op === "ends_with" ? x.endsWith(c.value) : globMatch(c.value, x);
    }
  }
}

export function interpret(prog: CheckedProgram, raw: readonly SlotValue[], waivers: ReadonlySet<string> = new Set()): InterpretedDecision {
  // Slot values are well-formed strings (as `coerce` produces them); normalize
  // values handed in directly so both evaluators see the same text.
  const values = raw.map((v) => (typeof v === "string" && !v.isWellFormed() ? v.toWellFormed() : v));
  const violated: number[] = [];
  const waived: number[] = [];
  let inScope = false;
  let block = false;
  let pause = false;
  for (const p of prog.policies) {
    if (!holds(p.scope, values)) continue;
    inScope = true;
    if (p.constraint && holds(p.constraint, values)) continue;
    if (p.exceptions.some((e) => waivers.has(e))) {
      waived.push(p.index);
      continue;
    }
    violated.push(p.index);
    if (p.enforcement === "BLOCKING") block = true;
    if (p.enforcement === "REQUIRE_APPROVAL") pause = true;
  }
  const effect = block ? "deny" : pause ? "pause" : !inScope && prog.defaultEffect === "deny" ? "deny" : "allow";
  return { effect, violated, waived, defaulted: !inScope };
}
