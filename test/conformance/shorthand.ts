// The conformance corpus describes requests in a compact shorthand; this
// module turns the shorthand into a proto3-JSON Envoy CheckRequest, so every
// case also runs through the CheckRequest adapter
// (src/executive/checkrequest.ts) before evaluation.
//
// Shorthand (every key optional):
//   method, path (may carry "?query"), host, scheme, protocol
//   headers:     { name: value }
//   body:        JSON value (object/array/number/...: serialized, and
//                `content-type: application/json` is added unless a
//                content-type header is given) or a string (sent verbatim)
//   source, destination: { principal, address, port, service }
//   context:     { key: value }            (contextExtensions)
//   metadata:    { namespace: { ... } }    (metadataContext.filterMetadata)
// A header or context value may also be written
//   { repeat: "ü", times: 20000, prefix?: "...", suffix?: "..." }
// to build a long value (memory-growth cases) without a huge YAML file.

type Json = Record<string, unknown>;

const REQUEST_KEYS = new Set(["method", "path", "host", "scheme", "protocol", "headers", "body", "source", "destination", "context", "metadata"]);
const PEER_KEYS = new Set(["principal", "address", "port", "service"]);

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function checkKeys(o: Json, allowed: ReadonlySet<string>, what: string): void {
  for (const k of Object.keys(o)) if (!allowed.has(k)) throw new Error(`${what}: unknown key \`${k}\` (allowed: ${[...allowed].join(", ")})`);
}

function repeated(o: Json, what: string): string {
  checkKeys(o, new Set(["repeat", "times", "prefix", "suffix"]), what);
  const times = o["times"];
  if (typeof times !== "number" || !Number.isInteger(times) || times < 0) throw new Error(`${what}.times must be a non-negative integer`);
  const prefix = o["prefix"] ?? "";
  const suffix = o["suffix"] ?? "";
  if (typeof prefix !== "string" || typeof suffix !== "string") throw new Error(`${what}: prefix and suffix must be strings`);
  return prefix + (o["repeat"] as string).repeat(times) + suffix;
}

function stringMap(v: unknown, what: string): Record<string, string> {
  if (v === undefined) return {};
  if (!isObject(v)) throw new Error(`${what} must be a map`);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    // YAML turns `x: 42` / `x: true` into non-strings; headers are strings on the wire.
    if (typeof x === "string") out[k] = x;
    else if (isObject(x) && typeof x["repeat"] === "string") out[k] = repeated(x, `${what}.${k}`);
    else if (typeof x === "number" || typeof x === "boolean") out[k] = String(x);
    else throw new Error(`${what}.${k} must be a string`);
  }
  return out;
}

function peer(v: unknown, what: string): Json | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v)) throw new Error(`${what} must be a map`);
  checkKeys(v, PEER_KEYS, what);
  const out: Json = {};
  if (v["principal"] !== undefined) out["principal"] = String(v["principal"]);
  if (v["service"] !== undefined) out["service"] = String(v["service"]);
  if (v["address"] !== undefined || v["port"] !== undefined) {
    const sa: Json = {};
    if (v["address"] !== undefined) sa["address"] = String(v["address"]);
    if (v["port"] !== undefined) sa["portValue"] = v["port"];
    out["address"] = { socketAddress: sa };
  }
  return out;
}

/** Shorthand → proto3 JSON CheckRequest (camelCase). */
export function checkRequestFromShorthand(r: unknown): Json {
  if (r === undefined || r === null) r = {};
  if (!isObject(r)) throw new Error("request must be a map");
  checkKeys(r, REQUEST_KEYS, "request");
  const headers = stringMap(r["headers"], "request.headers");
  const http: Json = {};
  for (const k of ["method", "path", "host", "scheme", "protocol"] as const) {
    const v = r[k];
    if (v === undefined) continue;
    if (typeof v !== "string") throw new Error(`request.${k} must be a string`);
    http[k] = v;
  }
  if (r["body"] !== undefined) {
    const body = r["body"];
    if (typeof body === "string") http["body"] = body;
    else {
      http["body"] = JSON.stringify(body);
      if (!Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) headers["content-type"] = "application/json";
    }
  }
  http["headers"] = headers;
  const attributes: Json = { request: { http } };
  const source = peer(r["source"], "request.source");
  if (source) attributes["source"] = source;
  const destination = peer(r["destination"], "request.destination");
  if (destination) attributes["destination"] = destination;
  if (r["context"] !== undefined) attributes["contextExtensions"] = stringMap(r["context"], "request.context");
  if (r["metadata"] !== undefined) {
    const md = r["metadata"];
    if (!isObject(md)) throw new Error("request.metadata must be a map of namespace → struct");
    attributes["metadataContext"] = { filterMetadata: md };
  }
  return { attributes };
}
