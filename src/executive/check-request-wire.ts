// CheckRequest protobuf bytes → GrpcCheckFields: the sidecar's gRPC request
// deserializer. protobufjs decoded every field of Envoy's AttributeContext
// into objects (and its JS UTF-8 reader) for about a quarter of a Check's
// CPU; this reader walks the wire format once and materializes only the
// fields attributesFromGrpcFields() reads, into fixed-shape objects (so the
// adapter's loads are monomorphic), skipping the rest (timestamps,
// certificates, TLS session, typed metadata, route metadata, …) without
// decoding them.
//
// INVARIANT: for any CheckRequest, attributesFromGrpcFields() of this
// object equals attributesFromGrpcCheckRequest() of protobufjs's decode with
// LOADER_OPTIONS — test/check-request-wire.test.ts checks every captured
// sample in ../shared/checkrequests and random requests against protobufjs.
// Differences by design: invalid UTF-8 in a string becomes U+FFFD (Node's
// decoder) rather than protobufjs's lenient decoding, map keys are kept as
// data in null-prototype objects (a `__proto__` header cannot reach a
// prototype), the HTTP headers map is handed over as wire-order pairs
// (the adapter builds the one map), metadata Structs are converted to JSON
// here (what structToJson() does to protobufjs's objects), and malformed
// bytes or metadata nested deeper than MAX_NESTING are a
// MalformedCheckRequest (the sidecar fails closed with a reason code) instead
// of an exception that grpc-js turns into INTERNAL.
//
// Field numbers (envoy/service/auth/v3/attribute_context.proto and friends):
//   CheckRequest      attributes 1
//   AttributeContext  source 1, destination 2, request 4, context_extensions 10 (map), metadata_context 11
//   Peer              address 1 (Address: socket_address 1: address 2, port_value 3), service 2, labels 3 (map), principal 4
//   Request           http 2
//   HttpRequest       id 1, method 2, headers 3 (map), path 4, host 5, scheme 6, protocol 10, body 11, raw_body 12,
//                     header_map 13 (HeaderMap: headers 1: HeaderValue key 1, value 2, raw_value 3)
//   Metadata          filter_metadata 1 (map<string, Struct>)
//   Struct            fields 1 (map<string, Value>); Value: null 1, number 2, string 3, bool 4, struct 5, list 6 (values 1)

import { AecpError } from "../common/index.js";
import type { GrpcAttributeFields, GrpcCheckFields, GrpcHttpFields, GrpcPeerFields } from "./checkrequest.js";
import type { JsonValue } from "./envoy.js";

/** Deepest Struct/Value nesting accepted in metadata (Envoy's own limit for proto parsing is 100). */
export const MAX_NESTING = 64;

/** A request whose bytes could not be read: the sidecar answers it fail-closed with `error.code`. */
export class MalformedCheckRequest {
  constructor(readonly error: AecpError) {}
}

type Obj = Record<string, unknown>;

const malformed = (why: string): never => {
  throw new AecpError("AECP_REQUEST_MALFORMED", `CheckRequest bytes are malformed: ${why}`);
};

// Buffer#utf8Slice is what Buffer#toString("utf8", start, end) calls after
// normalizing its arguments; the reader's bounds are already checked.
const bufferUtf8Slice = (Buffer.prototype as unknown as { utf8Slice?: (start: number, end: number) => string }).utf8Slice;
const utf8Slice: (b: Buffer, start: number, end: number) => string =
  typeof bufferUtf8Slice === "function" ? (b, start, end) => bufferUtf8Slice.call(b, start, end) : (b, start, end) => b.toString("utf8", start, end);

