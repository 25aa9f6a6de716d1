// Plan and optimize: CheckedProgram → IR. The plan interns every string
// literal compared by equality into a sorted dictionary (ids are positions),
// lowers conditions to typed operations on slots, and the optimizer folds
// constants and builds the dispatch index: each policy whose scope requires
// `slot == "v"` or `slot IN [...]` is reachable only through a jump table on
// that slot's string id, so evaluation cost does not grow with the number of
// policies that cannot match.

import type { AttributeSource, CheckedCond, CheckedProgram, Enforcement, SlotType } from "../legislative/index.js";
import { globExpansions } from "../legislative/index.js";

export interface IrSlot {
  index: number;
  name: string;
  source: AttributeSource;
  type: SlotType;
  /** Set when a string operation needs the UTF-8 bytes in module memory. */
  needsBytes: boolean;
}

export type NumOp = "==" | "!=" | "<" | "<=" | ">" | ">=";

export type IrCond =
  | { k: "const"; v: boolean }
  | { k: "and"; items: IrCond[] }
  | { k: "or"; items: IrCond[] }
  | { k: "not"; x: IrCond }
  | { k: "exists"; slot: number }
  | { k: "str_eq"; slot: number; id: number; neg: boolean }
  | { k: "str_in"; slot: number; ids: number[]; neg: boolean }
  | { k: "num_cmp"; slot: number; op: NumOp; v: number }
  | { k: "num_in"; slot: number; vals: number[]; neg: boolean }
  | { k: "bool_eq"; slot: number; v: boolean; neg: boolean }
  | { k: "attr_eq"; a: number; b: number; num: boolean; neg: boolean }
  | { k: "strop"; op: "starts_with" | "ends_with"; slot: number; value: string }
  | { k: "glob"; slot: number; patterns: string[] };

export interface IrPolicy {
  index: number;
  name: string;
  enforcement: Enforcement;
  exceptionIds: number[];
  scope: IrCond;
  constraint: IrCond | undefined;
}

export interface IndexGroup {
  slot: number;
  /** string id → policy indices (ascending). */
  byId: Map<number, number[]>;
}

