// Attribute slot values: resolve a built-in source against RequestAttributes,
// then coerce to the slot's declared type. Shared by the WebAssembly host and
// the reference interpreter, so both evaluate exactly the same values.
//
// Coercion rules (docs/policy-language.md, "Types"):
//   string  ← string as-is; JSON number/bool → its JSON text; else missing
//   number  ← JSON number; string in plain decimal syntax; else missing
//   bool    ← JSON bool; the strings "true"/"false"; else missing
//   any     ← present (true) unless undefined or null

import type { AttributeSource, JsonPath, SlotType } from "../legislative/index.js";
import type { PeerAttributes, RequestAttributes } from "./attributes.js";

export type SlotValue = string | number | boolean | undefined;

const hasOwn = Object.prototype.hasOwnProperty;
const DECIMAL = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

function walk(v: unknown, path: JsonPath): unknown {
  let cur = v;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    if (cur === null || typeof cur !== "object") return undefined;
    if (typeof seg === "number") {
      if (!Array.isArray(cur)) return undefined;
      cur = cur[seg];
    } else {
      if (Array.isArray(cur) || !hasOwn.call(cur, seg)) return undefined; // own keys only: no prototype reads
      cur = (cur as Record<string, unknown>)[seg];
    }
  }
  return cur;
}

function peerField(p: PeerAttributes, field: string): unknown {
  switch (field) {
    case "principal":
      return p.principal;
    case "address":
      return p.address;
    case "port":
      return p.port;
    case "namespace":
      return p.namespace;
    case "service_account":
      return p.serviceAccount;
    case "trust_domain":
      return p.trustDomain;
    case "service":
      return p.service;
    default:
      return undefined;
  }
}

function mapGet(m: Readonly<Record<string, string>>, k: string): string | undefined {
  return hasOwn.call(m, k) ? m[k] : undefined;
}

/** The raw value a source names in this request (undefined when absent). */
export function resolveSource(a: RequestAttributes, s: AttributeSource): unknown {
  switch (s.kind) {
    case "request":
      return s.field === "method" ? a.method : s.field === "path" ? a.path : s.field === "host" ? a.host : s.field === "scheme" ? a.scheme : a.protocol;
    case "query":
      return mapGet(a.query, s.key);
    case "header":
      return mapGet(a.headers, s.key);
    case "context":
      return mapGet(a.context, s.key);
    case "body":
      return walk(a.body, s.path);
    case "metadata":
      return hasOwn.call(a.metadata, s.namespace) ? walk(a.metadata[s.namespace], s.path) : undefined;
    case "peer":
      return peerField(s.peer === "source" ? a.source : a.destination, s.field);
  }
}

export function coerce(v: unknown, t: SlotType): SlotValue {
  if (v === undefined || v === null) return undefined;
  switch (t) {
    case "string":
      // INVARIANT: strings are well-formed UTF-16 (lone surrogates → U+FFFD),
      // so comparisons on code units (interpreter, dictionary) and on UTF-8
      // bytes (the module's string operations) see the same text.
      if (typeof v === "string") return v.isWellFormed() ? v : v.toWellFormed();
      if (typeof v === "number") return Number.isFinite(v) ? String(v) : undefined;
      if (typeof v === "boolean") return v ? "true" : "false";
      return undefined;
    case "number":
      if (typeof v === "number") return Number.isFinite(v) ? v : undefined;
      if (typeof v === "string" && v.length <= 64 && DECIMAL.test(v)) {
        const n = Number(v);
        return Number.isFinite(n) ? n : undefined;
      }
      return undefined;
    case "bool":
      if (typeof v === "boolean") return v;
      if (v === "true") return true;
      if (v === "false") return false;
      return undefined;
    case "any":
      return true;
  }
}

export interface SlotDescriptor {
  source: AttributeSource;
  type: SlotType;
}

/** Resolve and coerce every slot; index i is slot i. */
export function slotValues(a: RequestAttributes, slots: readonly SlotDescriptor[]): SlotValue[] {
  const out = new Array<SlotValue>(slots.length);
  for (let i = 0; i < slots.length; i++) {
    const s = slots[i]!;
    out[i] = coerce(resolveSource(a, s.source), s.type);
  }
  return out;
}
