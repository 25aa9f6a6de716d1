// The evaluator host: load → verify signature → check ABI → instantiate →
// evaluate. Shared by the sidecar, the CLI and the tests. Evaluation uses the
// core module's `aecp_eval` export directly (the fast path): the host writes
// slot records into module memory, calls one function, reads the result.
//
// INVARIANT: evaluate() is synchronous and not re-entrant per instance; a
// LoadedBundle is used by one thread (Node's event loop) at a time.

import { AecpError } from "../common/index.js";
import type { Enforcement, SlotType } from "../legislative/index.js";
import { DefaultEffect } from "../gen/aecp/bundle/v1/bundle_pb.js";
import * as abi from "./abi.js";
import { emptyRequestAttributes, type RequestAttributes } from "./attributes.js";
import { readBundleForHost, slotTypeFromProto, sourceFromProto, type HostBundle, type ReadOptions } from "./format.js";
import { coerce, resolveSource, slotValues, type SlotDescriptor, type SlotValue } from "./resolve.js";

export type Effect = "allow" | "deny" | "pause";
export const EFFECTS: readonly Effect[] = ["allow", "deny", "pause"];

export interface PolicyRef {
  policy: string;
  enforcement: Enforcement;
}

export interface Decision {
  effect: Effect;
  /** Violated policies, in policy-table order. */
  violations: PolicyRef[];
  /** Policies whose violation an exception grant waived. */
  waived: PolicyRef[];
  /** True when no policy scoped the request and DEFAULT decided. */
  defaulted: boolean;
  bundle: BundleRef;
  /** Wall time of slot extraction + evaluation, nanoseconds. */
  evalNs: number;
}

export interface BundleRef {
  name: string;
  /** Distribution revision; null for a bundle loaded from a file. */
  revision: number | null;
  /** `sha256:<hex>` of the signed content. */
  digest: string;
  keyId: string | null;
}

export interface HostSlot extends SlotDescriptor {
  name: string;
  needsBytes: boolean;
}

export interface PolicyEntry {
  name: string;
  enforcement: Enforcement;
  exceptions: readonly string[];
  auditRequired: boolean;
  /** REQUIRE_APPROVAL settings (what the approvals service needs on pause). */
  approval: { approvers: string[]; quorum: number; timeoutMs: number } | undefined;
}


/** The first core module inside a WebAssembly component (section id 1). */
export function extractCoreModule(component: Uint8Array): Uint8Array {
  const bad = (why: string): never => {
    throw new AecpError("AECP_BUNDLE_WASM_INVALID", `bundle component is malformed: ${why}`);
  };
  if (component.length < 8 || component[0] !== 0 || component[1] !== 0x61 || component[2] !== 0x73 || component[3] !== 0x6d) bad("bad magic");
  if (component[4] !== 0x0d || component[6] !== 0x01 || component[7] !== 0x00) bad("not a component (layer 1) binary");
  let i = 8;
  while (i < component.length) {
    const id = component[i++]!;
    let size = 0;
    let shift = 0;
    for (;;) {
      if (i >= component.length || shift > 28) bad("truncated section size");
      const b = component[i++]!;
      size |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
    }
    size >>>= 0;
    if (i + size > component.length) bad("section runs past the end");
    if (id === 1) return component.subarray(i, i + size);
    i += size;
  }
  return bad("no core module section");
}

/**
 * Evaluations a new bundle runs before it takes traffic (`warmUp`). Measured
 * (fresh module bytes, 20 and 1,000 policies): the first real requests are
 * as fast after 32 as after 200, at half the cost — and every sidecar of the
 * mesh pays it on every activation.
 */
export const WARM_UP_EVALUATIONS = 32;

export interface LoadOptions extends ReadOptions {
  /** Distribution revision to report in decisions (set by the distribution watcher). */
  revision?: number;
}

