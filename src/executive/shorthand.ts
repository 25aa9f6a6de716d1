// The shorthand request used in policy test files (`*.test.yaml`):
//   request: { method, path, host, scheme, headers, body, source, destination, context, metadata }
// converted to an Envoy CheckRequest (proto3 JSON) so that tests exercise the
// same adapter as the sidecar. Unknown keys are rejected.

import { AecpError } from "../common/index.js";

const TOP_KEYS = new Set(["method", "path", "host", "scheme", "protocol", "headers", "body", "source", "destination", "context", "metadata"]);
const PEER_KEYS = new Set(["principal", "address", "port", "service", "labels"]);

function fail(where: string, msg: string): never {
  throw new AecpError("AECP_TEST_FILE_INVALID", `${where}: ${msg}`);
}

function stringMap(v: unknown, where: string): Record<string, string> {
  if (v === undefined) return {};
  if (v === null || typeof v !== "object" || Array.isArray(v)) fail(where, "must be a map of strings");
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x === "string") out[k] = x;
    else if (typeof x === "number" || typeof x === "boolean") out[k] = String(x);
    else fail(`${where}.${k}`, "must be a string");
  }
  return out;
}

function peer(v: unknown, where: string): Record<string, unknown> | undefined {
  if (v === undefined) return undefined;
  if (v === null || typeof v !== "object" || Array.isArray(v)) fail(where, "must be a map");
  const p = v as Record<string, unknown>;
  for (const k of Object.keys(p)) if (!PEER_KEYS.has(k)) fail(`${where}.${k}`, `unknown key (expected one of ${[...PEER_KEYS].join(", ")})`);
  const out: Record<string, unknown> = {};
  if (p["principal"] !== undefined) out["principal"] = String(p["principal"]);
  if (p["service"] !== undefined) out["service"] = String(p["service"]);
  if (p["labels"] !== undefined) out["labels"] = stringMap(p["labels"], `${where}.labels`);
  if (p["address"] !== undefined || p["port"] !== undefined) {
    const sa: Record<string, unknown> = {};
    if (p["address"] !== undefined) sa["address"] = String(p["address"]);
    if (p["port"] !== undefined) sa["portValue"] = Number(p["port"]);
    out["address"] = { socketAddress: sa };
  }
  return out;
}

export function checkRequestFromShorthand(v: unknown, where = "request"): Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) fail(where, "must be a map");
  const r = v as Record<string, unknown>;
  for (const k of Object.keys(r)) if (!TOP_KEYS.has(k)) fail(`${where}.${k}`, `unknown key (expected one of ${[...TOP_KEYS].join(", ")})`);
  const headers = Object.fromEntries(Object.entries(stringMap(r["headers"], `${where}.headers`)).map(([k, x]) => [k.toLowerCase(), x]));
  const http: Record<string, unknown> = {
    method: typeof r["method"] === "string" ? r["method"] : "GET",
    path: typeof r["path"] === "string" ? r["path"] : "/",
    headers,
  };
  if (r["host"] !== undefined) http["host"] = String(r["host"]);
  if (r["scheme"] !== undefined) http["scheme"] = String(r["scheme"]);
  if (r["protocol"] !== undefined) http["protocol"] = String(r["protocol"]);
  if (r["body"] !== undefined) {
    if (typeof r["body"] === "string") http["body"] = r["body"];
    else {
      http["body"] = JSON.stringify(r["body"]);
      headers["content-type"] ??= "application/json";
    }
  }
  const attributes: Record<string, unknown> = { request: { http } };
  const src = peer(r["source"], `${where}.source`);
  const dst = peer(r["destination"], `${where}.destination`);
  if (src) attributes["source"] = src;
  if (dst) attributes["destination"] = dst;
  if (r["context"] !== undefined) attributes["contextExtensions"] = stringMap(r["context"], `${where}.context`);
  if (r["metadata"] !== undefined) {
    const md = r["metadata"];
    if (md === null || typeof md !== "object" || Array.isArray(md)) fail(`${where}.metadata`, "must be a map of filter namespace to object");
    attributes["metadataContext"] = { filterMetadata: md };
  }
  return { attributes };
}
