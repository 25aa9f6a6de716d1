// Stage "codegen": IR → WebAssembly core module (ABI v1, docs/abi.md).
//
// Module shape:
//   helpers   memeq, starts_with, ends_with, glob, intern, unknown_id, record
//   policies  one function per policy: () -> i32 (0 out of scope, 1 satisfied,
//             2 violated, 3 waived), all in one funcref table (index = policy index)
//   aecp_eval evaluates unindexed policies directly, then for each index group
//             looks up the slot's string id in a jump table (data segment) and
//             call_indirects only the candidate policies
//   adapter   `aecp:policy/evaluator@1.0.0#evaluate`: canonical-ABI entry that
//             converts `list<value>` into slot records (interning strings with an
//             in-module hash table), then runs aecp_eval
// All addresses are static: loads use `i32.const 0` plus an offset immediate.

import * as abi from "../bundle/index.js";
import type { Ir, IrCond } from "./ir.js";
import { Code, ModuleBuilder, ValType } from "./wasm/encoder.js";

const I32 = ValType.I32;
const utf8 = new TextEncoder();


/** Bump allocator for static data, deterministic by construction. */
class DataLayout {
  private readonly chunks: Array<{ offset: number; bytes: Uint8Array }> = [];
  top: number;
  private readonly interned = new Map<string, number>();

  constructor(base: number) {
    this.top = base;
  }

  private frozen = false;

  /** After this, any new allocation is a compiler bug (it would overlap the heap). */
  freeze(): void {
    this.frozen = true;
  }

  alloc(size: number, align: number): number {
    if (this.frozen) throw new Error("compiler bug: constant data allocated after layout was frozen");
    this.top = (this.top + align - 1) & ~(align - 1);
    const at = this.top;
    this.top += size;
    return at;
  }

  put(bytes: Uint8Array, align = 1): number {
    const at = this.alloc(bytes.length, align);
    if (bytes.length > 0) this.chunks.push({ offset: at, bytes });
    return at;
  }

  /** Constant UTF-8 string bytes, shared between uses. */
  str(s: string): { ptr: number; len: number } {
    const bytes = utf8.encode(s);
    let ptr = this.interned.get(s);
    if (ptr === undefined) {
      ptr = this.put(bytes);
      this.interned.set(s, ptr);
    }
    return { ptr, len: bytes.length };
  }

  u32s(values: ArrayLike<number>): number {
    const b = new Uint8Array(values.length * 4);
    const dv = new DataView(b.buffer);
    for (let i = 0; i < values.length; i++) dv.setUint32(i * 4, values[i]! >>> 0, true);
    return this.put(b, 4);
  }

  /**
   * All constant data as ONE segment (alignment gaps zero-filled): engines
   * and wasm-tools cap a module at 100,000 data segments, and a bundle can
   * hold more distinct strings than that.
   */
  segments(): Array<{ offset: number; bytes: Uint8Array }> {
    if (this.chunks.length === 0) return [];
    const start = this.chunks[0]!.offset;
    const last = this.chunks[this.chunks.length - 1]!;
    const bytes = new Uint8Array(last.offset + last.bytes.length - start);
    for (const c of this.chunks) bytes.set(c.bytes, c.offset - start);
    return [{ offset: start, bytes }];
  }
}

export interface CodegenResult {
  module: Uint8Array;
  layout: { inputPtr: number; slotStride: number; waiverPtr: number; outputPtr: number; scratchPtr: number };
  stats: { functions: number; indexGroups: number; indexedPolicies: number; unindexedPolicies: number; dataBytes: number };
}

const SMALL_IN = 8;