export class LoadedBundle {
  readonly name: string;
  readonly ref: BundleRef;
  /** ABI version and compiler that produced the bundle. */
  readonly abiVersion: number;
  readonly compilerVersion: string;
  /** Bytes of WebAssembly memory the module uses statically (data + input/output areas). */
  readonly staticMemoryBytes: number;
  readonly slots: readonly HostSlot[];
  readonly policies: readonly PolicyEntry[];
  readonly exceptions: readonly string[];
  readonly defaultEffect: "allow" | "deny";
  readonly sizeBytes: number;

  private readonly dict: Map<string, number>;
  /** One frozen PolicyRef per policy, built at load: decisions share them. */
  /** PolicyRef by policy index, made on first use and then shared by every decision. */
  private readonly refsByIndex: (PolicyRef | undefined)[];
  private readonly exceptionIds: Map<string, number>;
  private readonly instance: WebAssembly.Instance;
  private readonly memory: WebAssembly.Memory;
  private readonly evalFn: () => number;
  private readonly D: number;
  private readonly layout: { inputPtr: number; waiverPtr: number; outputPtr: number; scratchPtr: number };
  private i32!: Int32Array;
  private u8!: Uint8Array;
  private f64!: Float64Array;
  /**
   * This evaluation's strings that are not in the dictionary, by id − D:
   * compared by content, so equal strings share an id. Most requests have a
   * few (paths, tenants, namespaces the policies never name), and a scan of
   * a short list is cheaper than creating and filling a Map per evaluation.
   * The list is cleared when the evaluation finishes (nothing of a request
   * is kept); past UNKNOWN_SCAN strings a fresh Map per evaluation takes over
   * (a long-lived Map lives in the old generation, and V8 allocates the table
   * that `clear()` and rehashing make there too: ~135 bytes of old-generation
   * garbage per request, measured with the heap sampler).
   */
  private readonly unknownList: string[] = [];
  private unknownCount = 0;
  private unknown: Map<string, number> | undefined;
  private readonly encoder = new TextEncoder();
  /** The dictionary's own strings by id (the Map's keys, in order). */
  private readonly dictStrings: readonly string[];
  /**
   * Per slot, the dictionary string the slot's value last matched and its
   * id: consecutive requests mostly carry the same values (method, tenant,
   * region, namespaces), and comparing with the last one is cheaper than a
   * lookup in a dictionary of thousands of entries, whose buckets are rarely
   * in the CPU's cache between requests. The dictionary's own string is kept,
   * never the request's (nothing of a request outlives its evaluation).
   */
  private readonly lastDictString: string[];
  private readonly lastDictId: Int32Array;