export interface Ir {
  defaultEffect: "allow" | "deny";
  slots: IrSlot[];
  /** Sorted dictionary; a string's id is its position. */
  strings: string[];
  policies: IrPolicy[];
  exceptions: string[];
  /** Filled by `optimize`. */
  groups: IndexGroup[];
  /** Policies evaluated for every request (no usable index guard). */
  unindexed: number[];
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Stage "plan": lower the checked program to IR. */
export function plan(prog: CheckedProgram): Ir {
  const literals = new Set<string>();
  const collect = (c: CheckedCond): void => {
    switch (c.k) {
      case "and":
      case "or":
        c.items.forEach(collect);
        return;
      case "not":
        collect(c.operand);
        return;
      case "cmp":
        if (typeof c.value === "string") literals.add(c.value);
        return;
      case "in":
        for (const v of c.values) if (typeof v === "string") literals.add(v);
        return;
      default:
        return;
    }
  };
  for (const p of prog.policies) {
    collect(p.scope);
    if (p.constraint) collect(p.constraint);
  }
  const strings = [...literals].sort(compareStrings);
  const ids = new Map(strings.map((s, i) => [s, i]));
  const slots: IrSlot[] = prog.slots.map((s) => ({ index: s.index, name: s.name, source: s.source, type: s.type, needsBytes: false }));
  const excIds = new Map(prog.exceptions.map((e, i) => [e, i]));

  const lower = (c: CheckedCond): IrCond => {
    switch (c.k) {
      case "and":
        return { k: "and", items: c.items.map(lower) };
      case "or":
        return { k: "or", items: c.items.map(lower) };
      case "not":
        return { k: "not", x: lower(c.operand) };
      case "const":
        return { k: "const", v: c.value };
      case "exists":
        return { k: "exists", slot: c.slot };
      case "cmp": {
        const t = slots[c.slot]!.type;
        if (t === "string") {
          if (c.op !== "==" && c.op !== "!=") throw new Error("compiler bug: ordering on string");
          return { k: "str_eq", slot: c.slot, id: ids.get(c.value as string)!, neg: c.op === "!=" };
        }
        if (t === "number") return { k: "num_cmp", slot: c.slot, op: c.op, v: c.value as number };
        if (c.op !== "==" && c.op !== "!=") throw new Error("compiler bug: ordering on bool");
        return { k: "bool_eq", slot: c.slot, v: c.value as boolean, neg: c.op === "!=" };
      }
      case "cmp_attr":
        return { k: "attr_eq", a: c.a, b: c.b, num: slots[c.a]!.type === "number", neg: c.op === "!=" };
      case "in": {
        const t = slots[c.slot]!.type;
        if (t === "string") {
          const idList = [...new Set(c.values.map((v) => ids.get(v as string)!))].sort((a, b) => a - b);
          return { k: "str_in", slot: c.slot, ids: idList, neg: c.negated };
        }
        if (t === "number") return { k: "num_in", slot: c.slot, vals: c.values as number[], neg: c.negated };
        // bool IN: at most two values; lower to equalities
        const vals = [...new Set(c.values as boolean[])];
        const any: IrCond =
          vals.length === 0 ? { k: "const", v: false } : vals.length === 1 ? { k: "bool_eq", slot: c.slot, v: vals[0]!, neg: false } : { k: "exists", slot: c.slot };
        return c.negated ? { k: "and", items: [{ k: "exists", slot: c.slot }, { k: "not", x: any }] } : any;
      }
      case "strop": {
        slots[c.slot]!.needsBytes = true;
        if (c.op === "matches") return { k: "glob", slot: c.slot, patterns: globExpansions(c.value) };
        return { k: "strop", op: c.op, slot: c.slot, value: c.value };
      }
    }
  };

  const policies: IrPolicy[] = prog.policies.map((p) => ({
    index: p.index,
    name: p.name,
    enforcement: p.enforcement,
    exceptionIds: p.exceptions.map((e) => excIds.get(e)!),
    scope: lower(p.scope),
    constraint: p.constraint ? lower(p.constraint) : undefined,
  }));
  return { defaultEffect: prog.defaultEffect, slots, strings, policies, exceptions: prog.exceptions, groups: [], unindexed: policies.map((p) => p.index) };
}

/** Constant folding and flattening. Pure; preserves semantics exactly. */
export function simplify(c: IrCond): IrCond {
  switch (c.k) {
    case "and":
    case "or": {
      const unit = c.k === "and"; // identity element
      const items: IrCond[] = [];
      for (const raw of c.items) {
        const x = simplify(raw);
        if (x.k === "const") {
          if (x.v === unit) continue;
          return { k: "const", v: !unit };
        }
        if (x.k === c.k) for (const y of x.items) items.push(y); // no spread: may hold 100k+ terms
        else items.push(x);
      }
      if (items.length === 0) return { k: "const", v: unit };
      if (items.length === 1) return items[0]!;
      return { k: c.k, items };
    }
    case "not": {
      const x = simplify(c.x);
      if (x.k === "const") return { k: "const", v: !x.v };
      if (x.k === "not") return x.x;
      return { k: "not", x };
    }
    case "str_in":
      if (c.ids.length === 0) return c.neg ? { k: "exists", slot: c.slot } : { k: "const", v: false };
      if (c.ids.length === 1) return { k: "str_eq", slot: c.slot, id: c.ids[0]!, neg: c.neg };
      return c;
    case "num_in":
      if (c.vals.length === 0) return c.neg ? { k: "exists", slot: c.slot } : { k: "const", v: false };
      return c;
    default:
      return c;
  }
}

/** String-id guards a scope requires: top-level `slot == "v"` / `slot IN [..]` conjuncts. */
function guards(scope: IrCond): Array<{ slot: number; ids: number[] }> {
  const conj = scope.k === "and" ? scope.items : [scope];
  const out: Array<{ slot: number; ids: number[] }> = [];
  for (const c of conj) {
    if (c.k === "str_eq" && !c.neg) out.push({ slot: c.slot, ids: [c.id] });
    else if (c.k === "str_in" && !c.neg) out.push({ slot: c.slot, ids: c.ids });
  }
  return out;
}

/** Stage "optimize": fold constants, then build the dispatch index. */
export function optimize(ir: Ir): Ir {
  const policies = ir.policies.map((p) => ({
    ...p,
    scope: simplify(p.scope),
    constraint: p.constraint ? simplify(p.constraint) : undefined,
  }));
  // Guard choice by selectivity: a policy is filed under the guard whose
  // fullest bucket (policies sharing that slot and string id) is smallest, so a
  // request reaches as few candidate policies as possible. Ties prefer fewer
  // ids, then the lower slot index (deterministic).
  const perPolicy = policies.map((p) => guards(p.scope));
  const bucket = new Map<string, number>();
  const key = (slot: number, id: number): string => `${slot}:${id}`;
  for (const gs of perPolicy) for (const g of gs) for (const id of g.ids) bucket.set(key(g.slot, id), (bucket.get(key(g.slot, id)) ?? 0) + 1);
  const cost = (g: { slot: number; ids: number[] }): number => {
    let worst = 0; // a loop, not Math.max(...): an IN list may hold 100k+ ids
    for (const id of g.ids) worst = Math.max(worst, bucket.get(key(g.slot, id))!);
    return worst;
  };
  const groups = new Map<number, IndexGroup>();
  const unindexed: number[] = [];
  policies.forEach((p, i) => {
    const gs = perPolicy[i]!;
    if (p.scope.k === "const" && !p.scope.v) return; // can never be in scope: drop from evaluation entirely
    if (gs.length === 0) {
      unindexed.push(p.index);
      return;
    }
    let best = gs[0]!;
    let bestCost = cost(best);
    for (const g of gs) {
      const c = cost(g);
      if (c < bestCost || (c === bestCost && (g.ids.length < best.ids.length || (g.ids.length === best.ids.length && g.slot < best.slot)))) {
        best = g;
        bestCost = c;
      }
    }
    let group = groups.get(best.slot);
    if (!group) groups.set(best.slot, (group = { slot: best.slot, byId: new Map() }));
    for (const id of best.ids) {
      const list = group.byId.get(id);
      if (list) list.push(p.index);
      else group.byId.set(id, [p.index]);
    }
  });
  return { ...ir, policies, groups: [...groups.values()].sort((a, b) => a.slot - b.slot), unindexed };
}