// Map keys repeat from request to request: a mesh's requests carry the same
// few dozen header names. The reader keeps the string of each recently seen
// ASCII key in a small hash table (FNV-1a of its bytes; a key may sit in any
// of KEY_PROBES slots from its hash) and returns that same string when the
// same bytes arrive again, instead of decoding a new one per header per
// request, which V8 then had to look up in its string table again to use as a
// property key. Bounded: KEY_SLOTS entries of at most MAX_CACHED_KEY_BYTES
// bytes; an unseen key takes a free slot of its probe window or replaces one.
const KEY_SLOTS = 512;
const KEY_PROBES = 4;
const MAX_CACHED_KEY_BYTES = 64;
const keyBytes: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(KEY_SLOTS).fill(undefined);
const keyStrings: string[] = new Array<string>(KEY_SLOTS).fill("");

function cachedKey(b: Buffer, start: number, end: number): string {
  let h = 0x811c9dc5;
  let ascii = true;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c > 0x7f) ascii = false;
    h = Math.imul(h ^ c, 0x01000193);
  }
  if (!ascii) return utf8Slice(b, start, end);
  const len = end - start;
  let free = -1;
  for (let p = 0; p < KEY_PROBES; p++) {
    const slot = (h + p) & (KEY_SLOTS - 1);
    const seen = keyBytes[slot];
    if (seen === undefined) {
      if (free < 0) free = slot;
      continue;
    }
    if (seen.length !== len) continue;
    let i = 0;
    while (i < len && seen[i] === b[start + i]) i++;
    if (i === len) return keyStrings[slot]!;
  }
  // the string V8 interns as a property key (what a lookup would find anyway)
  const s = Object.keys({ [utf8Slice(b, start, end)]: 0 })[0]!;
  const slot = free >= 0 ? free : (h + ((h >>> 16) & (KEY_PROBES - 1))) & (KEY_SLOTS - 1);
  // its own small copy: Buffer.from() would slice Node's shared 8 KiB pool and keep a whole slab alive per key
  const copy = new Uint8Array(len);
  copy.set(b.subarray(start, end));
  keyBytes[slot] = copy;
  keyStrings[slot] = s;
  return s;
}

// Strings repeat by position too: one client's requests carry the same
// header names in the same order, most with the same values (method, scheme,
// content-type, user-agent, tenant, region), and the same principals and
// addresses. The reader remembers, per position — a fixed field (ROW_*) or
// the n-th map entry of the request (keys and values apart) — the bytes and
// string last decoded there, and returns that same string when the bytes
// match: a compare over one contiguous row instead of a hash (keys) or a call
// into C++ and a new string (values). A mismatch decodes as before and takes
// the row. Per-request values (ids, paths, bodies) are not kept, nor the
// values of credential headers (NOT_REMEMBERED): the sidecar holds no
// request's secrets past its decision. Bounded: MEMO_ROWS rows of
// MEMO_ROW_BYTES bytes.
const MEMO_ROW_BYTES = 64;
const ROW_SOURCE = 0; // + PEER_PRINCIPAL / PEER_ADDRESS / PEER_SERVICE
const ROW_DESTINATION = 3;
const PEER_PRINCIPAL = 0;
const PEER_ADDRESS = 1;
const PEER_SERVICE = 2;
const ROW_METHOD = 6;
const ROW_HOST = 7;
const ROW_SCHEME = 8;
const ROW_PROTOCOL = 9;
const MEMO_ENTRIES = 64; // map entries per request remembered (keys and values each)
const ROW_KEYS = 10;
const ROW_VALUES = ROW_KEYS + MEMO_ENTRIES;
const MEMO_ROWS = ROW_VALUES + MEMO_ENTRIES;
/** Header values never remembered (credentials; the decision log masks them too). Names as decoded (lower-case on HTTP/2). */
const NOT_REMEMBERED = ["authorization", "proxy-authorization", "cookie"] as const;
const remembered = (key: string): boolean => key !== NOT_REMEMBERED[0] && key !== NOT_REMEMBERED[1] && key !== NOT_REMEMBERED[2];
const memoBytes = new Uint8Array(MEMO_ROWS * MEMO_ROW_BYTES);
const memoLens = new Int32Array(MEMO_ROWS).fill(-1);
const memoStrings: string[] = new Array<string>(MEMO_ROWS).fill("");