  private constructor(opened: HostBundle, opts: LoadOptions) {
    // INVARIANT: only what evaluation needs is kept; the component bytes and
    // the rest of the decoded metadata become garbage after construction
    // (memory budget). readBundleForHost already refused another ABI version.
    const md = opened.metadata;
    this.name = md.name;
    this.abiVersion = md.abiVersion;
    this.compilerVersion = md.compilerVersion;
    this.sizeBytes = opened.sizeBytes;
    this.ref = Object.freeze({ name: md.name, revision: opts.revision ?? null, digest: `sha256:${opened.digest}`, keyId: opened.keyId ?? null });
    const layout = md.layout;
    if (!layout || layout.slotStride !== abi.SLOT_STRIDE) throw new AecpError("AECP_BUNDLE_MALFORMED", "bundle metadata has no valid memory layout");
    this.layout = { inputPtr: layout.inputPtr, waiverPtr: layout.waiverPtr, outputPtr: layout.outputPtr, scratchPtr: layout.scratchPtr };
    this.staticMemoryBytes = layout.scratchPtr;
    this.slots = md.slots.map((s) => {
      if (!s.source) throw new AecpError("AECP_BUNDLE_MALFORMED", `slot \`${s.name}\` has no source`);
      return { name: s.name, source: sourceFromProto(s.source), type: slotTypeFromProto(s.type) as SlotType, needsBytes: s.needsBytes };
    });
    // Memory: 10,000-policy bundles are normal, so per-policy allocations
    // are kept to the entry itself — the decoder's entries are kept as they
    // are (policies without exceptions share one frozen empty list, enforcement
    // codes were checked there), and a policy's PolicyRef is made the first
    // time a decision names it (most policies are never violated).
    this.lastDictString = new Array<string>(this.slots.length).fill("");
    this.lastDictId = new Int32Array(this.slots.length).fill(-1);
    this.policies = md.policies;
    this.refsByIndex = new Array<PolicyRef | undefined>(this.policies.length);
    this.exceptions = md.exceptions;
    this.exceptionIds = indexOf(md.exceptions);
    this.defaultEffect = md.defaultEffect === DefaultEffect.DENY ? "deny" : md.defaultEffect === DefaultEffect.ALLOW ? "allow" : abortMalformed("default effect");
    this.D = md.strings.length;
    this.dict = indexOf(md.strings);
    this.dictStrings = md.strings;

    const core = extractCoreModule(opened.component);
    let abiFn: unknown;
    let evalFn: unknown;
    let memory: unknown;
    let moduleAbi: number;
    try {
      const module = new WebAssembly.Module(core);
      // INVARIANT: a policy module has no imports — it cannot call the host.
      if (WebAssembly.Module.imports(module).length > 0) {
        throw new AecpError("AECP_BUNDLE_WASM_INVALID", "bundle WebAssembly imports host functions; policy modules must be self-contained");
      }
      this.instance = new WebAssembly.Instance(module, {});
      const ex = this.instance.exports;
      abiFn = ex[abi.EXPORT_ABI_VERSION];
      evalFn = ex[abi.EXPORT_EVAL];
      memory = ex["memory"];
      if (typeof abiFn !== "function" || typeof evalFn !== "function" || !(memory instanceof WebAssembly.Memory)) {
        throw new AecpError("AECP_BUNDLE_ABI_MISMATCH", "bundle module lacks the AECP exports (aecp_abi_version, aecp_eval, memory)");
      }
      moduleAbi = (abiFn as () => number)();
    } catch (cause) {
      if (cause instanceof AecpError) throw cause;
      throw new AecpError("AECP_BUNDLE_WASM_INVALID", "bundle WebAssembly does not validate, instantiate or run", { cause });
    }
    if (moduleAbi !== abi.ABI_VERSION) {
      throw new AecpError("AECP_BUNDLE_ABI_MISMATCH", `bundle module exports ABI version ${moduleAbi}; this host supports ${abi.ABI_VERSION}`);
    }
    // The layout comes from signed metadata, but the host still refuses one
    // that would make its typed-array accesses misaligned or out of bounds
    // (those would silently read undefined / drop writes).
    const S = this.slots.length;
    const P = this.policies.length;
    const W = this.exceptions.length;
    const L = this.layout;
    const memBytes = memory.buffer.byteLength;
    const within = (start: number, bytes: number): boolean => start >= 1024 && start + bytes <= L.scratchPtr;
    if (
      L.inputPtr % 8 !== 0 ||
      L.outputPtr % 4 !== 0 ||
      !within(L.inputPtr, S * abi.SLOT_STRIDE) ||
      !within(L.waiverPtr, W) ||
      !within(L.outputPtr, abi.OUT_LISTS + 8 * P) ||
      L.scratchPtr > memBytes
    ) {
      throw new AecpError("AECP_BUNDLE_MALFORMED", "bundle memory layout is misaligned or does not fit the module's memory");
    }
    this.memory = memory;
    this.evalFn = evalFn as () => number;
    this.refreshViews();
  }

  /** Verify, check and instantiate a bundle file. Throws AecpError with a bundle code. */
  static load(bytes: Uint8Array, opts: LoadOptions): LoadedBundle {
    return new LoadedBundle(readBundleForHost(bytes, opts), opts);
  }

