// A minimal canonical-ABI caller for the bundle's component export
// `aecp:policy/evaluator@1.0.0#evaluate` (proto/policy.wit), run directly on
// the core module. This path interns strings inside the module (hash table +
// unknown-id scan) instead of in the host, so it is a separate implementation
// worth comparing with `LoadedBundle.evaluateSlots`.

import { EXPORT_CM_EVALUATE, EXPORT_CM_POST_EVALUATE, EFFECTS, extractCoreModule } from "../../src/bundle/index.js";
import type { SlotValue } from "../../src/bundle/resolve.js";

export interface CmDecision {
  effect: string;
  violated: number[];
  waived: number[];
  defaulted: boolean;
}

export class CmEvaluator {
  private readonly memory: WebAssembly.Memory;
  private readonly realloc: (old: number, oldSize: number, align: number, size: number) => number;
  private readonly evaluate: (sp: number, sl: number, wp: number, wl: number) => number;
  private readonly post: (ret: number) => void;
  private readonly enc = new TextEncoder();

  /** `component`: the compiled component bytes; `exceptions`: the bundle's exception table. */
  constructor(
    component: Uint8Array,
    private readonly exceptions: readonly string[],
  ) {
    const instance = new WebAssembly.Instance(new WebAssembly.Module(extractCoreModule(component)), {});
    const ex = instance.exports as Record<string, unknown>;
    this.memory = ex["memory"] as WebAssembly.Memory;
    this.realloc = ex["cabi_realloc"] as CmEvaluator["realloc"];
    this.evaluate = ex[EXPORT_CM_EVALUATE] as CmEvaluator["evaluate"];
    this.post = ex[EXPORT_CM_POST_EVALUATE] as CmEvaluator["post"];
  }

  run(values: readonly SlotValue[], waivers: readonly string[]): CmDecision {
    const n = values.length;
    const sp = this.realloc(0, 0, 8, Math.max(1, n * 16));
    const strs: Array<{ at: number; bytes: Uint8Array }> = [];
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (typeof v === "string") {
        const bytes = this.enc.encode(v);
        strs.push({ at: i, bytes });
      }
    }
    // allocate string bytes before taking views (realloc may grow memory)
    const ptrs = new Map<number, { ptr: number; len: number }>();
    for (const s of strs) ptrs.set(s.at, { ptr: this.realloc(0, 0, 1, Math.max(1, s.bytes.length)), len: s.bytes.length });
    const ids = waivers.map((w) => this.exceptions.indexOf(w)).filter((i) => i >= 0);
    const wp = this.realloc(0, 0, 4, Math.max(1, ids.length * 4));
    const dv = new DataView(this.memory.buffer);
    const u8 = new Uint8Array(this.memory.buffer);
    for (let i = 0; i < n; i++) {
      const v = values[i];
      const base = sp + i * 16;
      for (let b = 0; b < 16; b++) u8[base + b] = 0;
      if (v === undefined) u8[base] = 0;
      else if (typeof v === "string") {
        const p = ptrs.get(i)!;
        u8.set(strs.find((s) => s.at === i)!.bytes, p.ptr);
        u8[base] = 1;
        dv.setUint32(base + 8, p.ptr, true);
        dv.setUint32(base + 12, p.len, true);
      } else if (typeof v === "number") {
        u8[base] = 2;
        dv.setFloat64(base + 8, v, true);
      } else {
        u8[base] = 3;
        u8[base + 8] = v ? 1 : 0;
      }
    }
    ids.forEach((id, k) => dv.setUint32(wp + 4 * k, id, true));
    const ret = this.evaluate(sp, n, wp, ids.length);
    const rv = new DataView(this.memory.buffer);
    const list = (ptr: number, len: number): number[] => Array.from({ length: len }, (_, k) => rv.getUint32(ptr + 4 * k, true));
    const out: CmDecision = {
      effect: EFFECTS[rv.getUint8(ret)] ?? `invalid(${rv.getUint8(ret)})`,
      violated: list(rv.getUint32(ret + 4, true), rv.getUint32(ret + 8, true)).sort((a, b) => a - b),
      waived: list(rv.getUint32(ret + 12, true), rv.getUint32(ret + 16, true)).sort((a, b) => a - b),
      defaulted: rv.getUint8(ret + 20) === 1,
    };
    this.post(ret);
    return out;
  }
}