/** The string at `row` when its bytes equal b[start, end), else undefined. */
function memoHit(b: Buffer, start: number, end: number, row: number): string | undefined {
  const len = end - start;
  if (memoLens[row] !== len) return undefined;
  const off = row * MEMO_ROW_BYTES;
  for (let i = 0; i < len; i++) if (memoBytes[off + i] !== b[start + i]) return undefined;
  return memoStrings[row];
}

/** The strings the memo holds now (tests: no credential is among them). */
export function memoContents(): readonly string[] {
  return memoStrings.filter((_, i) => memoLens[i]! >= 0);
}

function memoSet(b: Buffer, start: number, end: number, row: number, s: string): string {
  const off = row * MEMO_ROW_BYTES;
  for (let i = start; i < end; i++) memoBytes[off + i - start] = b[i]!;
  memoLens[row] = end - start;
  memoStrings[row] = s;
  return s;
}

class Reader {
  pos: number;
  /** Map entries read so far in this request (the memo position of the next key and value). */
  entry = 0;
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  /** A varint as a number (exact below 2^53; larger ones only need skipping). */
  varint(): number {
    const b = this.buf;
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) return malformed("truncated varint");
      const byte = b[this.pos++]!;
      result += (byte & 0x7f) * mul;
      if (byte < 0x80) return result;
      mul *= 128;
    }
    return malformed("varint longer than 10 bytes");
  }

  /** Length of a length-delimited field; returns its end. */
  lengthEnd(): number {
    const len = this.varint();
    const end = this.pos + len;
    if (end > this.end) malformed("a field runs past the end of its message");
    return end;
  }

  string(): string {
    const end = this.lengthEnd();
    const s = end === this.pos ? "" : utf8Slice(this.buf, this.pos, end);
    this.pos = end;
    return s;
  }

  /** `string()` through the memo row `row` (a field whose value repeats from request to request). */
  memoString(row: number): string {
    const end = this.lengthEnd();
    const start = this.pos;
    this.pos = end;
    if (end === start) return "";
    if (end - start > MEMO_ROW_BYTES) return utf8Slice(this.buf, start, end);
    return memoHit(this.buf, start, end, row) ?? memoSet(this.buf, start, end, row, utf8Slice(this.buf, start, end));
  }

  /**
   * A map key (header name, label, context extension): `string()`, through
   * the memo of the `entry`-th key, then the recently-seen-keys cache.
   */
  key(entry: number): string {
    const end = this.lengthEnd();
    const start = this.pos;
    this.pos = end;
    if (end === start) return "";
    if (end - start > MAX_CACHED_KEY_BYTES) return utf8Slice(this.buf, start, end);
    if (entry >= MEMO_ENTRIES) return cachedKey(this.buf, start, end);
    const row = ROW_KEYS + entry;
    return memoHit(this.buf, start, end, row) ?? memoSet(this.buf, start, end, row, cachedKey(this.buf, start, end));
  }

  bytes(): Buffer {
    const end = this.lengthEnd();
    const b = this.buf.subarray(this.pos, end); // by reference, as protobufjs does
    this.pos = end;
    return b;
  }

  double(): number {
    if (this.pos + 8 > this.end) malformed("truncated double");
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  skip(wire: number): void {
    switch (wire) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.pos = this.lengthEnd();
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        malformed(`unsupported wire type ${wire}`);
    }
    if (this.pos > this.end) malformed("truncated fixed-width field");
  }

  /** The next field's tag (number * 8 + wire type); the hot loops below call this inline. */
  tag(): number {
    const b = this.buf;
    if (this.pos < this.end) {
      const byte = b[this.pos]!;
      if (byte < 0x80) {
        this.pos++;
        if (byte < 8) malformed("field number 0");
        return byte;
      }
    }
    const t = this.varint();
    if (t < 8) malformed("field number 0");
    return t;
  }

  /** Run `field(number, wire)` for every field of the message ending at `end`. */
  fields(end: number, field: (n: number, wire: number) => void): void {
    while (this.pos < end) {
      const tag = this.varint();
      const n = Math.floor(tag / 8);
      if (n === 0) malformed("field number 0");
      field(n, tag & 7);
    }
    if (this.pos !== end) malformed("a field runs past the end of its message");
  }

  /** Enter a length-delimited sub-message: returns its end (continue reading fields up to it). */
  sub(wire: number): number {
    if (wire !== 2) malformed(`expected a message, got wire type ${wire}`);
    return this.lengthEnd();
  }
}

