// Envoy ext_authz adapter: CheckRequest JSON -> RequestAttributes.
//
// The sidecar receives Envoy's `envoy.service.auth.v3.CheckRequest` (as proto3
// JSON, or wrapped the way OPA tooling records it) and hands the decision core
// transport-free `RequestAttributes` (src/bundle/attributes.ts). This module is
// the only place that knows the CheckRequest shape. It runs once per request,
// so it makes one pass over the input, does no JSON re-serialization and leaves
// an already-normal path untouched (see ./path.ts).
//
// Accepted shapes:
//   1. proto3 JSON CheckRequest `{"attributes": {...}}` (camelCase names);
//   2. the same with snake_case names (`context_extensions`, `raw_body`, ...);
//      both spellings are accepted for every field, but not both at once;
//   3. an OPA-style input `{"attributes": ..., "parsed_body": ..., ...}`: the
//      extra keys are ignored (the body is parsed here, never trusted from
//      `parsed_body`);
//   4. an OPA decision-log event `{"decision_id": ..., "input": {"attributes": ...}}`.
//
// Type errors -> AECP_REQUEST_MALFORMED naming the field path; hostile sizes ->
// AECP_REQUEST_TOO_LARGE; unusable paths -> AECP_REQUEST_PATH_INVALID.
// Absent optional fields, `null` and proto3 default values ("" and port 0) are
// treated as "not set".
//
// Maps produced here (headers, query, context, labels, metadata) have a null
// prototype: a header named "__proto__" or "constructor" is an ordinary key and
// a lookup of a missing key never reaches Object.prototype.

import type { PeerAttributes, RequestAttributes } from "../bundle/index.js";
import { AecpError } from "../common/index.js";
import { normalizePath } from "./path.js";

export interface CheckRequestOptions {
  /** Largest body (UTF-8 bytes, or decoded bytes of `raw_body`) that is parsed; default 1 MiB. A larger body is not parsed: `body` stays undefined. */
  maxBodyBytes?: number;
}

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** Limits against hostile input (exceeding one -> AECP_REQUEST_TOO_LARGE). */
export const MAX_HEADER_COUNT = 1000;
export const MAX_HEADER_VALUE_BYTES = 64 * 1024;
export const MAX_PATH_BYTES = 16 * 1024;

type JsonObject = Record<string, unknown>;

// --- the protobuf encoding, as the sidecar reads it ----------------------------

/**
 * A CheckRequest as the sidecar's protobuf reader (check-request-wire.ts)
 * hands it over: only the fields the rules below read, in fixed-shape
 * objects, with proto3's defaults ("" and 0 for an unset scalar, undefined
 * for an absent message or an empty map). attributesFromGrpcFields applies
 * the same rules to it as attributesFromCheckRequestJson to the JSON forms.
 */
export interface GrpcCheckFields {
  /** CheckRequest.attributes (AttributeContext); undefined when absent. */
  attributes: GrpcAttributeFields | undefined;
}

export interface GrpcAttributeFields {
  source: GrpcPeerFields | undefined;
  destination: GrpcPeerFields | undefined;
  /** request.http; undefined when request or request.http is absent. */
  http: GrpcHttpFields | undefined;
  /** context_extensions (a null-prototype map). */
  contextExtensions: Record<string, string> | undefined;
  /** metadata_context.filter_metadata, each Struct already as JSON (null-prototype maps). */
  filterMetadata: Record<string, Record<string, unknown>> | undefined;
}

export interface GrpcPeerFields {
  principal: string;
  /** address.socket_address.address */
  address: string;
  /** address.socket_address.port_value (uint32) */
  port: number;
  service: string;
  /** labels (a null-prototype map). */
  labels: Record<string, string> | undefined;
}

export interface GrpcHttpFields {
  id: string;
  method: string;
  path: string;
  host: string;
  scheme: string;
  protocol: string;
  body: string;
  rawBody: Uint8Array | undefined;
  /** The `headers` map as `[key, value, key, value, …]` in wire order (the map is built once, here). */
  headerPairs: string[] | undefined;
  /** header_map.headers: HeaderValue objects {key?, value?, raw_value?}. */
  headerMap: unknown[] | undefined;
}

const GRPC_AT = { http: "attributes.request.http", source: "attributes.source", destination: "attributes.destination" } as const;