  /**
   * Run the module `iterations` times on an empty request, off the request
   * path: this is the self-test (a module that traps or returns garbage
   * throws here, before any swap) and it warms V8's code for the first
   * real requests.
   */
  warmUp(iterations = WARM_UP_EVALUATIONS): void {
    const attrs = emptyRequestAttributes();
    for (let i = 0; i < iterations; i++) this.evaluate(attrs);
  }

  private refreshViews(): void {
    const buf = this.memory.buffer;
    this.i32 = new Int32Array(buf);
    this.u8 = new Uint8Array(buf);
    this.f64 = new Float64Array(buf);
  }

  /** Resolved and coerced slot values for a request (index = slot). */
  slotValues(attrs: RequestAttributes): SlotValue[] {
    return slotValues(attrs, this.slots);
  }

  /** Evaluate a request. `waivers` names exceptions whose grants the caller verified. */
  evaluate(attrs: RequestAttributes, waivers?: readonly string[]): Decision {
    const t0 = performance.now();
    const slots = this.slots;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      this.writeSlot(i, coerce(resolveSource(attrs, s.source), s.type));
    }
    return this.finish(waivers, t0);
  }

  /** Evaluate pre-resolved slot values (used by conformance tests and replay). */
  evaluateSlots(values: readonly SlotValue[], waivers?: readonly string[]): Decision {
    const t0 = performance.now();
    if (values.length !== this.slots.length) throw new AecpError("AECP_EVAL_FAILED", `expected ${this.slots.length} slot values, got ${values.length}`);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      // same normalization as `coerce`: strings are well-formed UTF-16
      this.writeSlot(i, typeof v === "string" && !v.isWellFormed() ? v.toWellFormed() : v);
    }
    return this.finish(waivers, t0);
  }

  /**
   * Run the module once more on the slot values already in memory and return
   * the effect code; no extraction, no result decoding. For benchmarks that
   * time the WebAssembly evaluation alone.
   */
  evaluateInPlace(): number {
    return this.evalFn();
  }

  private scratchTop = 0;

  private writeSlot(i: number, v: SlotValue): void {
    if (i === 0) {
      this.scratchTop = this.layout.scratchPtr;
      this.forgetUnknown(); // also after an evaluation that threw part-way
    }
    const base = this.layout.inputPtr + i * abi.SLOT_STRIDE;
    const w = base >> 2;
    const s = this.slots[i]!;
    if (v === undefined) {
      this.i32[w] = 0;
      this.i32[w + 1] = abi.ID_MISSING;
      return;
    }
    this.i32[w] = 1;
    switch (s.type) {
      case "string": {
        const str = v as string;
        let id: number | undefined;
        if (this.lastDictId[i]! >= 0 && str === this.lastDictString[i]) id = this.lastDictId[i]!;
        else {
          id = this.dict.get(str);
          if (id !== undefined) {
            this.lastDictString[i] = this.dictStrings[id]!;
            this.lastDictId[i] = id;
          }
        }
        if (id === undefined) {
          // INVARIANT: distinct unknown strings get distinct ids >= D; equal ones share an id.
          id = this.unknownId(str);
        }
        this.i32[w + 1] = id;
        if (s.needsBytes) {
          const maxBytes = str.length * 3;
          if (this.scratchTop + maxBytes > this.u8.length) this.grow(this.scratchTop + maxBytes);
          const { written } = this.encoder.encodeInto(str, this.u8.subarray(this.scratchTop));
          this.i32[w + 2] = this.scratchTop;
          this.i32[w + 3] = written;
          this.scratchTop += written;
        }
        return;
      }
      case "number":
        this.i32[w + 1] = abi.ID_MISSING;
        this.f64[(base + abi.SLOT_NUM) >> 3] = v as number;
        return;
      case "bool":
        this.i32[w + 1] = v ? 1 : 0;
        return;
      case "any":
        this.i32[w + 1] = abi.ID_MISSING;
        return;
    }
  }

  private unknownId(str: string): number {
    const n = this.unknownCount;
    const list = this.unknownList;
    if (n < UNKNOWN_SCAN) {
      for (let k = 0; k < n; k++) if (list[k] === str) return this.D + k;
      if (n === list.length) list.push(str);
      else list[n] = str;
      this.unknownCount = n + 1;
      return this.D + n;
    }
    let unknown = this.unknown;
    if (unknown === undefined) {
      unknown = this.unknown = new Map();
      for (let k = 0; k < n; k++) unknown.set(list[k]!, this.D + k);
    }
    let id = unknown.get(str);
    if (id === undefined) {
      id = this.D + unknown.size;
      unknown.set(str, id);
    }
    return id;
  }

  /** Drop this evaluation's unknown strings (see `unknownList`). */
  private forgetUnknown(): void {
    const list = this.unknownList;
    for (let k = 0; k < this.unknownCount; k++) list[k] = "";
    this.unknownCount = 0;
    this.unknown = undefined;
  }

  private grow(bytesNeeded: number): void {
    const pages = Math.ceil((bytesNeeded - this.memory.buffer.byteLength) / 65536);
    if (pages > 0) this.memory.grow(pages);
    this.refreshViews();
  }

  private finish(waivers: readonly string[] | undefined, t0: number): Decision {
    this.forgetUnknown(); // not kept past the evaluation (see `unknownList`)
    const wp = this.layout.waiverPtr;
    const nExc = this.exceptions.length;
    for (let e = 0; e < nExc; e++) this.u8[wp + e] = 0;
    // Indexed loop, no iterator: this runs on every request (for…of over an
    // optional array measurably deoptimized the hot path).
    if (waivers !== undefined && nExc > 0) {
      for (let k = 0; k < waivers.length; k++) {
        const id = this.exceptionIds.get(waivers[k]!);
        if (id !== undefined) this.u8[wp + id] = 1;
      }
    }
    let effectCode: number;
    try {
      effectCode = this.evalFn();
    } catch (cause) {
      throw new AecpError("AECP_EVAL_FAILED", "policy module trapped during evaluation", { cause });
    }
    const out = this.layout.outputPtr >> 2;
    const nViol = this.i32[out + 2]!;
    const nWaived = this.i32[out + 3]!;
    const P = this.policies.length;
    const effect = EFFECTS[effectCode];
    if (effect === undefined || nViol < 0 || nViol > P || nWaived < 0 || nWaived > P) {
      throw new AecpError("AECP_EVAL_FAILED", `policy module returned an invalid result (effect ${effectCode})`);
    }
    const violations = this.refs(out + 4, nViol);
    const waived = this.refs(out + 4 + P, nWaived);
    return {
      effect,
      violations,
      waived,
      defaulted: this.i32[out + 1] === 1,
      bundle: this.ref,
      evalNs: Math.round((performance.now() - t0) * 1e6),
    };
  }

  private refs(start: number, n: number): PolicyRef[] {
    if (n === 0) return [];
    // policy-table order (the module reports them in evaluation order)
    const idx = this.i32.slice(start, start + n).sort();
    const out = new Array<PolicyRef>(n);
    for (let k = 0; k < n; k++) {
      const i = idx[k]!;
      let ref = this.refsByIndex[i];
      if (ref === undefined) {
        const p = this.policies[i];
        if (p === undefined) throw new AecpError("AECP_EVAL_FAILED", `policy module returned unknown policy index ${i}`);
        ref = this.refsByIndex[i] = Object.freeze({ policy: p.name, enforcement: p.enforcement });
      }
      out[k] = ref;
    }
    return out;
  }
}

/** Map each string to its index, like `new Map(list.map((s, i) => [s, i]))` (a repeat keeps its last index) without a pair per entry. */
/** Unknown strings per evaluation looked up by a scan of a list; more switch to a Map. */
const UNKNOWN_SCAN = 16;

function indexOf(list: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < list.length; i++) m.set(list[i]!, i);
  return m;
}

function abortMalformed(what: string): never {
  throw new AecpError("AECP_BUNDLE_MALFORMED", `bundle metadata has no valid ${what}`);
}