function expectLen(wire: number): void {
  if (wire !== 2) malformed(`expected a string, got wire type ${wire}`);
}

function endOf(r: Reader, end: number): void {
  if (r.pos !== end) malformed("a field runs past the end of its message");
}

// The fixed-shape objects the adapter reads (GrpcCheckFields): every field
// present from construction, so each load in attributesFromGrpcFields sees
// one hidden class.

class Peer implements GrpcPeerFields {
  principal = "";
  address = "";
  port = 0;
  service = "";
  labels: Record<string, string> | undefined = undefined;
}

class HttpRequest implements GrpcHttpFields {
  id = "";
  method = "";
  path = "";
  host = "";
  scheme = "";
  protocol = "";
  body = "";
  rawBody: Buffer | undefined = undefined;
  headerPairs: string[] | undefined = undefined;
  headerMap: Obj[] | undefined = undefined;
}

class AttributeContext implements GrpcAttributeFields {
  source: Peer | undefined = undefined;
  destination: Peer | undefined = undefined;
  http: HttpRequest | undefined = undefined;
  contextExtensions: Record<string, string> | undefined = undefined;
  filterMetadata: Record<string, Record<string, JsonValue>> | undefined = undefined;
}

class CheckRequest implements GrpcCheckFields {
  attributes: AttributeContext | undefined = undefined;
}

const newMap = <T>(): Record<string, T> => Object.create(null) as Record<string, T>;

/** map<string, string> entry → two more items of `pairs` (key, value), in wire order. */
function pairEntry(r: Reader, wire: number, pairs: string[]): void {
  const end = r.sub(wire);
  const entry = r.entry++;
  let key = "";
  let value = "";
  while (r.pos < end) {
    const t = r.tag();
    if (t === 10) key = r.key(entry);
    else if (t === 18) value = entry < MEMO_ENTRIES && remembered(key) ? r.memoString(ROW_VALUES + entry) : r.string();
    else r.skip(t & 7);
  }
  endOf(r, end);
  pairs.push(key, value);
}

const entryScratch: string[] = [];

/** map<string, string> entry → target[key] = value (last wins, as protobufjs). */
function mapEntry(r: Reader, wire: number, target: Record<string, string>): void {
  entryScratch.length = 0;
  pairEntry(r, wire, entryScratch);
  target[entryScratch[0]!] = entryScratch[1]!;
}

function peer(r: Reader, end: number, rows: number): Peer {
  const p = new Peer();
  // loops, not `fields` callbacks: this runs twice per Check
  while (r.pos < end) {
    const t = r.tag();
    const n = Math.floor(t / 8);
    const w = t & 7;
    if (n === 1) address(r, r.sub(w), p, rows + PEER_ADDRESS);
    else if (n === 2) p.service = stringField(r, w, rows + PEER_SERVICE);
    else if (n === 3) mapEntry(r, w, (p.labels ??= newMap<string>()));
    else if (n === 4) p.principal = stringField(r, w, rows + PEER_PRINCIPAL);
    else r.skip(w);
  }
  endOf(r, end);
  return p;
}