/** A CheckRequest read by the sidecar's protobuf reader → attributes (or throws AecpError), by the rules of the JSON adapter. */
export function attributesFromGrpcFields(req: GrpcCheckFields, options?: CheckRequestOptions): RequestAttributes {
  const maxBodyBytes = checkedMaxBodyBytes(options);
  const attrs = req.attributes;
  if (attrs === undefined) malformed("CheckRequest has no attributes");
  const http = attrs.http;
  if (http === undefined) malformed(`${GRPC_AT.http} must be an object`);

  let headers: Record<string, string>;
  const list = http.headerMap;
  if (list !== undefined && list.length > 0) {
    // Envoy >= 1.27 with `encode_raw_headers` sends `header_map` INSTEAD of `headers`.
    if (http.headerPairs !== undefined && http.headerPairs.length > 0) malformed(`${GRPC_AT.http} has both headers and header_map`);
    headers = headersFromList(list, `${GRPC_AT.http}.header_map`);
  } else headers = http.headerPairs === undefined ? newMap<string>() : headersFromPairs(http.headerPairs, GRPC_AT.http);

  const body = http.body === "" ? undefined : http.body;
  const rawBytes = http.rawBody !== undefined && http.rawBody.length > 0 ? http.rawBody : undefined;
  if (body !== undefined && rawBytes !== undefined) malformed(`${GRPC_AT.http} has both body and raw_body`);
  const parts: HttpParts = {
    method: nonEmpty(http.method),
    host: nonEmpty(http.host),
    scheme: nonEmpty(http.scheme),
    protocol: nonEmpty(http.protocol),
    id: nonEmpty(http.id),
    path: nonEmpty(http.path),
    body,
    rawBytes,
    rawBase64: undefined,
    rawKey: "raw_body",
  };
  const rules = new AttributeRules(headers, parts, GRPC_AT.http, maxBodyBytes);
  const source = grpcPeer(attrs.source, GRPC_AT.source);
  const destination = grpcPeer(attrs.destination, GRPC_AT.destination);
  return rules.attributes(source, destination, attrs.contextExtensions ?? EMPTY_MAP, attrs.filterMetadata ?? EMPTY_MAP);
}

function grpcPeer(p: GrpcPeerFields | undefined, at: string): PeerAttributes {
  if (p === undefined) return {};
  if (p.port > 65535) malformed(`${at}.address.socket_address.port_value must be a port number`);
  return peerAttributes(nonEmpty(p.principal), nonEmpty(p.address), p.port === 0 ? undefined : p.port, nonEmpty(p.service), p.labels);
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function malformed(message: string): never {
  throw new AecpError("AECP_REQUEST_MALFORMED", message);
}

function tooLarge(message: string): never {
  throw new AecpError("AECP_REQUEST_TOO_LARGE", message);
}

/**
 * The map of a request that has none (no query string, no context extensions,
 * no metadata): one shared, frozen, null-prototype object. Most requests have
 * these empty, and every null-prototype object is a hash table in V8 (~250
 * bytes even when empty). The maps are read-only by type (RequestAttributes).
 */
const EMPTY_MAP: Record<string, never> = Object.freeze(Object.create(null) as Record<string, never>);

function newMap<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** True if the UTF-8 encoding of `s` is longer than `limit` bytes (avoids the byte count when the length decides). */
function utf8Exceeds(s: string, limit: number): boolean {
  if (s.length > limit) return true; // every UTF-16 unit is >= 1 UTF-8 byte
  if (s.length * 3 <= limit) return false; // every UTF-16 unit is <= 3 UTF-8 bytes
  return Buffer.byteLength(s, "utf8") > limit;
}

// ---------------------------------------------------------------------------
// Field access (camelCase / snake_case, strict types)
// ---------------------------------------------------------------------------

// Error-message paths are built only when an error is thrown: `at` is the
// parent's path ("attributes.request.http"), `key` the field name.

/** The value of a field spelled `camel` or `snake` (null counts as absent); both spellings at once is malformed. */
function field(obj: JsonObject, camel: string, snake: string, at: string): unknown {
  const a = obj[camel];
  const b = obj[snake];
  if (a === undefined || a === null) return b === null ? undefined : b;
  if (b !== undefined && b !== null) malformed(`${at} has both ${camel} and ${snake}`);
  return a;
}

/** The spelling of a two-spelling field that is present (camelCase if neither). */
function spelled(obj: JsonObject, camel: string, snake: string): string {
  return obj[camel] === undefined && obj[snake] !== undefined ? snake : camel;
}

/** Optional string; "" (the proto3 default) is returned as undefined. */
function asString(v: unknown, at: string, key: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") malformed(`${at}.${key} must be a string`);
  return v === "" ? undefined : v;
}

function getString(obj: JsonObject, key: string, at: string): string | undefined {
  return asString(obj[key], at, key);
}

function getString2(obj: JsonObject, camel: string, snake: string, at: string): string | undefined {
  const v = field(obj, camel, snake, at);
  if (v === undefined || typeof v === "string") return v === "" ? undefined : v;
  malformed(`${at}.${spelled(obj, camel, snake)} must be a string`);
}

function asObject(v: unknown, at: string, key: string): JsonObject | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) malformed(key === "" ? `${at} must be an object` : `${at}.${key} must be an object`);
  return v;
}

