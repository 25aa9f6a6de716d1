// Test helper: CheckRequest JSON (as captured: proto3 JSON camelCase, the
// same with snake_case names, an OPA decision-log event whose
// input.attributes is the CheckRequest, or an OPA input with extra keys) →
// the object form that a grpc-js client built with @grpc/proto-loader
// (keepCase: true) serializes:
//   - field names snake_case (as in the .proto);
//   - map fields (headers, context_extensions, labels) kept as they are;
//   - metadata_context.filter_metadata values as google.protobuf.Struct in
//     protobufjs' well-known (camelCase) form: {fields: {k: {stringValue}}};
//   - bytes (raw_body, header_map raw_value) base64 → Buffer;
//   - google.protobuf.Timestamp RFC 3339 text → {seconds, nanos};
//   - int64 as decimal strings.
// The converter is strict: a field that is not in the CheckRequest schema
// throws, so a fixture is never silently thinned out on its way to the wire.
// It is independent of src/ (its own Struct encoder), so it tests the
// sidecar's decoding rather than mirroring it.

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

type Spec =
  | "string"
  | "int64"
  | "uint32"
  | "bool"
  | "enum"
  | "bytes"
  | "timestamp"
  | "stringMap"
  | "structMap"
  | { readonly repeated: Spec }
  | { readonly [field: string]: Spec };

const SOCKET_ADDRESS: Spec = {
  protocol: "enum",
  address: "string",
  port_value: "uint32",
  named_port: "string",
  resolver_name: "string",
  ipv4_compat: "bool",
};
const ADDRESS: Spec = {
  socket_address: SOCKET_ADDRESS,
  pipe: { path: "string", mode: "uint32" },
  envoy_internal_address: { server_listener_name: "string", endpoint_id: "string" },
};
const PEER: Spec = { address: ADDRESS, service: "string", labels: "stringMap", principal: "string", certificate: "string" };
const HEADER_VALUE: Spec = { key: "string", value: "string", raw_value: "bytes" };
const HTTP: Spec = {
  id: "string",
  method: "string",
  headers: "stringMap",
  header_map: { headers: { repeated: HEADER_VALUE } },
  path: "string",
  host: "string",
  scheme: "string",
  query: "string",
  fragment: "string",
  size: "int64",
  protocol: "string",
  body: "string",
  raw_body: "bytes",
};
const METADATA: Spec = { filter_metadata: "structMap" };
const ATTRIBUTE_CONTEXT: Spec = {
  source: PEER,
  destination: PEER,
  request: { time: "timestamp", http: HTTP },
  context_extensions: "stringMap",
  metadata_context: METADATA,
  route_metadata_context: METADATA,
  tls_session: { sni: "string" },
};

function snake(k: string): string {
  return k.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());
}

function isObj(v: unknown): v is Record<string, Json> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Plain JSON → google.protobuf.Value (protobufjs object form). */
export function toValue(v: Json): Record<string, unknown> {
  if (v === null) return { nullValue: "NULL_VALUE" };
  if (typeof v === "string") return { stringValue: v };
  if (typeof v === "number") return { numberValue: v };
  if (typeof v === "boolean") return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  return { structValue: toStruct(v) };
}

/** Plain JSON object → google.protobuf.Struct (protobufjs object form). */
export function toStruct(o: { [k: string]: Json }): { fields: Record<string, unknown> } {
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) fields[k] = toValue(v);
  return { fields };
}

/** google.protobuf.Value / Struct (decoded by a proto-loader client) → plain JSON. */
export function fromValue(v: unknown): Json {
  if (!isObj(v)) return null;
  if ("stringValue" in v) return v["stringValue"] as string;
  if ("numberValue" in v) return v["numberValue"] as number;
  if ("boolValue" in v) return v["boolValue"] as boolean;
  if ("structValue" in v) return fromStruct(v["structValue"]);
  if ("listValue" in v) return (((v["listValue"] as { values?: unknown[] }).values ?? []) as unknown[]).map(fromValue);
  return null;
}