/** Address → the peer's socket address (another address kind, or a later Address, leaves "" and 0: protobufjs replaces the message). */
function address(r: Reader, end: number, p: Peer, row: number): void {
  p.address = "";
  p.port = 0;
  while (r.pos < end) {
    const t = r.tag();
    if (Math.floor(t / 8) !== 1) {
      r.skip(t & 7);
      continue;
    }
    const saEnd = r.sub(t & 7);
    // a repeated socket_address replaces the previous one, as protobufjs does
    p.address = "";
    p.port = 0;
    while (r.pos < saEnd) {
      const st = r.tag();
      if (st === 18) p.address = r.memoString(row); // field 2, wire 2
      else if (st === 24) p.port = r.varint() % 4294967296; // field 3, wire 0
      else r.skip(st & 7);
    }
    endOf(r, saEnd);
  }
  endOf(r, end);
}

function headerMap(r: Reader, end: number): Obj[] {
  const headers: Obj[] = [];
  r.fields(end, (n, w) => {
    if (n !== 1) return r.skip(w);
    const hvEnd = r.sub(w);
    const hv: Obj = {};
    r.fields(hvEnd, (hn, hw) => {
      if (hn === 1 && hw === 2) hv["key"] = r.string();
      else if (hn === 2 && hw === 2) hv["value"] = r.string();
      else if (hn === 3 && hw === 2) hv["raw_value"] = r.bytes();
      else r.skip(hw);
    });
    headers.push(hv);
  });
  return headers;
}

/** A string field (wire type 2), through memo row `row` when one is given. */
function stringField(r: Reader, wire: number, row = -1): string {
  expectLen(wire);
  return row < 0 ? r.string() : r.memoString(row);
}

function httpRequest(r: Reader, end: number): HttpRequest {
  const h = new HttpRequest();
  while (r.pos < end) {
    const t = r.tag();
    const n = Math.floor(t / 8);
    const w = t & 7;
    // named stores, one per field: each store site sees one hidden class
    switch (n) {
      case 1:
        h.id = stringField(r, w);
        break;
      case 2:
        h.method = stringField(r, w, ROW_METHOD);
        break;
      case 3:
        pairEntry(r, w, (h.headerPairs ??= []));
        break;
      case 4:
        h.path = stringField(r, w);
        break;
      case 5:
        h.host = stringField(r, w, ROW_HOST);
        break;
      case 6:
        h.scheme = stringField(r, w, ROW_SCHEME);
        break;
      case 10:
        h.protocol = stringField(r, w, ROW_PROTOCOL);
        break;
      case 11:
        h.body = stringField(r, w);
        break;
      case 12:
        expectLen(w);
        h.rawBody = r.bytes();
        break;
      case 13:
        h.headerMap = headerMap(r, r.sub(w));
        break;
      default:
        r.skip(w);
    }
  }
  endOf(r, end);
  return h;
}

/** google.protobuf.Value → JSON (the last kind on the wire wins; none set is null, as structToJson() reads protobufjs's). */
function value(r: Reader, end: number, depth: number): JsonValue {
  if (depth > MAX_NESTING) malformed(`metadata nested deeper than ${MAX_NESTING} levels`);
  let v: JsonValue = null;
  while (r.pos < end) {
    const t = r.tag();
    const n = Math.floor(t / 8);
    const w = t & 7;
    switch (n) {
      case 1:
        if (w !== 0) r.skip(w);
        else {
          r.varint();
          v = null;
        }
        break;
      case 2:
        if (w !== 1) r.skip(w);
        else v = r.double();
        break;
      case 3:
        expectLen(w);
        v = r.string();
        break;
      case 4:
        if (w !== 0) r.skip(w);
        else v = r.varint() !== 0;
        break;
      case 5:
        v = struct(r, r.sub(w), depth + 1);
        break;
      case 6: {
        const listEnd = r.sub(w);
        const values: JsonValue[] = [];
        while (r.pos < listEnd) {
          const lt = r.tag();
          if (Math.floor(lt / 8) === 1) values.push(value(r, r.sub(lt & 7), depth + 1));
          else r.skip(lt & 7);
        }
        endOf(r, listEnd);
        v = values;
        break;
      }
      default:
        r.skip(w);
    }
  }
  endOf(r, end);
  return v;
}