function getObject(obj: JsonObject, key: string, at: string): JsonObject | undefined {
  return asObject(obj[key], at, key);
}

function getObject2(obj: JsonObject, camel: string, snake: string, at: string): JsonObject | undefined {
  const v = field(obj, camel, snake, at);
  if (v === undefined || isObject(v)) return v;
  malformed(`${at}.${spelled(obj, camel, snake)} must be an object`);
}

/** A proto `map<string, string>`, copied into a null-prototype object. */
function asStringMap(v: unknown, at: string, key: string): Record<string, string> {
  if (v === undefined || v === null) return EMPTY_MAP;
  if (!isObject(v)) malformed(`${at}.${key} must be an object of strings`);
  const out = newMap<string>();
  for (const k in v) {
    const s = v[k];
    if (typeof s !== "string") malformed(`${at}.${key} must be an object of strings`);
    out[k] = s;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------

/** The error-message paths of a request's http, source and destination, per shape. */
const FIELD_PATHS: Readonly<Record<string, { http: string; source: string; destination: string }>> = Object.fromEntries(
  ["attributes", "input.attributes", "(attributes)"].map((at) => [at, { http: `${at}.request.http`, source: `${at}.source`, destination: `${at}.destination` }]),
);

/** Accepts any of the shapes above; returns attributes or throws AecpError. */
export function attributesFromCheckRequestJson(input: unknown, options?: CheckRequestOptions): RequestAttributes {
  const maxBodyBytes = checkedMaxBodyBytes(options);

  if (!isObject(input)) malformed("CheckRequest must be a JSON object");
  let attrs: JsonObject;
  let at: string;
  if (input["attributes"] !== undefined && input["attributes"] !== null) {
    if (!isObject(input["attributes"])) malformed("attributes must be an object");
    attrs = input["attributes"];
    at = "attributes";
  } else if (isObject(input["input"]) && input["input"]["attributes"] !== undefined) {
    // OPA decision-log event: the CheckRequest is input.attributes.
    const a = input["input"]["attributes"];
    if (!isObject(a)) malformed("input.attributes must be an object");
    attrs = a;
    at = "input.attributes";
  } else if (isObject(input["request"]) && isObject(input["request"]["http"])) {
    // A bare AttributeContext (the CheckRequest's `attributes` without the wrapper).
    attrs = input;
    at = "(attributes)";
  } else {
    malformed("CheckRequest has no attributes (expected attributes, input.attributes, or a bare AttributeContext with request.http)");
  }

  const request = getObject(attrs, "request", at);
  const paths = FIELD_PATHS[at]!; // error-message paths of the fields below, built once
  const httpAt = paths.http;
  const http = request?.["http"];
  if (!isObject(http)) malformed(`${httpAt} must be an object`);

  const headers = readHeaders(http, httpAt);
  const parts: HttpParts = {
    method: getString(http, "method", httpAt),
    host: getString(http, "host", httpAt),
    scheme: getString(http, "scheme", httpAt),
    protocol: getString(http, "protocol", httpAt),
    id: getString(http, "id", httpAt),
    path: getString(http, "path", httpAt),
    ...readBodyParts(http, httpAt),
  };
  const rules = new AttributeRules(headers, parts, httpAt, maxBodyBytes);
  // Deliberately NOT falling back to `x-forwarded-client-cert` (Istio XFCC
  // "URI=spiffe://...") when the source principal is absent: request headers
  // are client-controlled unless the proxy is configured to sanitize/overwrite
  // XFCC, which this adapter cannot verify. The source identity comes only from
  // Envoy's own view of the connection (attributes.source.principal).
  const source = readPeer(attrs["source"], paths.source);
  const destination = readPeer(attrs["destination"], paths.destination);
  const context = asStringMap(
    field(attrs, "contextExtensions", "context_extensions", at),
    at,
    spelled(attrs, "contextExtensions", "context_extensions"),
  );
  const metadata = readMetadata(attrs, at);
  return rules.attributes(source, destination, context, metadata);
}

function checkedMaxBodyBytes(options: CheckRequestOptions | undefined): number {
  const maxBodyBytes = options?.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (typeof maxBodyBytes !== "number" || !(maxBodyBytes >= 0)) {
    throw new AecpError("AECP_USAGE", "maxBodyBytes must be a non-negative number");
  }
  return maxBodyBytes;
}

/**
 * A request's HTTP fields as one encoding carries them, types checked, before
 * the rules of AttributeRules apply. Undefined = not set ("" is not set).
 */
interface HttpParts {
  method: string | undefined;
  host: string | undefined;
  scheme: string | undefined;
  protocol: string | undefined;
  id: string | undefined;
  path: string | undefined;
  /** The text `body`. */
  body: string | undefined;
  /** `raw_body` as bytes (gRPC), non-empty. */
  rawBytes: Uint8Array | undefined;
  /** `raw_body` as base64 text (JSON encodings), non-empty; validated only when the body is parsed. */
  rawBase64: string | undefined;
  /** The `raw_body` field's name as spelled in the input, for messages. */
  rawKey: string;
}

/**
 * The rules from a request's fields to its attributes, shared by every
 * encoding (JSON here, protobuf in attributesFromGrpcFields): method, host and
 * scheme fall back to the pseudo-headers, the path is normalized and split
 * from its query, the body parsed. The constructor applies the HTTP rules
 * (and throws for a path that cannot be served); attributes() adds the peers,
 * context extensions and metadata, in the order the encodings read them.
 */
class AttributeRules {
  private readonly method: string | undefined;
  private readonly host: string | undefined;
  private readonly scheme: string | undefined;
  private readonly rawPath: string | undefined;
  private readonly path: string | undefined;
  private readonly query: Record<string, string>;
  private readonly body: unknown;

  constructor(
    private readonly headers: Record<string, string>,
    private readonly parts: HttpParts,
    at: string,
    maxBodyBytes: number,
  ) {
    // --- method, host, scheme ------------------------------------------------
    const method = (parts.method ?? nonEmpty(headers[":method"]))?.toUpperCase();
    this.method = method;
    this.host = (parts.host ?? nonEmpty(headers[":authority"]) ?? nonEmpty(headers["host"]))?.toLowerCase();
    // Not `x-forwarded-proto`: a client can send it, and a rule such as "card
    // data only over https" must not be satisfiable by a header. A deployment
    // that trusts a forwarded header declares it as an attribute explicitly.
    this.scheme = (parts.scheme ?? nonEmpty(headers[":scheme"]))?.toLowerCase();

    // --- path and query ------------------------------------------------------
    const rawPath = parts.path ?? nonEmpty(headers[":path"]);
    if (rawPath === undefined) {
      this.query = EMPTY_MAP;
    } else {
      if (utf8Exceeds(rawPath, MAX_PATH_BYTES)) tooLarge(`request path exceeds the ${MAX_PATH_BYTES}-byte path limit`);
      // The fragment starts at the first "#"; the query at the first "?" before it.
      const hash = rawPath.indexOf("#");
      const beforeHash = hash === -1 ? rawPath : rawPath.slice(0, hash);
      const q = beforeHash.indexOf("?");
      const pathPart = q === -1 ? beforeHash : beforeHash.slice(0, q);
      const path = normalizePath(pathPart);
      if (path === "*" && method !== "OPTIONS") {
        throw new AecpError("AECP_REQUEST_PATH_INVALID", "request path '*' is only allowed for OPTIONS");
      }
      this.path = path;
      this.query = q === -1 ? EMPTY_MAP : parseQuery(beforeHash.slice(q + 1));
    }
    this.rawPath = rawPath;

    // --- body ------------------------------------------------------------------
    this.body = parseBody(parts, at, headers, maxBodyBytes);
  }

  attributes(source: PeerAttributes, destination: PeerAttributes, context: Record<string, string>, metadata: Record<string, unknown>): RequestAttributes {
    const p = this.parts;
    const out: RequestAttributes = { query: this.query, headers: this.headers, source, destination, context, metadata };
    if (this.method !== undefined) out.method = this.method;
    if (this.path !== undefined) out.path = this.path;
    if (this.rawPath !== undefined) out.rawPath = this.rawPath;
    if (this.host !== undefined) out.host = this.host;
    if (this.scheme !== undefined) out.scheme = this.scheme;
    if (p.protocol !== undefined) out.protocol = p.protocol;
    if (this.body !== undefined) out.body = this.body;
    // the body as received, by reference (no decoding)
    const rawBody = p.body ?? p.rawBytes ?? (p.rawBase64 !== undefined ? Buffer.from(p.rawBase64, "base64") : undefined);
    if (rawBody !== undefined) out.rawBody = rawBody;
    if (p.id !== undefined) out.requestId = p.id;
    return out;
  }
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === "" ? undefined : s;
}

// ---------------------------------------------------------------------------
// Headers
// ---------------------------------------------------------------------------

function readHeaders(http: JsonObject, at: string): Record<string, string> {
  const headerMap = getObject2(http, "headerMap", "header_map", at);
  const plain = http["headers"];
  // Envoy >= 1.27 with `encode_raw_headers` sends `header_map` INSTEAD of `headers`.
  const list = headerMap?.["headers"];
  if (list !== undefined && list !== null) {
    const mapKey = spelled(http, "headerMap", "header_map");
    if (!Array.isArray(list)) malformed(`${at}.${mapKey}.headers must be an array`);
    if (list.length > 0) {
      if (isObject(plain) && hasAnyKey(plain)) malformed(`${at} has both headers and ${mapKey}`);
      return headersFromList(list, `${at}.${mapKey}`);
    }
  }
  if (plain === undefined || plain === null) return newMap<string>();
  return addPlainHeaders(newMap<string>(), plain, at);
}

/** `header_map.headers`: Envoy HeaderValue {key, value | raw_value (bytes, or base64 in JSON)} → the header map. */
function headersFromList(list: readonly unknown[], mapAt: string): Record<string, string> {
  const out = newMap<string>();
  if (list.length > MAX_HEADER_COUNT) tooLarge(`request has more than ${MAX_HEADER_COUNT} headers (header limit)`);
  for (let i = 0; i < list.length; i++) {
    const entry: unknown = list[i];
    if (!isObject(entry)) malformed(`${mapAt}.headers[${i}] must be an object`);
    const key = entry["key"];
    if (typeof key !== "string") malformed(`${mapAt}.headers[${i}].key must be a string`);
    const value = entry["value"];
    if (value !== undefined && value !== null && typeof value !== "string") {
      malformed(`${mapAt}.headers[${i}].value must be a string`);
    }
    let raw = entry["rawValue"];
    if (raw === undefined || raw === null) raw = entry["raw_value"];
    else if (entry["raw_value"] !== undefined && entry["raw_value"] !== null) {
      malformed(`${mapAt}.headers[${i}] has both rawValue and raw_value`);
    }
    let v: string;
    if (raw instanceof Uint8Array) {
      // gRPC-decoded bytes (Envoy ≥ 1.27 with encode_raw_headers): no base64 step
      const rawKey = spelled(entry, "rawValue", "raw_value");
      if (raw.length > 0 && typeof value === "string" && value !== "") malformed(`${mapAt}.headers[${i}] has both value and ${rawKey}`);
      if (raw.length > MAX_HEADER_VALUE_BYTES) headerTooLarge();
      v = raw.length > 0 ? Buffer.from(raw.buffer, raw.byteOffset, raw.length).toString("utf8") : typeof value === "string" ? value : "";
    } else if (raw !== undefined && raw !== null && raw !== "") {
      const rawKey = spelled(entry, "rawValue", "raw_value");
      if (typeof raw !== "string") malformed(`${mapAt}.headers[${i}].${rawKey} must be a string`);
      if (typeof value === "string" && value !== "") malformed(`${mapAt}.headers[${i}] has both value and ${rawKey}`);
      if (!isBase64(raw)) malformed(`${mapAt}.headers[${i}].${rawKey} must be base64`);
      if (base64DecodedLength(raw) > MAX_HEADER_VALUE_BYTES) headerTooLarge();
      v = Buffer.from(raw, "base64").toString("utf8");
    } else {
      v = typeof value === "string" ? value : "";
      if (utf8Exceeds(v, MAX_HEADER_VALUE_BYTES)) headerTooLarge();
    }
    addHeader(out, key, v);
  }
  return out;
}

/**
 * Wire-order header pairs → the header map. Fast path: every name already
 * lower-case ASCII (HTTP/2, and Envoy for HTTP/1) and none repeated — one
 * store per header. Anything else takes protobufjs's way exactly: a map where
 * the last entry of a name wins, then the generic lower-casing merge.
 */
function headersFromPairs(pairs: readonly string[], at: string): Record<string, string> {
  const out = newMap<string>();
  const n = pairs.length >> 1;
  if (n > MAX_HEADER_COUNT) return headersFromPairsSlow(pairs, at);
  for (let i = 0; i < pairs.length; i += 2) {
    const key = pairs[i]!;
    if (!isLowerAscii(key) || out[key] !== undefined) return headersFromPairsSlow(pairs, at);
    const v = pairs[i + 1]!;
    if (utf8Exceeds(v, MAX_HEADER_VALUE_BYTES)) headerTooLarge();
    out[key] = v;
  }
  return out;
}

function headersFromPairsSlow(pairs: readonly string[], at: string): Record<string, string> {
  const map = newMap<string>();
  for (let i = 0; i < pairs.length; i += 2) map[pairs[i]!] = pairs[i + 1]!;
  return addPlainHeaders(newMap<string>(), map, at);
}

/** True when `toLowerCase()` would return `s` unchanged by an ASCII-only check (no A–Z, nothing beyond ASCII). */
function isLowerAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f || (c >= 0x41 && c <= 0x5a)) return false;
  }
  return true;
}

