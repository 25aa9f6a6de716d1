// A small, dependency-free WebAssembly (core, MVP + multi-value-free) binary
// encoder: the last stage of the Judicial pipeline writes policy modules with
// it. It knows sections, LEB128 and the handful of opcodes the code generator
// uses; it is deterministic (output depends only on the calls made).

export const enum ValType {
  I32 = 0x7f,
  I64 = 0x7e,
  F64 = 0x7c,
}

/** Block type for block/loop/if: empty or a single result. */
export type BlockType = "void" | ValType;

export class ByteWriter {
  private buf: Uint8Array;
  length = 0;

  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
  }

  private ensure(extra: number): void {
    if (this.length + extra <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + extra) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  byte(b: number): this {
    this.ensure(1);
    this.buf[this.length++] = b & 0xff;
    return this;
  }

  bytes(bs: ArrayLike<number>): this {
    this.ensure(bs.length);
    this.buf.set(bs, this.length);
    this.length += bs.length;
    return this;
  }

  u32(v: number): this {
    // unsigned LEB128
    let n = v >>> 0;
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n !== 0) b |= 0x80;
      this.byte(b);
    } while (n !== 0);
    return this;
  }

  s32(v: number): this {
    let n = v | 0;
    for (;;) {
      const b = n & 0x7f;
      n >>= 7;
      if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
        this.byte(b);
        return this;
      }
      this.byte(b | 0x80);
    }
  }

  s64(v: bigint): this {
    let n = BigInt.asIntN(64, v);
    for (;;) {
      const b = Number(n & 0x7fn);
      n >>= 7n;
      if ((n === 0n && (b & 0x40) === 0) || (n === -1n && (b & 0x40) !== 0)) {
        this.byte(b);
        return this;
      }
      this.byte(b | 0x80);
    }
  }

  f64(v: number): this {
    const tmp = new DataView(new ArrayBuffer(8));
    tmp.setFloat64(0, v, true);
    for (let i = 0; i < 8; i++) this.byte(tmp.getUint8(i));
    return this;
  }

  name(s: string): this {
    const enc = new TextEncoder().encode(s);
    this.u32(enc.length);
    return this.bytes(enc);
  }

  /** Length-prefixed nested content. */
  vecBytes(content: Uint8Array): this {
    this.u32(content.length);
    return this.bytes(content);
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** Memory argument: alignment exponent and static offset. */
interface MemArg {
  align: number;
  offset: number;
}

/**
 * Instruction builder for one function body. Methods append opcodes; the
 * generator keeps structured control flow balanced (checked in `finish`).
 */
export class Code {
  readonly w = new ByteWriter(64);
  private depth = 0;

  // --- control -------------------------------------------------------------
  unreachable(): this { this.w.byte(0x00); return this; }
  nop(): this { this.w.byte(0x01); return this; }
  block(bt: BlockType = "void"): this { this.depth++; this.w.byte(0x02).byte(bt === "void" ? 0x40 : bt); return this; }
  loop(bt: BlockType = "void"): this { this.depth++; this.w.byte(0x03).byte(bt === "void" ? 0x40 : bt); return this; }
  if(bt: BlockType = "void"): this { this.depth++; this.w.byte(0x04).byte(bt === "void" ? 0x40 : bt); return this; }
  else(): this { this.w.byte(0x05); return this; }
  end(): this { this.depth--; this.w.byte(0x0b); return this; }
  br(label: number): this { this.w.byte(0x0c).u32(label); return this; }
  brIf(label: number): this { this.w.byte(0x0d).u32(label); return this; }
  brTable(labels: readonly number[], dflt: number): this {
    this.w.byte(0x0e).u32(labels.length);
    for (const l of labels) this.w.u32(l);
    this.w.u32(dflt);
    return this;
  }
  return(): this { this.w.byte(0x0f); return this; }
  call(fn: number): this { this.w.byte(0x10).u32(fn); return this; }
  callIndirect(typeIdx: number, table = 0): this { this.w.byte(0x11).u32(typeIdx).u32(table); return this; }
  drop(): this { this.w.byte(0x1a); return this; }
  select(): this { this.w.byte(0x1b); return this; }

  // --- variables -------------------------------------------------------------
  localGet(i: number): this { this.w.byte(0x20).u32(i); return this; }
  localSet(i: number): this { this.w.byte(0x21).u32(i); return this; }
  localTee(i: number): this { this.w.byte(0x22).u32(i); return this; }
  globalGet(i: number): this { this.w.byte(0x23).u32(i); return this; }
  globalSet(i: number): this { this.w.byte(0x24).u32(i); return this; }

  // --- memory ----------------------------------------------------------------
  private mem(op: number, m: MemArg): this { this.w.byte(op).u32(m.align).u32(m.offset); return this; }
  i32Load(offset = 0): this { return this.mem(0x28, { align: 2, offset }); }
  f64Load(offset = 0): this { return this.mem(0x2b, { align: 3, offset }); }
  i32Load8U(offset = 0): this { return this.mem(0x2d, { align: 0, offset }); }
  i32Store(offset = 0): this { return this.mem(0x36, { align: 2, offset }); }
  f64Store(offset = 0): this { return this.mem(0x39, { align: 3, offset }); }
  i32Store8(offset = 0): this { return this.mem(0x3a, { align: 0, offset }); }

  // --- constants -------------------------------------------------------------
  i32Const(v: number): this { this.w.byte(0x41).s32(v); return this; }
  f64Const(v: number): this { this.w.byte(0x44).f64(v); return this; }

  // --- numeric ---------------------------------------------------------------
  i32Eqz(): this { this.w.byte(0x45); return this; }
  i32Eq(): this { this.w.byte(0x46); return this; }
  i32Ne(): this { this.w.byte(0x47); return this; }
  i32LtU(): this { this.w.byte(0x49); return this; }
  i32GtU(): this { this.w.byte(0x4b); return this; }
  i32LeU(): this { this.w.byte(0x4d); return this; }
  i32GeU(): this { this.w.byte(0x4f); return this; }
  f64Eq(): this { this.w.byte(0x61); return this; }
  f64Ne(): this { this.w.byte(0x62); return this; }
  f64Lt(): this { this.w.byte(0x63); return this; }
  f64Gt(): this { this.w.byte(0x64); return this; }
  f64Le(): this { this.w.byte(0x65); return this; }
  f64Ge(): this { this.w.byte(0x66); return this; }
  i32Add(): this { this.w.byte(0x6a); return this; }
  i32Sub(): this { this.w.byte(0x6b); return this; }
  i32Mul(): this { this.w.byte(0x6c); return this; }
  i32And(): this { this.w.byte(0x71); return this; }
  i32Or(): this { this.w.byte(0x72); return this; }
  i32Xor(): this { this.w.byte(0x73); return this; }
  i32Shl(): this { this.w.byte(0x74); return this; }
  i32ShrU(): this { this.w.byte(0x76); return this; }

  /** Bytes of the body: locals declaration + code + final `end`. */
  encodeBody(locals: readonly ValType[]): Uint8Array {
    if (this.depth !== 0) throw new Error(`compiler bug: unbalanced blocks (depth ${this.depth})`);
    const out = new ByteWriter(this.w.length + 16);
    // group consecutive equal local types
    const groups: Array<[number, ValType]> = [];
    for (const t of locals) {
      const last = groups[groups.length - 1];
      if (last && last[1] === t) last[0]++;
      else groups.push([1, t]);
    }
    out.u32(groups.length);
    for (const [n, t] of groups) out.u32(n).byte(t);
    out.bytes(this.w.finish());
    out.byte(0x0b);
    return out.finish();
  }
}

export interface FuncType {
  params: readonly ValType[];
  results: readonly ValType[];
}

interface FunctionDef {
  typeIdx: number;
  locals: ValType[];
  body: Uint8Array;
}

type ExportKind = "func" | "memory" | "global" | "table";

/** Builds a whole core module. Function indices are assigned in `declareFunction` order. */
export class ModuleBuilder {
  private readonly types: FuncType[] = [];
  private readonly typeKeys = new Map<string, number>();
  private readonly funcs: Array<FunctionDef | undefined> = [];
  private readonly funcTypes: number[] = [];
  private readonly exports: Array<{ name: string; kind: ExportKind; index: number }> = [];
  private readonly globals: Array<{ type: ValType; mutable: boolean; init: number }> = [];
  private readonly data: Array<{ offset: number; bytes: Uint8Array }> = [];
  private readonly customs: Array<{ name: string; bytes: Uint8Array }> = [];
  private memoryPages: { min: number; max?: number } | undefined;
  private tableElems: number[] | undefined;

  type(t: FuncType): number {
    const key = `${t.params.join(",")}->${t.results.join(",")}`;
    const hit = this.typeKeys.get(key);
    if (hit !== undefined) return hit;
    const idx = this.types.length;
    this.types.push(t);
    this.typeKeys.set(key, idx);
    return idx;
  }

  /** Reserve a function index now; supply its body later with `defineFunction`. */
  declareFunction(t: FuncType): number {
    const idx = this.funcTypes.length;
    this.funcTypes.push(this.type(t));
    this.funcs.push(undefined);
    return idx;
  }

  defineFunction(idx: number, locals: ValType[], code: Code): void {
    const typeIdx = this.funcTypes[idx];
    if (typeIdx === undefined) throw new Error(`compiler bug: function ${idx} not declared`);
    this.funcs[idx] = { typeIdx, locals, body: code.encodeBody(locals) };
  }

  memory(minPages: number, maxPages?: number): void {
    this.memoryPages = maxPages === undefined ? { min: minPages } : { min: minPages, max: maxPages };
  }

  global(type: ValType, mutable: boolean, init: number): number {
    this.globals.push({ type, mutable, init });
    return this.globals.length - 1;
  }

  /** One funcref table holding `funcIdxs` at positions 0..n-1 (for call_indirect). */
  table(funcIdxs: number[]): void {
    this.tableElems = funcIdxs;
  }

  export(name: string, kind: ExportKind, index: number): void {
    this.exports.push({ name, kind, index });
  }

  dataSegment(offset: number, bytes: Uint8Array): void {
    if (bytes.length > 0) this.data.push({ offset, bytes });
  }

  custom(name: string, bytes: Uint8Array): void {
    this.customs.push({ name, bytes });
  }

  /** Function names for the standard `name` section (listings, trap stack traces). */
  private readonly funcNames = new Map<number, string>();

  nameFunction(idx: number, name: string): void {
    this.funcNames.set(idx, name);
  }

  encode(): Uint8Array {
    const out = new ByteWriter(1 << 16);
    out.bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    const section = (id: number, build: (w: ByteWriter) => void): void => {
      const w = new ByteWriter();
      build(w);
      out.byte(id).vecBytes(w.finish());
    };
    section(1, (w) => {
      w.u32(this.types.length);
      for (const t of this.types) {
        w.byte(0x60).u32(t.params.length);
        for (const p of t.params) w.byte(p);
        w.u32(t.results.length);
        for (const r of t.results) w.byte(r);
      }
    });
    section(3, (w) => {
      w.u32(this.funcTypes.length);
      for (const t of this.funcTypes) w.u32(t);
    });
    if (this.tableElems) {
      const n = this.tableElems.length;
      section(4, (w) => w.u32(1).byte(0x70).byte(0x01).u32(n).u32(n));
    }
    if (this.memoryPages) {
      const m = this.memoryPages;
      section(5, (w) => {
        w.u32(1);
        if (m.max === undefined) w.byte(0x00).u32(m.min);
        else w.byte(0x01).u32(m.min).u32(m.max);
      });
    }
    if (this.globals.length > 0) {
      section(6, (w) => {
        w.u32(this.globals.length);
        for (const g of this.globals) {
          w.byte(g.type).byte(g.mutable ? 1 : 0);
          if (g.type === ValType.I32) w.byte(0x41).s32(g.init);
          else if (g.type === ValType.F64) w.byte(0x44).f64(g.init);
          else w.byte(0x42).s64(BigInt(g.init));
          w.byte(0x0b);
        }
      });
    }
    section(7, (w) => {
      w.u32(this.exports.length);
      const kinds: Record<ExportKind, number> = { func: 0, table: 1, memory: 2, global: 3 };
      for (const e of this.exports) w.name(e.name).byte(kinds[e.kind]).u32(e.index);
    });
    if (this.tableElems) {
      const elems = this.tableElems;
      section(9, (w) => {
        w.u32(1).byte(0x00).byte(0x41).s32(0).byte(0x0b).u32(elems.length);
        for (const f of elems) w.u32(f);
      });
    }
    section(10, (w) => {
      w.u32(this.funcs.length);
      this.funcs.forEach((f, i) => {
        if (!f) throw new Error(`compiler bug: function ${i} declared but never defined`);
        w.vecBytes(f.body);
      });
    });
    if (this.data.length > 0) {
      section(11, (w) => {
        w.u32(this.data.length);
        for (const d of this.data) w.byte(0x00).byte(0x41).s32(d.offset).byte(0x0b).vecBytes(d.bytes);
      });
    }
    for (const c of this.customs) {
      section(0, (w) => w.name(c.name).bytes(c.bytes));
    }
    if (this.funcNames.size > 0) {
      // name section, subsection 1 (function names), sorted by index
      const names = new ByteWriter();
      const entries = [...this.funcNames].sort((a, b) => a[0] - b[0]);
      names.u32(entries.length);
      for (const [idx, n] of entries) names.u32(idx).name(n);
      section(0, (w) => w.name("name").byte(1).vecBytes(names.finish()));
    }
    return out.finish();
  }
}
