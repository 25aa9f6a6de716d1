// CheckResponse → protobuf bytes, written directly from a CheckOutcome: the
// sidecar's gRPC response serializer. protobufjs (fromObject + encode of the
// object form from toCheckResponse) spent about as much CPU on the 390-byte
// answer as the decision itself; this writer produces the same message in a
// single pass over a reusable scratch buffer (loadtest/check-path.mjs).
//
// INVARIANT: the bytes decode, with Envoy's own protos, to exactly
// toCheckResponse(outcome) — test/check-response-wire.test.ts checks every
// outcome kind and random metadata against protobufjs.
//
// Field numbers (envoy/service/auth/v3/external_auth.proto and friends):
//   CheckResponse      status 1 (google.rpc.Status), denied_response 2, ok_response 3, dynamic_metadata 4 (Struct)
//   google.rpc.Status  code 1 (int32), message 2
//   DeniedHttpResponse status 1 (HttpStatus: code 1), headers 2 (HeaderValueOption), body 3
//   OkHttpResponse     headers 2 (HeaderValueOption), headers_to_remove 5
//   HeaderValueOption  header 1 (HeaderValue: key 1, value 2), append 2 (BoolValue: value 1)
//   Struct             fields 1 (map entry: key 1, value 2)
//   Value              null_value 1, number_value 2, string_value 3, bool_value 4, struct_value 5, list_value 6 (ListValue: values 1)

import type { BundleRef } from "../bundle/index.js";
import type { JsonValue } from "./envoy.js";
import { OWN_HEADERS, type CheckOutcome } from "./response.js";

const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
/**
 * Room reserved for a nested message's length prefix before its size is
 * known: one byte, which fits every length below 128 — nearly all of them
 * here; a longer message is moved right once its length is known.
 */
const LEN_RESERVE = 1;
/** Strings up to this many UTF-16 units are written by the ASCII loop (no call into C++). */
const SHORT_STRING = 64;
/** Deepest metadata nesting written (Struct inside Value inside Struct …). */
const MAX_DEPTH = 32;
/** The metadata field of a plain allow that varies besides the decision id (response.ts metadataFor). */
const EVAL_NS = "aecp_eval_ns";

class Writer {
  buf: Buffer = Buffer.allocUnsafe(4096);
  pos = 0;
  /** While recording a template: the decision id, whose bytes' positions go to `idAt`. */
  track: string | undefined = undefined;
  idAt: number[] = [];
  /** While recording a template: where the last double's 8 bytes start, and the eval time's. */
  lastDoubleAt = -1;
  evalAt = -1;

  reset(): void {
    this.pos = 0;
    this.track = undefined;
    this.idAt.length = 0;
    this.lastDoubleAt = -1;
    this.evalAt = -1;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  varint(v: number): void {
    this.ensure(10);
    // v is a non-negative safe integer here (field tags, lengths, status codes)
    while (v > 0x7f) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }

  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, v: number): void {
    this.tag(field, VARINT);
    if (v >= 0) this.varint(v);
    else {
      // negative int32: ten-byte two's complement varint
      this.ensure(10);
      let lo = v >>> 0;
      let hi = 0xffffffff;
      for (let i = 0; i < 9; i++) {
        this.buf[this.pos++] = (lo & 0x7f) | 0x80;
        lo = (lo >>> 7) | ((hi & 0x7f) << 25);
        hi >>>= 7;
      }
      this.buf[this.pos++] = 1;
    }
  }

  string(field: number, s: string): void {
    const len = s.length;
    if (len <= SHORT_STRING) {
      // ASCII fast path: tag, one length byte, one byte per char; any
      // non-ASCII char rewinds to the general path below
      const start = this.pos;
      this.tag(field, LEN);
      this.ensure(len + 1);
      const b = this.buf; // after every ensure: growing replaces the buffer
      let p = this.pos;
      b[p++] = len;
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c > 0x7f) break;
        b[p++] = c;
      }
      if (i === len) {
        if (s === this.track) this.idAt.push(this.pos + 1);
        this.pos = p;
        return;
      }
      this.pos = start;
    }
    const n = Buffer.byteLength(s, "utf8");
    this.tag(field, LEN);
    this.varint(n);
    this.ensure(n);
    this.pos += this.buf.write(s, this.pos, n, "utf8");
  }

  double(field: number, v: number): void {
    this.tag(field, FIXED64);
    this.ensure(8);
    this.lastDoubleAt = this.pos;
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  bool(field: number, v: boolean): void {
    this.tag(field, VARINT);
    this.varint(v ? 1 : 0);
  }

  /** Start a nested message: returns where its content starts. */
  begin(field: number): number {
    this.tag(field, LEN);
    this.ensure(LEN_RESERVE);
    this.pos += LEN_RESERVE;
    return this.pos;
  }

  /** Finish a nested message: write its length, moving the content right when the length needs more than the reserved byte. */
  end(start: number): void {
    const len = this.pos - start;
    const at = start - LEN_RESERVE;
    if (len < 0x80) {
      this.buf[at] = len;
      return;
    }
    let lenBytes = 1;
    for (let v = len; v > 0x7f; v = Math.floor(v / 128)) lenBytes++;
    this.ensure(lenBytes - LEN_RESERVE);
    this.buf.copyWithin(at + lenBytes, start, this.pos);
    if (this.track !== undefined) {
      // recorded positions inside the moved content move with it
      const shift = lenBytes - LEN_RESERVE;
      for (let i = 0; i < this.idAt.length; i++) if (this.idAt[i]! >= start) this.idAt[i]! += shift;
      if (this.evalAt >= start) this.evalAt += shift;
    }
    const end = at + lenBytes + len;
    this.pos = at;
    this.varint(len);
    this.pos = end;
  }

  bytes(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    return out;
  }
}