function addPlainHeaders(out: Record<string, string>, plain: unknown, at: string): Record<string, string> {
  if (!isObject(plain)) malformed(`${at}.headers must be an object of strings`);
  let count = 0;
  for (const k in plain) {
    if (++count > MAX_HEADER_COUNT) tooLarge(`request has more than ${MAX_HEADER_COUNT} headers (header limit)`);
    const v = plain[k];
    if (typeof v !== "string") malformed(`${at}.headers must be an object of strings`);
    if (utf8Exceeds(v, MAX_HEADER_VALUE_BYTES)) headerTooLarge();
    addHeader(out, k, v);
  }
  return out;
}

function headerTooLarge(): never {
  tooLarge(`a request header value exceeds the ${MAX_HEADER_VALUE_BYTES}-byte header value limit`);
}

function hasAnyKey(o: JsonObject): boolean {
  for (const _ in o) return true;
  return false;
}

function addHeader(out: Record<string, string>, name: string, value: string): void {
  const key = name.toLowerCase();
  const prev = out[key];
  out[key] = prev === undefined ? value : prev + "," + value;
}

// ---------------------------------------------------------------------------
// Query
// ---------------------------------------------------------------------------

/** application/x-www-form-urlencoded; a repeated key holds its values joined with ",". */
function parseQuery(q: string): Record<string, string> {
  if (q === "") return EMPTY_MAP;
  const out = newMap<string>();
  for (const [k, v] of new URLSearchParams(q)) {
    const prev = out[k];
    out[k] = prev === undefined ? v : prev + "," + v;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Body
// ---------------------------------------------------------------------------

const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

/** The JSON encodings' body fields: `body` text, `raw_body` as bytes (already decoded) or base64 text. */
function readBodyParts(http: JsonObject, at: string): Pick<HttpParts, "body" | "rawBytes" | "rawBase64" | "rawKey"> {
  const body = getString(http, "body", at);
  // raw_body: base64 text in JSON encodings, bytes (Uint8Array/Buffer) when the
  // request arrives over gRPC already decoded.
  const rawField = field(http, "rawBody", "raw_body", at);
  const isBytes = rawField instanceof Uint8Array;
  // proto3: empty bytes mean "no body"
  const rawBytes = isBytes && rawField.length > 0 ? rawField : undefined;
  const rawBase64 = isBytes ? undefined : getString2(http, "rawBody", "raw_body", at);
  const rawKey = spelled(http, "rawBody", "raw_body");
  if (body !== undefined && (rawBase64 !== undefined || rawBytes !== undefined)) malformed(`${at} has both body and ${rawKey}`);
  return { body, rawBytes, rawBase64, rawKey };
}

/** The parsed JSON body, or undefined when there is none, it is not JSON, too large, or partial. */
function parseBody(parts: HttpParts, at: string, headers: Readonly<Record<string, string>>, maxBodyBytes: number): unknown {
  const { body: text, rawBytes, rawBase64: raw } = parts;
  if (text === undefined && raw === undefined && rawBytes === undefined) return undefined;

  // Envoy sets this when the body was truncated at max_request_bytes.
  const partial = headers["x-envoy-auth-partial-body"];
  if (partial !== undefined && partial.trim().toLowerCase() === "true") return undefined;

  const kind = contentKind(headers["content-type"]);
  if (kind === "other") return undefined;

  let s: string;
  if (text !== undefined) {
    if (utf8Exceeds(text, maxBodyBytes)) return undefined;
    s = text;
  } else if (rawBytes !== undefined) {
    if (rawBytes.length > maxBodyBytes) return undefined;
    try {
      s = utf8Decoder.decode(rawBytes);
    } catch {
      return undefined; // not UTF-8, so not JSON
    }
  } else {
    // raw_body is only inspected (and validated) when it is going to be parsed.
    if (base64DecodedLength(raw!) > maxBodyBytes) return undefined;
    if (!isBase64(raw!)) malformed(`${at}.${parts.rawKey} must be base64`);
    try {
      s = utf8Decoder.decode(Buffer.from(raw!, "base64"));
    } catch {
      return undefined; // not UTF-8, so not JSON
    }
  }
  if (kind === "absent" && !startsLikeJson(s)) return undefined;
  try {
    return JSON.parse(s) as unknown;
  } catch {
    return undefined;
  }
}

/** "json" for application/json and application/*+json, "absent" without a content-type, else "other" (incl. gRPC). */
function contentKind(ct: string | undefined): "json" | "absent" | "other" {
  if (ct === undefined) return "absent";
  const semi = ct.indexOf(";");
  const media = (semi === -1 ? ct : ct.slice(0, semi)).trim().toLowerCase();
  if (media === "") return "absent";
  if (media === "application/json") return "json";
  if (media.startsWith("application/grpc")) return "other";
  if (media.startsWith("application/") && media.endsWith("+json")) return "json";
  return "other";
}

function startsLikeJson(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) continue;
    return c === 0x7b || c === 0x5b; // "{" or "["
  }
  return false;
}