export function fromStruct(s: unknown): { [k: string]: Json } {
  const out: { [k: string]: Json } = {};
  const fields = isObj(s) ? (s["fields"] as Record<string, unknown> | undefined) : undefined;
  for (const [k, v] of Object.entries(fields ?? {})) out[k] = fromValue(v);
  return out;
}

function timestamp(v: Json, at: string): { seconds: string; nanos: number } {
  if (typeof v !== "string") throw new Error(`${at}: Timestamp must be RFC 3339 text`);
  const m = /^(.*?)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(v);
  if (!m) throw new Error(`${at}: bad Timestamp \`${v}\``);
  const ms = Date.parse(`${m[1]!}${m[3]!}`);
  if (Number.isNaN(ms)) throw new Error(`${at}: bad Timestamp \`${v}\``);
  return { seconds: String(Math.floor(ms / 1000)), nanos: Number((m[2] ?? "").padEnd(9, "0")) };
}

function convert(v: Json, spec: Spec, at: string): unknown {
  if (v === null) return undefined;
  switch (spec) {
    case "string":
    case "enum":
      if (typeof v !== "string") throw new Error(`${at}: expected a string`);
      return v;
    case "int64":
      if (typeof v !== "string" && typeof v !== "number") throw new Error(`${at}: expected an int64`);
      return String(v);
    case "uint32":
      if (typeof v !== "number" && typeof v !== "string") throw new Error(`${at}: expected a uint32`);
      return Number(v);
    case "bool":
      if (typeof v !== "boolean") throw new Error(`${at}: expected a bool`);
      return v;
    case "bytes":
      if (typeof v !== "string") throw new Error(`${at}: expected base64 text`);
      return Buffer.from(v, "base64");
    case "timestamp":
      return timestamp(v, at);
    case "stringMap": {
      if (!isObj(v)) throw new Error(`${at}: expected a map`);
      const out: Record<string, string> = {};
      for (const [k, x] of Object.entries(v)) {
        if (typeof x !== "string") throw new Error(`${at}.${k}: expected a string`);
        out[k] = x;
      }
      return out;
    }
    case "structMap": {
      if (!isObj(v)) throw new Error(`${at}: expected a map`);
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        if (!isObj(x)) throw new Error(`${at}.${k}: expected an object (Struct)`);
        out[k] = toStruct(x);
      }
      return out;
    }
    default:
      break;
  }
  if (Object.keys(spec).length === 1 && "repeated" in spec) {
    if (!Array.isArray(v)) throw new Error(`${at}: expected an array`);
    const item = (spec as { repeated: Spec }).repeated;
    return v.map((x, i) => convert(x, item, `${at}[${i}]`));
  }
  if (!isObj(v)) throw new Error(`${at}: expected an object`);
  const fields = spec as { readonly [field: string]: Spec };
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const name = snake(k);
    const sub = fields[name];
    if (sub === undefined) throw new Error(`${at}.${k}: not a field of the CheckRequest schema`);
    if (name in out) throw new Error(`${at}: ${k} is given twice (camelCase and snake_case)`);
    const c = convert(x, sub, `${at}.${k}`);
    if (c !== undefined) out[name] = c;
  }
  return out;
}

/** The CheckRequest attributes of a captured sample, whatever its wrapper. */
export function attributesOf(sample: Json): Json {
  if (!isObj(sample)) throw new Error("sample must be an object");
  if (isObj(sample["attributes"])) return sample["attributes"]; // CheckRequest or OPA input (extra keys ignored)
  const input = sample["input"];
  if (isObj(input) && isObj(input["attributes"])) return input["attributes"]; // OPA decision-log event
  throw new Error("sample has no attributes");
}

/** A captured sample → CheckRequest in grpc-js / proto-loader (keepCase) object form. */
export function grpcCheckRequest(sample: Json): { attributes: Record<string, unknown> } {
  return { attributes: convert(attributesOf(sample), ATTRIBUTE_CONTEXT, "attributes") as Record<string, unknown> };
}
