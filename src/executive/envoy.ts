// Envoy's own ext_authz API, loaded with @grpc/proto-loader from the protos
// that @grpc/grpc-js-xds ships under deps/ (envoy-api, xds, googleapis,
// protoc-gen-validate), and the adapter from a decoded gRPC CheckRequest to
// RequestAttributes.
//
// Loader options: keepCase (field names as in the .proto, snake_case),
// enums and 64-bit integers as strings, no default values, oneofs reported.
// protobufjs keeps the well-known types (google.protobuf.Struct/Value) in
// camelCase regardless (`{fields: {k: {kind: "stringValue", stringValue}}}`).

import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as protoLoader from "@grpc/proto-loader";
import { AecpError } from "../common/index.js";
import type { RequestAttributes } from "../bundle/index.js";
import { attributesFromCheckRequestJson, type CheckRequestOptions } from "./checkrequest.js";

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
};

let cached: protoLoader.PackageDefinition | undefined;

/** Directories holding Envoy's API protos and their imports. */
export function envoyProtoIncludeDirs(): string[] {
  const require = createRequire(import.meta.url);
  const deps = join(dirname(require.resolve("@grpc/grpc-js-xds/package.json")), "deps");
  return ["envoy-api", "xds", "googleapis", "protoc-gen-validate"].map((d) => join(deps, d));
}

/** The package definition for envoy.service.auth.v3 (loaded once, ~40 ms). */
export function envoyAuthPackageDefinition(): protoLoader.PackageDefinition {
  cached ??= protoLoader.loadSync(["envoy/service/auth/v3/external_auth.proto"], {
    ...LOADER_OPTIONS,
    includeDirs: envoyProtoIncludeDirs(),
  });
  return cached;
}

// --- google.protobuf.Struct ⇄ JSON -------------------------------------------------------

const MAX_STRUCT_DEPTH = 64;

export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

/** A decoded google.protobuf.Struct (protobufjs object form) as plain JSON. */
export function structToJson(s: unknown, depth = 0): Record<string, JsonValue> {
  if (depth > MAX_STRUCT_DEPTH) throw new AecpError("AECP_REQUEST_MALFORMED", `metadata nests deeper than ${MAX_STRUCT_DEPTH} levels`);
  const out: Record<string, JsonValue> = Object.create(null) as Record<string, JsonValue>;
  const fields = (s as { fields?: Record<string, unknown> } | null)?.fields;
  if (fields === undefined || fields === null) return out;
  for (const k of Object.keys(fields)) out[k] = valueToJson(fields[k], depth + 1);
  return out;
}

function valueToJson(v: unknown, depth: number): JsonValue {
  if (depth > MAX_STRUCT_DEPTH) throw new AecpError("AECP_REQUEST_MALFORMED", `metadata nests deeper than ${MAX_STRUCT_DEPTH} levels`);
  const val = v as Record<string, unknown> | null | undefined;
  switch (val?.["kind"]) {
    case "stringValue":
      return String(val["stringValue"]);
    case "numberValue":
      return Number(val["numberValue"]);
    case "boolValue":
      return Boolean(val["boolValue"]);
    case "structValue":
      return structToJson(val["structValue"], depth + 1);
    case "listValue": {
      const values = (val["listValue"] as { values?: unknown[] } | undefined)?.values ?? [];
      return values.map((x) => valueToJson(x, depth + 1));
    }
    default:
      return null; // nullValue or unset
  }
}

/** Plain JSON as a google.protobuf.Struct in protobufjs object form. */
export function jsonToStruct(o: Record<string, JsonValue>): { fields: Record<string, unknown> } {
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) fields[k] = jsonToValue(v);
  return { fields };
}

function jsonToValue(v: JsonValue): unknown {
  if (v === null) return { nullValue: "NULL_VALUE" };
  if (typeof v === "string") return { stringValue: v };
  if (typeof v === "number") return { numberValue: v };
  if (typeof v === "boolean") return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(jsonToValue) } };
  return { structValue: jsonToStruct(v) };
}

/**
 * A CheckRequest as grpc-js decoded it (LOADER_OPTIONS) → RequestAttributes.
 * Reuses the JSON adapter (one set of rules for both encodings); only the
 * parts whose decoded form differs from proto3 JSON are converted: the
 * metadata Structs (raw_body bytes are accepted as they are).
 */
export function attributesFromGrpcCheckRequest(req: unknown, options?: CheckRequestOptions): RequestAttributes {
  const attrs = (req as { attributes?: Record<string, unknown> } | null)?.attributes;
  if (attrs === undefined || attrs === null || typeof attrs !== "object") {
    throw new AecpError("AECP_REQUEST_MALFORMED", "CheckRequest has no attributes");
  }
  const mc = attrs["metadata_context"] as { filter_metadata?: Record<string, unknown> } | undefined;
  let view: Record<string, unknown> = attrs;
  if (mc?.filter_metadata !== undefined) {
    const fm: Record<string, unknown> = {};
    for (const ns of Object.keys(mc.filter_metadata)) fm[ns] = structToJson(mc.filter_metadata[ns]);
    view = { ...attrs, metadata_context: { filter_metadata: fm } };
  }
  return attributesFromCheckRequestJson({ attributes: view }, options);
}