/** Standard or URL-safe base64, padding optional (proto3 JSON accepts both). */
function isBase64(s: string): boolean {
  let end = s.length;
  if (end > 0 && s.charCodeAt(end - 1) === 0x3d) end--;
  if (end > 0 && s.charCodeAt(end - 1) === 0x3d) end--;
  if (end % 4 === 1) return false;
  if (end !== s.length && s.length % 4 !== 0) return false;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    const ok =
      (c >= 0x41 && c <= 0x5a) || // A-Z
      (c >= 0x61 && c <= 0x7a) || // a-z
      (c >= 0x30 && c <= 0x39) || // 0-9
      c === 0x2b || // +
      c === 0x2f || // /
      c === 0x2d || // -
      c === 0x5f; // _
    if (!ok) return false;
  }
  return true;
}

function base64DecodedLength(s: string): number {
  let end = s.length;
  if (end > 0 && s.charCodeAt(end - 1) === 0x3d) end--;
  if (end > 0 && s.charCodeAt(end - 1) === 0x3d) end--;
  return Math.floor((end * 3) / 4);
}

// ---------------------------------------------------------------------------
// Peers
// ---------------------------------------------------------------------------

function readPeer(v: unknown, at: string): PeerAttributes {
  const peer = asObject(v, at, "");
  if (peer === undefined) return {};
  const principal = getString(peer, "principal", at);
  let ip: string | undefined;
  let port: number | undefined;
  const address = getObject(peer, "address", at);
  if (address !== undefined) {
    const addressAt = `${at}.address`;
    const sa = getObject2(address, "socketAddress", "socket_address", addressAt);
    if (sa !== undefined) {
      const saAt = `${addressAt}.${spelled(address, "socketAddress", "socket_address")}`;
      ip = getString(sa, "address", saAt);
      port = readPort(field(sa, "portValue", "port_value", saAt), saAt, spelled(sa, "portValue", "port_value"));
    }
    // Other Address kinds (pipe, envoyInternalAddress) carry no IP/port.
  }
  const service = getString(peer, "service", at);
  const rawLabels = peer["labels"];
  const labels = rawLabels === undefined || rawLabels === null ? undefined : asStringMap(rawLabels, at, "labels");
  return peerAttributes(principal, ip, port, service, labels);
}