export function codegen(ir: Ir): CodegenResult {
  const m = new ModuleBuilder();
  const D = ir.strings.length;
  const P = ir.policies.length;
  const S = ir.slots.length;
  const data = new DataLayout(1024);

  // --- static data ------------------------------------------------------------
  // dictionary: bytes + (ptr,len) table + open-addressing hash table of (id+1)
  const dictEntries: number[] = [];
  for (const s of ir.strings) {
    const { ptr, len } = data.str(s);
    dictEntries.push(ptr, len);
  }
  const dictTable = data.u32s(dictEntries);
  let hcap = 8;
  while (hcap < D * 2) hcap *= 2;
  const htab = new Uint32Array(hcap);
  ir.strings.forEach((s, id) => {
    let i = abi.fnv1a(utf8.encode(s)) & (hcap - 1);
    while (htab[i] !== 0) i = (i + 1) & (hcap - 1);
    htab[i] = id + 1;
  });
  const hashTable = data.u32s(htab);
  const enfTable = data.put(Uint8Array.from(ir.policies.map((p) => abi.ENFORCEMENT_CODE[p.enforcement])));
  const slotTypes = data.put(Uint8Array.from(ir.slots.map((s) => abi.SLOT_TYPE_CODE[s.type])));
  // dispatch tables: starts[D+1] and candidates[] per group
  const groupTables = ir.groups.map((g) => {
    const starts = new Uint32Array(D + 1);
    const cands: number[] = [];
    for (let id = 0; id < D; id++) {
      starts[id] = cands.length;
      const list = g.byId.get(id);
      if (list) for (const j of list) cands.push(j); // no spread: lists can be huge
    }
    starts[D] = cands.length;
    return { slot: g.slot, starts: data.u32s(starts), cands: data.u32s(cands) };
  });
  // IN bitsets for large string lists are allocated lazily during emission
  const bitsets = new Map<string, number>();
  const bitset = (ids: number[]): number => {
    const key = ids.join(",");
    let at = bitsets.get(key);
    if (at === undefined) {
      const b = new Uint8Array((D + 7) >> 3);
      for (const id of ids) b[id >> 3]! |= 1 << (id & 7);
      at = data.put(b);
      bitsets.set(key, at);
    }
    return at;
  };

  // --- functions (indices fixed up-front) ----------------------------------------
  const t_i = { params: [], results: [I32] };
  const fAbi = m.declareFunction(t_i);
  const fRecord = m.declareFunction({ params: [I32, I32], results: [] });
  const fMemeq = m.declareFunction({ params: [I32, I32, I32], results: [I32] });
  const fStarts = m.declareFunction({ params: [I32, I32, I32, I32], results: [I32] });
  const fEnds = m.declareFunction({ params: [I32, I32, I32, I32], results: [I32] });
  const fGlob = m.declareFunction({ params: [I32, I32, I32, I32], results: [I32] });
  const fIntern = m.declareFunction({ params: [I32, I32], results: [I32] });
  const fUnknownId = m.declareFunction({ params: [I32, I32, I32], results: [I32] });
  const fEval = m.declareFunction(t_i);
  const fCmEval = m.declareFunction({ params: [I32, I32, I32, I32], results: [I32] });
  const fCmPost = m.declareFunction({ params: [I32], results: [] });
  const fRealloc = m.declareFunction({ params: [I32, I32, I32, I32], results: [I32] });
  const fCopy = m.declareFunction({ params: [I32, I32, I32], results: [] });
  const policyType = m.type(t_i);
  const fPolicy = ir.policies.map(() => m.declareFunction(t_i));
  for (const [idx, name] of [
    [fAbi, "abi_version"], [fRecord, "record"], [fMemeq, "memeq"], [fStarts, "starts_with"], [fEnds, "ends_with"],
    [fGlob, "glob"], [fIntern, "intern"], [fUnknownId, "unknown_id"], [fEval, "eval"], [fCmEval, "cm_evaluate"],
    [fCmPost, "cm_post_evaluate"], [fRealloc, "cabi_realloc"], [fCopy, "memcpy"],
  ] as const) m.nameFunction(idx, name);
  ir.policies.forEach((p, j) => m.nameFunction(fPolicy[j]!, `policy.${p.name}`));

  // The dynamic regions (input, waivers, output, heap) sit after all constant
  // data, so a pre-pass allocates every constant the policies will need first;
  // emission then only looks constants up (DataLayout interns them).
  let inputPtrPlaceholder = 0;
  const slotAddr = (slot: number, field: number): number => inputPtrPlaceholder + slot * abi.SLOT_STRIDE + field;
  const preAllocate = (c: IrCond): void => {
    switch (c.k) {
      case "and":
      case "or":
        c.items.forEach(preAllocate);
        return;
      case "not":
        preAllocate(c.x);
        return;
      case "str_in":
        if (c.ids.length > SMALL_IN) bitset(c.ids);
        return;
      case "strop":
        data.str(c.value);
        return;
      case "glob":
        c.patterns.forEach((p) => data.str(p));
        return;
      default:
        return;
    }
  };
  for (const p of ir.policies) {
    preAllocate(p.scope);
    if (p.constraint) preAllocate(p.constraint);
  }
  // dynamic regions
  const inputPtr = data.alloc(S * abi.SLOT_STRIDE, 8);
  inputPtrPlaceholder = inputPtr;
  const W = ir.exceptions.length;
  const waiverPtr = data.alloc(Math.max(W, 1), 4);
  const outputPtr = data.alloc(abi.OUT_LISTS + 8 * P, 4);
  const retArea = data.alloc(24, 8);
  const scratchPtr = (data.top + 15) & ~15;
  data.freeze();
  const outViol = outputPtr + abi.OUT_LISTS;
  const outWaived = outputPtr + abi.OUT_LISTS + 4 * P;

  // globals
  const gHeap = m.global(I32, true, scratchPtr);
  const gInScope = m.global(I32, true, 0);
  const gBlock = m.global(I32, true, 0);
  const gPause = m.global(I32, true, 0);

  // --- condition emission -----------------------------------------------------------
  const load32 = (c: Code, addr: number): Code => c.i32Const(0).i32Load(addr);
  const emit = (c: Code, cond: IrCond): void => {
    switch (cond.k) {
      case "const":
        c.i32Const(cond.v ? 1 : 0);
        return;
      case "and":
      case "or": {
        // Flat short-circuit, no nesting (a 10,000-term AND stays one block):
        //   block (result i32)
        //     i32.const <exit>  <item>  [i32.eqz]  br_if 0  drop     ; per item but the last
        //     <last item>
        //   end
        const n = cond.items.length;
        if (n === 1) {
          emit(c, cond.items[0]!);
          return;
        }
        const exit = cond.k === "and" ? 0 : 1;
        c.block(I32);
        for (let k = 0; k < n - 1; k++) {
          c.i32Const(exit);
          emit(c, cond.items[k]!);
          if (cond.k === "and") c.i32Eqz();
          c.brIf(0).drop();
        }
        emit(c, cond.items[n - 1]!);
        c.end();
        return;
      }
      case "not":
        emit(c, cond.x);
        c.i32Eqz();
        return;
      case "exists":
        load32(c, slotAddr(cond.slot, abi.SLOT_TAG));
        return;
      case "str_eq":
        // INVARIANT: a missing string has id -1, so `==` needs no tag test.
        if (cond.neg) {
          load32(c, slotAddr(cond.slot, abi.SLOT_TAG));
          load32(c, slotAddr(cond.slot, abi.SLOT_ID)).i32Const(cond.id).i32Ne().i32And();
        } else load32(c, slotAddr(cond.slot, abi.SLOT_ID)).i32Const(cond.id).i32Eq();
        return;
      case "str_in": {
        if (cond.neg) load32(c, slotAddr(cond.slot, abi.SLOT_TAG));
        const idAddr = slotAddr(cond.slot, abi.SLOT_ID);
        if (cond.ids.length <= SMALL_IN) {
          cond.ids.forEach((id, i) => {
            load32(c, idAddr).i32Const(id).i32Eq();
            if (i > 0) c.i32Or();
          });
        } else {
          const bs = bitset(cond.ids);
          load32(c, idAddr).i32Const(D).i32LtU().if(I32);
          // (bitset[id >> 3] >> (id & 7)) & 1
          load32(c, idAddr).i32Const(3).i32ShrU().i32Load8U(bs);
          load32(c, idAddr).i32Const(7).i32And().i32ShrU().i32Const(1).i32And();
          c.else().i32Const(0).end();
        }
        if (cond.neg) c.i32Eqz().i32And();
        return;
      }
      case "num_cmp": {
        load32(c, slotAddr(cond.slot, abi.SLOT_TAG));
        c.i32Const(0).f64Load(slotAddr(cond.slot, abi.SLOT_NUM)).f64Const(cond.v);
        ({ "==": () => c.f64Eq(), "!=": () => c.f64Ne(), "<": () => c.f64Lt(), "<=": () => c.f64Le(), ">": () => c.f64Gt(), ">=": () => c.f64Ge() })[cond.op]();
        c.i32And();
        return;
      }
      case "num_in": {
        load32(c, slotAddr(cond.slot, abi.SLOT_TAG));
        cond.vals.forEach((v, i) => {
          c.i32Const(0).f64Load(slotAddr(cond.slot, abi.SLOT_NUM)).f64Const(v).f64Eq();
          if (i > 0) c.i32Or();
        });
        if (cond.neg) c.i32Eqz();
        c.i32And();
        return;
      }
      case "bool_eq":
        load32(c, slotAddr(cond.slot, abi.SLOT_TAG));
        load32(c, slotAddr(cond.slot, abi.SLOT_ID)).i32Const(cond.v ? 1 : 0);
        if (cond.neg) c.i32Ne();
        else c.i32Eq();
        c.i32And();
        return;
      case "attr_eq": {
        load32(c, slotAddr(cond.a, abi.SLOT_TAG));
        load32(c, slotAddr(cond.b, abi.SLOT_TAG)).i32And();
        if (cond.num) {
          c.i32Const(0).f64Load(slotAddr(cond.a, abi.SLOT_NUM)).i32Const(0).f64Load(slotAddr(cond.b, abi.SLOT_NUM));
          if (cond.neg) c.f64Ne();
          else c.f64Eq();
        } else {
          load32(c, slotAddr(cond.a, abi.SLOT_ID));
          load32(c, slotAddr(cond.b, abi.SLOT_ID));
          if (cond.neg) c.i32Ne();
          else c.i32Eq();
        }
        c.i32And();
        return;
      }
      case "strop": {
        const k = data.str(cond.value);
        load32(c, slotAddr(cond.slot, abi.SLOT_TAG)).if(I32);
        load32(c, slotAddr(cond.slot, abi.SLOT_PTR));
        load32(c, slotAddr(cond.slot, abi.SLOT_LEN));
        c.i32Const(k.ptr).i32Const(k.len).call(cond.op === "starts_with" ? fStarts : fEnds);
        c.else().i32Const(0).end();
        return;
      }
      case "glob": {
        load32(c, slotAddr(cond.slot, abi.SLOT_TAG)).if(I32);
        cond.patterns.forEach((p, i) => {
          const k = data.str(p);
          load32(c, slotAddr(cond.slot, abi.SLOT_PTR));
          load32(c, slotAddr(cond.slot, abi.SLOT_LEN));
          c.i32Const(k.ptr).i32Const(k.len).call(fGlob);
          if (i > 0) c.i32Or();
        });
        c.else().i32Const(0).end();
        return;
      }
    }
  };

  // --- policy functions ----------------------------------------------------------------
  ir.policies.forEach((p, j) => {
    const c = new Code();
    emit(c, p.scope);
    c.i32Eqz().if().i32Const(abi.POLICY_OUT_OF_SCOPE).return().end();
    if (p.constraint) {
      emit(c, p.constraint);
      c.if().i32Const(abi.POLICY_SATISFIED).return().end();
    }
    for (const e of p.exceptionIds) {
      c.i32Const(0).i32Load8U(waiverPtr + e).if().i32Const(abi.POLICY_WAIVED).return().end();
    }
    c.i32Const(abi.POLICY_VIOLATED);
    m.defineFunction(fPolicy[j]!, [], c);
  });
  m.table(fPolicy);

  // --- helpers ----------------------------------------------------------------------------
  m.defineFunction(fAbi, [], new Code().i32Const(abi.ABI_VERSION));

  {
    // record(j, r)
    const c = new Code();
    c.localGet(1).i32Eqz().if().return().end();
    c.i32Const(1).globalSet(gInScope);
    c.localGet(1).i32Const(abi.POLICY_SATISFIED).i32Eq().if().return().end();
    c.localGet(1).i32Const(abi.POLICY_WAIVED).i32Eq().if();
    // waived[n] = j; n++
    load32(c, outputPtr + abi.OUT_N_WAIVED).localTee(2).i32Const(4).i32Mul().localGet(0).i32Store(outWaived);
    c.i32Const(0).localGet(2).i32Const(1).i32Add().i32Store(outputPtr + abi.OUT_N_WAIVED);
    c.return().end();
    load32(c, outputPtr + abi.OUT_N_VIOLATED).localTee(2).i32Const(4).i32Mul().localGet(0).i32Store(outViol);
    c.i32Const(0).localGet(2).i32Const(1).i32Add().i32Store(outputPtr + abi.OUT_N_VIOLATED);
    c.localGet(0).i32Load8U(enfTable).localTee(3).i32Const(abi.ENF_BLOCKING).i32Eq().if().i32Const(1).globalSet(gBlock).end();
    c.localGet(3).i32Const(abi.ENF_REQUIRE_APPROVAL).i32Eq().if().i32Const(1).globalSet(gPause).end();
    m.defineFunction(fRecord, [I32, I32], c);
  }
  {
    // memeq(a, b, len)
    const c = new Code();
    c.block().loop();
    c.localGet(2).i32Eqz().brIf(1);
    c.localGet(0).i32Load8U().localGet(1).i32Load8U().i32Ne().if().i32Const(0).return().end();
    c.localGet(0).i32Const(1).i32Add().localSet(0);
    c.localGet(1).i32Const(1).i32Add().localSet(1);
    c.localGet(2).i32Const(1).i32Sub().localSet(2);
    c.br(0).end().end();
    c.i32Const(1);
    m.defineFunction(fMemeq, [], c);
  }
  {
    // starts_with(sp, sl, cp, cl)
    const c = new Code();
    c.localGet(3).localGet(1).i32GtU().if().i32Const(0).return().end();
    c.localGet(0).localGet(2).localGet(3).call(fMemeq);
    m.defineFunction(fStarts, [], c);
  }
  {
    // ends_with(sp, sl, cp, cl)
    const c = new Code();
    c.localGet(3).localGet(1).i32GtU().if().i32Const(0).return().end();
    c.localGet(0).localGet(1).i32Add().localGet(3).i32Sub().localGet(2).localGet(3).call(fMemeq);
    m.defineFunction(fEnds, [], c);
  }
  {
    // glob(sp, sl, pp, pl): `*` = any run without '/', `**` = any run.
    // Two-level backtracking: the last `*` may extend while it does not
    // swallow '/', otherwise the last `**` extends by one character.
    // locals: 4 s, 5 p, 6 starP, 7 starS, 8 gP, 9 gS, 10 ch
    const [sp, sl, pp, pl, s, p, starP, starS, gP, gS, ch] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    const STAR = 42;
    const SLASH = 47;
    const c = new Code();
    c.i32Const(-1).localSet(starP).i32Const(-1).localSet(gP);
    c.loop(); // $L (label 0 at top level of loop body)
    {
      c.localGet(s).localGet(sl).i32LtU().if(); // depth +1
      {
        c.localGet(p).localGet(pl).i32LtU().if(); // depth +2
        {
          c.localGet(pp).localGet(p).i32Add().i32Load8U().localTee(ch).i32Const(STAR).i32Eq().if(); // +3
          {
            c.localGet(p).i32Const(1).i32Add().localGet(pl).i32LtU().if(I32); // +4 (value)
            c.localGet(pp).localGet(p).i32Add().i32Load8U(1).i32Const(STAR).i32Eq();
            c.else().i32Const(0).end();
            c.if(); // +4
            c.localGet(p).i32Const(2).i32Add().localTee(p).localSet(gP);
            c.localGet(s).localSet(gS).i32Const(-1).localSet(starP);
            c.br(4); // continue $L
            c.end();
            c.localGet(p).i32Const(1).i32Add().localTee(p).localSet(starP);
            c.localGet(s).localSet(starS);
            c.br(3);
          }
          c.end();
          c.localGet(ch).localGet(sp).localGet(s).i32Add().i32Load8U().i32Eq().if(); // +3
          c.localGet(p).i32Const(1).i32Add().localSet(p);
          c.localGet(s).i32Const(1).i32Add().localSet(s);
          c.br(3);
          c.end();
        }
        c.end();
        // mismatch: backtrack
        c.localGet(starP).i32Const(-1).i32Ne().if(I32); // +2
        c.localGet(sp).localGet(starS).i32Add().i32Load8U().i32Const(SLASH).i32Ne();
        c.else().i32Const(0).end();
        c.if(); // +2
        c.localGet(starS).i32Const(1).i32Add().localTee(starS).localSet(s);
        c.localGet(starP).localSet(p);
        c.br(2);
        c.end();
        c.localGet(gP).i32Const(-1).i32Ne().if(); // +2
        c.localGet(gS).i32Const(1).i32Add().localTee(gS).localSet(s);
        c.localGet(gP).localSet(p).i32Const(-1).localSet(starP);
        c.br(2);
        c.end();
        c.i32Const(0).return();
      }
      c.end();
    }
    c.end(); // loop
    // string consumed: the rest of the pattern must be wildcards only
    c.block().loop();
    c.localGet(p).localGet(pl).i32GeU().brIf(1);
    c.localGet(pp).localGet(p).i32Add().i32Load8U().i32Const(STAR).i32Ne().brIf(1);
    c.localGet(p).i32Const(1).i32Add().localSet(p);
    c.br(0).end().end();
    c.localGet(p).localGet(pl).i32Eq();
    m.defineFunction(fGlob, [I32, I32, I32, I32, I32, I32, I32], c);
  }
  {
    // intern(ptr, len) -> id or -1. FNV-1a, linear probing.
    const [ptr, len, h, i, e, id] = [0, 1, 2, 3, 4, 5];
    const c = new Code();
    c.i32Const(0x811c9dc5 | 0).localSet(h);
    c.i32Const(0).localSet(i);
    c.block().loop();
    c.localGet(i).localGet(len).i32GeU().brIf(1);
    c.localGet(h).localGet(ptr).localGet(i).i32Add().i32Load8U().i32Xor().i32Const(0x01000193).i32Mul().localSet(h);
    c.localGet(i).i32Const(1).i32Add().localSet(i);
    c.br(0).end().end();
    c.localGet(h).i32Const(hcap - 1).i32And().localSet(i);
    c.loop();
    c.localGet(i).i32Const(4).i32Mul().i32Load(hashTable).localTee(e).i32Eqz().if().i32Const(-1).return().end();
    c.localGet(e).i32Const(1).i32Sub().localTee(id).i32Const(8).i32Mul().i32Load(dictTable + 4).localGet(len).i32Eq().if();
    c.localGet(id).i32Const(8).i32Mul().i32Load(dictTable).localGet(ptr).localGet(len).call(fMemeq).if().localGet(id).return().end();
    c.end();
    c.localGet(i).i32Const(1).i32Add().i32Const(hcap - 1).i32And().localSet(i);
    c.br(0).end();
    c.unreachable();
    m.defineFunction(fIntern, [I32, I32, I32, I32], c);
  }
  {
    // unknown_id(i, ptr, len): an earlier string slot holding the same unknown
    // string shares its id; otherwise D + i. Two different unknown strings
    // therefore never share an id.
    const [slot, ptr, len, j, rec] = [0, 1, 2, 3, 4];
    const c = new Code();
    c.i32Const(0).localSet(j);
    c.block().loop();
    c.localGet(j).localGet(slot).i32GeU().brIf(1);
    c.localGet(j).i32Const(abi.SLOT_STRIDE).i32Mul().i32Const(inputPtr).i32Add().localSet(rec);
    c.localGet(j).i32Load8U(slotTypes).i32Const(abi.SLOT_TYPE_CODE.string).i32Eq().if();
    c.localGet(rec).i32Load(abi.SLOT_TAG).if();
    c.localGet(rec).i32Load(abi.SLOT_ID).i32Const(D).i32GeU().if();
    c.localGet(rec).i32Load(abi.SLOT_LEN).localGet(len).i32Eq().if();
    c.localGet(rec).i32Load(abi.SLOT_PTR).localGet(ptr).localGet(len).call(fMemeq).if().localGet(rec).i32Load(abi.SLOT_ID).return().end();
    c.end().end().end().end();
    c.localGet(j).i32Const(1).i32Add().localSet(j);
    c.br(0).end().end();
    c.i32Const(D).localGet(slot).i32Add();
    m.defineFunction(fUnknownId, [I32, I32], c);
  }
  {
    // aecp_eval() -> effect
    const [k, end, id] = [0, 1, 2];
    const c = new Code();
    c.i32Const(0).i32Const(0).i32Store(outputPtr + abi.OUT_N_VIOLATED);
    c.i32Const(0).i32Const(0).i32Store(outputPtr + abi.OUT_N_WAIVED);
    c.i32Const(0).globalSet(gInScope).i32Const(0).globalSet(gBlock).i32Const(0).globalSet(gPause);
    for (const j of ir.unindexed) c.i32Const(j).call(fPolicy[j]!).call(fRecord);
    for (const g of groupTables) {
      load32(c, slotAddr(g.slot, abi.SLOT_ID)).localTee(id).i32Const(D).i32LtU().if();
      c.localGet(id).i32Const(4).i32Mul().localTee(k).i32Load(g.starts + 4).localSet(end);
      c.localGet(k).i32Load(g.starts).localSet(k);
      c.block().loop();
      c.localGet(k).localGet(end).i32GeU().brIf(1);
      c.localGet(k).i32Const(4).i32Mul().i32Load(g.cands).localTee(id); // j
      c.localGet(id).callIndirect(policyType).call(fRecord);
      c.localGet(k).i32Const(1).i32Add().localSet(k);
      c.br(0).end().end();
      c.end();
    }
    // effect
    c.globalGet(gBlock).if(I32).i32Const(abi.EFFECT_DENY).else();
    c.globalGet(gPause).if(I32).i32Const(abi.EFFECT_PAUSE).else();
    // select(a, b, c) = c ? a : b — in scope: allow; nothing in scope: the bundle's DEFAULT
    c.i32Const(abi.EFFECT_ALLOW).i32Const(ir.defaultEffect === "deny" ? abi.EFFECT_DENY : abi.EFFECT_ALLOW).globalGet(gInScope).select();
    c.end().end().localSet(k);
    c.i32Const(0).localGet(k).i32Store(outputPtr + abi.OUT_EFFECT);
    c.i32Const(0).globalGet(gInScope).i32Eqz().i32Store(outputPtr + abi.OUT_DEFAULTED);
    c.localGet(k);
    m.defineFunction(fEval, [I32, I32, I32], c);
  }
  {
    // canonical-ABI evaluate(slotsPtr, slotsLen, waiversPtr, waiversLen) -> retptr
    const [sPtr, sLen, wPtr, wLen, base, i, w, eff] = [0, 1, 2, 3, 4, 5, 6, 7];
    const c = new Code();
    c.localGet(sLen).i32Const(S).i32Ne().if().unreachable().end();
    ir.slots.forEach((slot, si) => {
      const rec = inputPtr + si * abi.SLOT_STRIDE;
      c.localGet(sPtr).i32Const(si * abi.WIT_VALUE_SIZE).i32Add().localSet(base);
      const disc =
        slot.type === "string" ? abi.WIT_VALUE_STR : slot.type === "number" ? abi.WIT_VALUE_NUM : slot.type === "bool" ? abi.WIT_VALUE_BOOLEAN : -1;
      // default: missing
      c.i32Const(0).i32Const(0).i32Store(rec + abi.SLOT_TAG);
      c.i32Const(0).i32Const(abi.ID_MISSING).i32Store(rec + abi.SLOT_ID);
      if (disc === -1) {
        c.i32Const(0).localGet(base).i32Load8U().i32Const(0).i32Ne().i32Store(rec + abi.SLOT_TAG);
        return;
      }
      c.localGet(base).i32Load8U().i32Const(disc).i32Eq().if();
      c.i32Const(0).i32Const(1).i32Store(rec + abi.SLOT_TAG);
      if (slot.type === "string") {
        c.i32Const(0).localGet(base).i32Load(8).i32Store(rec + abi.SLOT_PTR);
        c.i32Const(0).localGet(base).i32Load(12).i32Store(rec + abi.SLOT_LEN);
        c.localGet(base).i32Load(8).localGet(base).i32Load(12).call(fIntern).localTee(i).i32Const(-1).i32Eq().if();
        c.i32Const(si).localGet(base).i32Load(8).localGet(base).i32Load(12).call(fUnknownId).localSet(i);
        c.end();
        c.i32Const(0).localGet(i).i32Store(rec + abi.SLOT_ID);
      } else if (slot.type === "number") {
        c.i32Const(0).localGet(base).f64Load(8).f64Store(rec + abi.SLOT_NUM);
      } else {
        c.i32Const(0).localGet(base).i32Load8U(8).i32Const(0).i32Ne().i32Store(rec + abi.SLOT_ID);
      }
      c.end();
    });
    // waivers
    for (let e = 0; e < W; e++) c.i32Const(0).i32Const(0).i32Store8(waiverPtr + e);
    c.i32Const(0).localSet(i);
    c.block().loop();
    c.localGet(i).localGet(wLen).i32GeU().brIf(1);
    c.localGet(wPtr).localGet(i).i32Const(4).i32Mul().i32Add().i32Load().localTee(w).i32Const(W).i32LtU().if();
    c.localGet(w).i32Const(1).i32Store8(waiverPtr);
    c.end();
    c.localGet(i).i32Const(1).i32Add().localSet(i);
    c.br(0).end().end();
    c.call(fEval).localSet(eff);
    c.i32Const(0).localGet(eff).i32Store8(retArea);
    c.i32Const(0).i32Const(outViol).i32Store(retArea + 4);
    c.i32Const(0).i32Const(0).i32Load(outputPtr + abi.OUT_N_VIOLATED).i32Store(retArea + 8);
    c.i32Const(0).i32Const(outWaived).i32Store(retArea + 12);
    c.i32Const(0).i32Const(0).i32Load(outputPtr + abi.OUT_N_WAIVED).i32Store(retArea + 16);
    c.i32Const(0).i32Const(0).i32Load(outputPtr + abi.OUT_DEFAULTED).i32Store8(retArea + 20);
    c.i32Const(retArea);
    m.defineFunction(fCmEval, [I32, I32, I32, I32], c);
  }
  {
    // post-return: release everything cabi_realloc handed out for this call
    m.defineFunction(fCmPost, [], new Code().i32Const(scratchPtr).globalSet(gHeap));
  }
  {
    // cabi_realloc(old, oldSize, align, newSize): bump allocator that grows memory
    const [old, oldSize, align, newSize, ptr, need] = [0, 1, 2, 3, 4, 5];
    const c = new Code();
    c.globalGet(gHeap).localGet(align).i32Add().i32Const(1).i32Sub().i32Const(0).localGet(align).i32Sub().i32And().localTee(ptr);
    c.localGet(newSize).i32Add().localTee(need);
    // grow when needed: pages = ceil((need - memsize) / 64K)
    c.w.byte(0x3f).byte(0x00); // memory.size
    c.i32Const(16).i32Shl().i32GtU().if();
    c.localGet(need).i32Const(65535).i32Add().i32Const(16).i32ShrU();
    c.w.byte(0x3f).byte(0x00);
    c.i32Sub();
    c.w.byte(0x40).byte(0x00); // memory.grow
    c.i32Const(-1).i32Eq().if().unreachable().end();
    c.end();
    c.localGet(need).globalSet(gHeap);
    // copy old contents when reallocating
    c.localGet(old).if();
    c.localGet(ptr).localGet(old).localGet(oldSize).localGet(newSize).localGet(oldSize).localGet(newSize).i32LtU().select();
    c.call(fCopy);
    c.end();
    c.localGet(ptr);
    m.defineFunction(fRealloc, [I32, I32], c);
  }

  {
    // memcpy(dst, src, len) byte loop (MVP has no bulk memory)
    const c = new Code();
    c.block().loop();
    c.localGet(2).i32Eqz().brIf(1);
    c.localGet(0).localGet(1).i32Load8U().i32Store8();
    c.localGet(0).i32Const(1).i32Add().localSet(0);
    c.localGet(1).i32Const(1).i32Add().localSet(1);
    c.localGet(2).i32Const(1).i32Sub().localSet(2);
    c.br(0).end().end();
    m.defineFunction(fCopy, [], c);
  }

  // --- memory, data, exports ----------------------------------------------------------
  const pages = Math.ceil((scratchPtr + 65536) / 65536);
  m.memory(pages);
  for (const seg of data.segments()) m.dataSegment(seg.offset, seg.bytes);
  m.export("memory", "memory", 0);
  m.export(abi.EXPORT_ABI_VERSION, "func", fAbi);
  m.export(abi.EXPORT_EVAL, "func", fEval);
  m.export(abi.EXPORT_CM_ABI_VERSION, "func", fAbi);
  m.export(abi.EXPORT_CM_EVALUATE, "func", fCmEval);
  m.export(abi.EXPORT_CM_POST_EVALUATE, "func", fCmPost);
  m.export("cabi_realloc", "func", fRealloc);

  return {
    module: m.encode(),
    layout: { inputPtr, slotStride: abi.SLOT_STRIDE, waiverPtr, outputPtr, scratchPtr },
    stats: {
      functions: fPolicy.length + 13,
      indexGroups: ir.groups.length,
      indexedPolicies: P - ir.unindexed.length,
      unindexedPolicies: ir.unindexed.length,
      dataBytes: data.top - 1024,
    },
  };
}