/** google.protobuf.Struct → a null-prototype JSON object. */
function struct(r: Reader, end: number, depth: number): Record<string, JsonValue> {
  if (depth > MAX_NESTING) malformed(`metadata nested deeper than ${MAX_NESTING} levels`);
  const fields = newMap<JsonValue>();
  while (r.pos < end) {
    const t = r.tag();
    if (Math.floor(t / 8) !== 1) {
      r.skip(t & 7);
      continue;
    }
    const entryEnd = r.sub(t & 7);
    let key = "";
    let val: JsonValue = null;
    while (r.pos < entryEnd) {
      const et = r.tag();
      const en = Math.floor(et / 8);
      if (en === 1 && (et & 7) === 2) key = r.string();
      else if (en === 2) val = value(r, r.sub(et & 7), depth + 1);
      else r.skip(et & 7);
    }
    endOf(r, entryEnd);
    fields[key] = val;
  }
  endOf(r, end);
  return fields;
}

/** Metadata.filter_metadata entries into `filter` (namespace → Struct as JSON). */
function metadata(r: Reader, end: number, a: AttributeContext): void {
  while (r.pos < end) {
    const t = r.tag();
    if (Math.floor(t / 8) !== 1) {
      r.skip(t & 7);
      continue;
    }
    const entryEnd = r.sub(t & 7);
    let key = "";
    let s: Record<string, JsonValue> = newMap<JsonValue>();
    while (r.pos < entryEnd) {
      const et = r.tag();
      const en = Math.floor(et / 8);
      if (en === 1 && (et & 7) === 2) key = r.string();
      else if (en === 2) s = struct(r, r.sub(et & 7), 1);
      else r.skip(et & 7);
    }
    endOf(r, entryEnd);
    (a.filterMetadata ??= newMap<Record<string, JsonValue>>())[key] = s;
  }
  endOf(r, end);
}

function attributeContext(r: Reader, end: number): AttributeContext {
  const a = new AttributeContext();
  while (r.pos < end) {
    const t = r.tag();
    const n = Math.floor(t / 8);
    const w = t & 7;
    switch (n) {
      case 1:
        a.source = peer(r, r.sub(w), ROW_SOURCE);
        break;
      case 2:
        a.destination = peer(r, r.sub(w), ROW_DESTINATION);
        break;
      case 4: {
        // Request: only http (2); a later Request replaces the earlier one, as protobufjs does
        const reqEnd = r.sub(w);
        a.http = undefined;
        while (r.pos < reqEnd) {
          const rt = r.tag();
          if (Math.floor(rt / 8) === 2) a.http = httpRequest(r, r.sub(rt & 7));
          else r.skip(rt & 7);
        }
        endOf(r, reqEnd);
        break;
      }
      case 10:
        mapEntry(r, w, (a.contextExtensions ??= newMap<string>()));
        break;
      case 11:
        // a later metadata_context replaces the earlier one, as protobufjs does
        a.filterMetadata = undefined;
        metadata(r, r.sub(w), a);
        break;
      default:
        r.skip(w);
    }
  }
  endOf(r, end);
  return a;
}

/**
 * Decode a CheckRequest message. Never throws: bytes that are not a valid
 * CheckRequest give a MalformedCheckRequest carrying the reason.
 */
export function decodeCheckRequest(buf: Buffer): CheckRequest | MalformedCheckRequest {
  try {
    const r = new Reader(buf, 0, buf.length);
    const out = new CheckRequest();
    while (r.pos < buf.length) {
      const t = r.tag();
      if (Math.floor(t / 8) === 1) out.attributes = attributeContext(r, r.sub(t & 7));
      else r.skip(t & 7);
    }
    endOf(r, buf.length);
    return out;
  } catch (e) {
    if (e instanceof AecpError) return new MalformedCheckRequest(e);
    return new MalformedCheckRequest(new AecpError("AECP_REQUEST_MALFORMED", "CheckRequest bytes are malformed", { cause: e }));
  }
}