/** A peer's attributes from its fields (undefined = not set); the SPIFFE parts come from the principal. */
function peerAttributes(
  principal: string | undefined,
  ip: string | undefined,
  port: number | undefined,
  service: string | undefined,
  labels: Record<string, string> | undefined,
): PeerAttributes {
  const out: PeerAttributes = {};
  if (principal !== undefined) {
    out.principal = principal;
    parseSpiffe(principal, out);
  }
  if (ip !== undefined) out.address = ip;
  if (port !== undefined) out.port = port;
  if (service !== undefined) out.service = service;
  if (labels !== undefined && hasAnyKey(labels)) out.labels = labels;
  return out;
}

/** uint32 port as a number or a numeric string; 0 (the proto3 default) means unset. */
function readPort(v: unknown, at: string, key: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  let port: number;
  if (typeof v === "number") {
    port = v;
  } else if (typeof v === "string" && v.length >= 1 && v.length <= 5 && isDigits(v)) {
    port = Number(v);
  } else {
    malformed(`${at}.${key} must be a port number`);
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) malformed(`${at}.${key} must be a port number`);
  return port === 0 ? undefined : port;
}

function isDigits(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

const SPIFFE_PREFIX = "spiffe://";

/**
 * Sets trustDomain (any valid SPIFFE ID) and namespace/serviceAccount (only the
 * Kubernetes form `spiffe://<td>/ns/<ns>/sa/<sa>`). Anything that is not a
 * valid SPIFFE ID sets nothing; nothing is rejected here.
 */
interface SpiffeParts {
  trustDomain?: string;
  namespace?: string;
  serviceAccount?: string;
}

/**
 * Parsed principals, memoized: a mesh has few distinct workload identities
 * and every request names two, so parsing (~0.3 µs with its slices) is done
 * once per identity. Bounded: cleared when full, so hostile principals cannot
 * grow it without limit.
 */
const SPIFFE_CACHE_MAX = 4096;
const spiffeCache = new Map<string, SpiffeParts>();

function parseSpiffe(principal: string, out: PeerAttributes): void {
  let parts = spiffeCache.get(principal);
  if (parts === undefined) {
    parts = {};
    parseSpiffeUncached(principal, parts);
    if (spiffeCache.size >= SPIFFE_CACHE_MAX) spiffeCache.clear();
    spiffeCache.set(principal, parts);
  }
  if (parts.trustDomain !== undefined) out.trustDomain = parts.trustDomain;
  if (parts.namespace !== undefined) out.namespace = parts.namespace;
  if (parts.serviceAccount !== undefined) out.serviceAccount = parts.serviceAccount;
}

function parseSpiffeUncached(principal: string, out: SpiffeParts): void {
  if (!principal.startsWith(SPIFFE_PREFIX)) return;
  const rest = principal.slice(SPIFFE_PREFIX.length);
  const slash = rest.indexOf("/");
  const td = slash === -1 ? rest : rest.slice(0, slash);
  if (td === "" || !validChars(td, true)) return;
  if (slash === -1) {
    out.trustDomain = td;
    return;
  }
  const segs = rest.slice(slash + 1).split("/");
  for (const s of segs) {
    if (s === "" || s === "." || s === ".." || !validChars(s, false)) return; // not a valid SPIFFE ID
  }
  out.trustDomain = td;
  if (segs.length === 4 && segs[0] === "ns" && segs[2] === "sa") {
    out.namespace = segs[1]!;
    out.serviceAccount = segs[3]!;
  }
}

/** SPIFFE ID charset: trust domain [a-z0-9.-_], path segments [a-zA-Z0-9.-_]. */
function validChars(s: string, trustDomain: boolean): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok =
      (c >= 0x61 && c <= 0x7a) ||
      (c >= 0x30 && c <= 0x39) ||
      c === 0x2e ||
      c === 0x2d ||
      c === 0x5f ||
      (!trustDomain && c >= 0x41 && c <= 0x5a);
    if (!ok) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// Metadata
// ---------------------------------------------------------------------------

function readMetadata(attrs: JsonObject, at: string): Record<string, unknown> {
  const mc = getObject2(attrs, "metadataContext", "metadata_context", at);
  if (mc === undefined) return EMPTY_MAP;
  const mcAt = `${at}.${spelled(attrs, "metadataContext", "metadata_context")}`;
  const fm = getObject2(mc, "filterMetadata", "filter_metadata", mcAt);
  if (fm === undefined) return EMPTY_MAP;
  const out = newMap<unknown>();
  for (const ns in fm) {
    const struct = fm[ns];
    // A protobuf Struct in JSON is a plain object; it came from JSON.parse, so
    // it is kept by reference (no deep copy).
    if (!isObject(struct)) malformed(`${mcAt}.${spelled(mc, "filterMetadata", "filter_metadata")}["${ns.slice(0, 64)}"] must be an object`);
    out[ns] = struct;
  }
  return out;
}