function header(w: Writer, field: number, key: string, value: string): void {
  const opt = w.begin(field);
  const hv = w.begin(1);
  w.string(1, key);
  w.string(2, value);
  w.end(hv);
  const append = w.begin(2); // always explicit: never append to a header the client sent
  w.bool(1, false);
  w.end(append);
  w.end(opt);
}

function value(w: Writer, field: number, v: JsonValue, depth: number): void {
  const at = w.begin(field);
  if (v === null) w.int(1, 0);
  else if (typeof v === "string") w.string(3, v);
  else if (typeof v === "number") w.double(2, v);
  else if (typeof v === "boolean") w.bool(4, v);
  else if (depth >= MAX_DEPTH) w.int(1, 0); // deeper than any metadata we build: written as null
  else if (Array.isArray(v)) {
    const list = w.begin(6);
    for (const x of v) value(w, 1, x, depth + 1);
    w.end(list);
  } else {
    const s = w.begin(5);
    struct(w, v, depth + 1);
    w.end(s);
  }
  w.end(at);
}

function struct(w: Writer, o: { [k: string]: JsonValue }, depth: number): void {
  for (const k in o) {
    const entry = w.begin(1);
    w.string(1, k);
    value(w, 2, o[k]!, depth);
    if (depth === 0 && k === EVAL_NS) w.evalAt = w.lastDoubleAt;
    w.end(entry);
  }
}

const scratch = new Writer();


/**
 * The last plain allow's bytes (see CheckOutcome.plainAllow): for the same
 * bundle, every plain allow encodes to the same bytes but for the decision id
 * (36 ASCII characters, at `idAt`) and the evaluation time (a double, at
 * `evalAt`). Copying them and writing those 44 bytes replaces walking the
 * outcome and writing ~30 strings a byte at a time — the encoder's largest
 * cost on a lone Check, when its code and data are not in the CPU's caches.
 */
let template: { ref: BundleRef; bytes: Buffer; idAt: readonly number[]; idLength: number; evalAt: number } | undefined;
let templateHits = 0;

/** How many responses were written from the template (tests: it is used, not silently refused). */
export function templateUses(): number {
  return templateHits;
}

/** The CheckResponse for an outcome, as protobuf bytes (a fresh Buffer). */
export function encodeCheckResponse(o: CheckOutcome): Buffer {
  const ref = o.plainAllow;
  if (ref !== undefined) {
    const t = template;
    const evalNs = o.metadata[EVAL_NS];
    const id = o.decisionId;
    if (t !== undefined && t.ref === ref && id.length === t.idLength && typeof evalNs === "number") {
      const out = Buffer.allocUnsafe(t.bytes.length);
      t.bytes.copy(out);
      const a = t.idAt[0]!;
      const b = t.idAt[1]!;
      // one pass: write the id's bytes, leaving for a fresh encoding at a non-ASCII character
      let i = 0;
      for (; i < id.length; i++) {
        const c = id.charCodeAt(i);
        if (c > 0x7f) break;
        out[a + i] = out[b + i] = c;
      }
      if (i === id.length) {
        out.writeDoubleLE(evalNs, t.evalAt);
        templateHits++;
        return out;
      }
    }
  }
  const out = encodeFresh(o, ref !== undefined);
  if (ref !== undefined) recordTemplate(o, ref, out);
  return out;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/**
 * Keep a plain allow's bytes as the template when they are the shape the
 * template patches: the decision id written twice (the header and
 * aecp_decision_id) and the eval time once, at positions checked here.
 */
function recordTemplate(o: CheckOutcome, ref: BundleRef, bytes: Buffer): void {
  const w = scratch;
  const id = o.decisionId;
  const evalNs = o.metadata[EVAL_NS];
  template = undefined;
  if (id.length === 0 || !isAscii(id) || w.idAt.length !== 2 || w.evalAt < 0 || typeof evalNs !== "number") return;
  for (const at of w.idAt) if (bytes.toString("latin1", at, at + id.length) !== id) return;
  if (!Object.is(bytes.readDoubleLE(w.evalAt), evalNs)) return;
  template = { ref, bytes: Buffer.from(bytes), idAt: [...w.idAt], idLength: id.length, evalAt: w.evalAt };
}

/** The CheckResponse without the template (`track`: record where the decision id and eval time go). */
export function encodeFresh(o: CheckOutcome, track = false): Buffer {
  const w = scratch;
  w.reset();
  if (track) w.track = o.decisionId;
  const status = w.begin(1);
  w.int(1, o.grpcCode);
  w.string(2, o.message);
  w.end(status);
  if (o.allowed) {
    const ok = w.begin(3);
    for (const [k, v] of o.headers) header(w, 2, k, v);
    for (const h of OWN_HEADERS) {
      let set = false;
      for (const [k] of o.headers) if (k === h) set = true;
      if (!set) w.string(5, h);
    }
    w.end(ok);
  } else {
    const denied = w.begin(2);
    const st = w.begin(1);
    w.int(1, o.httpStatus);
    w.end(st);
    for (const [k, v] of o.headers) header(w, 2, k, v);
    w.string(3, o.body ?? "");
    w.end(denied);
  }
  const md = w.begin(4);
  struct(w, o.metadata, 0);
  w.end(md);
  return w.bytes();
}
