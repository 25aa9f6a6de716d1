// A strict checker for configuration written as proto3 JSON/YAML (Envoy
// bootstrap files, typed_config blocks): walks a parsed YAML/JSON value against
// protobufjs reflection of Envoy's own protos and reports every problem with
// its path. protobufjs `fromObject` silently drops unknown fields, and Envoy
// rejects them at start-up, so this is what the mesh tests use instead.
//
// What it checks:
//   - every key is a field of its message, by proto name or lowerCamelCase JSON
//     name (a misspelling gets a "did you mean" hint), and no field twice;
//   - oneofs: at most one member set; `(validate.required)` oneofs: exactly one;
//   - `google.protobuf.Any`: `@type` resolved to its message type (loading the
//     protos of its package on demand) and the rest checked recursively;
//   - enums by name only; scalar types and ranges; repeated and map fields;
//   - well-known types: Duration ("0.25s"), Timestamp, Struct/Value/ListValue,
//     the wrappers, Empty, FieldMask;
//   - fields and enum values marked `deprecated` (Envoy only warns, but a
//     config we ship must not depend on them);
//   - a subset of protoc-gen-validate rules that Envoy enforces at load time:
//     message.required, string.min_len/min_bytes, uint32/int32/uint64 gt/gte/lt/lte,
//     repeated.min_items, map.min_pairs, bool.const, duration/any required and
//     gt/gte (protobufjs drops empty option literals such as `gt {}`, so a
//     `duration.gt` of zero is not seen).
// What it does not check: cross-references between resources (cluster names),
// the remaining PGV rules (regexes, well-known string formats), and `(udpa.annotations)`.

import { existsSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { isAbsolute, join } from "node:path";
import type * as Protobuf from "protobufjs";
import { envoyProtoIncludeDirs } from "../../src/executive/index.js";

// The protobufjs that @grpc/proto-loader itself uses (a dependency of it, not of ours).
const requireFromLoader = createRequire(createRequire(import.meta.url).resolve("@grpc/proto-loader"));
const protobuf = requireFromLoader("protobufjs") as typeof Protobuf;
const descriptorJson = requireFromLoader("protobufjs/google/protobuf/descriptor.json") as { nested: { google: { nested: { protobuf: { nested: Protobuf.INamespace["nested"] } } } } };
protobuf.common("descriptor", descriptorJson.nested.google.nested.protobuf.nested as Record<string, Protobuf.INamespace>);

/** One problem: where (`static_resources.clusters[0].connect_timeout`) and what. */
export interface ProtoIssue {
  path: string;
  message: string;
}

const TYPE_URL_PREFIX = "type.googleapis.com/";
const DURATION = /^-?\d{1,12}(\.\d{1,9})?s$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const INT64 = /^-?\d{1,19}$/;

const WRAPPERS: Record<string, string> = {
  "google.protobuf.DoubleValue": "double",
  "google.protobuf.FloatValue": "float",
  "google.protobuf.Int64Value": "int64",
  "google.protobuf.UInt64Value": "uint64",
  "google.protobuf.Int32Value": "int32",
  "google.protobuf.UInt32Value": "uint32",
  "google.protobuf.BoolValue": "bool",
  "google.protobuf.StringValue": "string",
  "google.protobuf.BytesValue": "bytes",
};
/** Well-known types whose JSON form is not an object of their fields. */
const SPECIAL = new Set(["google.protobuf.Duration", "google.protobuf.Timestamp", "google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue", "google.protobuf.FieldMask", "google.protobuf.Empty", ...Object.keys(WRAPPERS)]);

/** The lowerCamelCase JSON name protoc derives from a field name. */
export function jsonName(protoName: string): string {
  return protoName.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

const fullName = (t: Protobuf.ReflectionObject): string => t.fullName.replace(/^\./, "");

/**
 * Envoy's API protos (from `@grpc/grpc-js-xds`'s `deps/`) loaded with
 * protobufjs, field names as in the .proto files. Types referenced by an
 * `Any` are loaded on demand from their package's folder.
 */
export class StrictProtoChecker {
  readonly root: Protobuf.Root;
  private readonly includeDirs: string[];

  constructor(files: string[], includeDirs: string[] = envoyProtoIncludeDirs()) {
    this.includeDirs = includeDirs;
    this.root = new protobuf.Root();
    this.root.resolvePath = (_origin: string, target: string): string => {
      if (isAbsolute(target)) return target;
      for (const d of includeDirs) {
        const p = join(d, target);
        if (existsSync(p)) return p;
      }
      return target; // protobufjs' bundled well-known types
    };
    this.root.loadSync(files, { keepCase: true });
    this.root.resolveAll();
  }

  /** Check `value` as message `typeName`; an empty list means valid. */
  check(typeName: string, value: unknown, path = ""): ProtoIssue[] {
    const issues: ProtoIssue[] = [];
    const type = this.lookupType(typeName);
    if (type === undefined) return [{ path, message: `unknown message type ${typeName}` }];
    this.message(type, value, path, issues);
    return issues;
  }

  /** Find a message type, loading the .proto files of its package folder when needed. */
  lookupType(name: string): Protobuf.Type | undefined {
    const found = this.tryLookup(name);
    if (found) return found;
    const parts = name.split(".");
    // the package is a prefix of the name (nested messages add segments after it)
    for (let n = parts.length - 1; n >= 1; n--) {
      const rel = parts.slice(0, n).join("/");
      for (const d of this.includeDirs) {
        const dir = join(d, rel);
        if (!existsSync(dir)) continue;
        const files = readdirSync(dir).filter((f) => f.endsWith(".proto")).map((f) => join(rel, f));
        if (files.length === 0) continue;
        this.root.loadSync(files, { keepCase: true });
        this.root.resolveAll();
        return this.tryLookup(name);
      }
    }
    return undefined;
  }

  private tryLookup(name: string): Protobuf.Type | undefined {
    const t = this.root.lookup(name);
    return t instanceof protobuf.Type ? t : undefined;
  }

  private message(type: Protobuf.Type, value: unknown, path: string, issues: ProtoIssue[], skip?: string): void {
    const name = fullName(type);
    if (SPECIAL.has(name)) return this.wellKnown(name, value, path, issues);
    if (name === "google.protobuf.Any") return this.any(value, path, issues);
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      issues.push({ path, message: `expected an object (message ${name}), got ${describe(value)}` });
      return;
    }
    const obj = value as Record<string, unknown>;
    const seen = new Map<string, string>();
    for (const key of Object.keys(obj)) {
      if (key === skip) continue;
      const at = path === "" ? key : `${path}.${key}`;
      const field = type.fields[key] ?? type.fieldsArray.find((f) => jsonName(f.name) === key);
      if (field === undefined) {
        const names = type.fieldsArray.map((f) => f.name);
        const best = names.map((n) => [n, editDistance(key.toLowerCase(), n)] as const).sort((a, b) => a[1] - b[1])[0];
        const hint = best !== undefined && best[1] <= Math.max(2, Math.floor(key.length / 4)) ? ` (did you mean \`${best[0]}\`?)` : "";
        issues.push({ path: at, message: `unknown field \`${key}\` in ${name}${hint}` });
        continue;
      }
      const other = seen.get(field.name);
      if (other !== undefined) issues.push({ path: at, message: `field \`${field.name}\` is given twice (as \`${other}\` and \`${key}\`)` });
      seen.set(field.name, key);
      if (field.options?.["deprecated"] === true) issues.push({ path: at, message: `field \`${field.name}\` of ${name} is deprecated` });
      this.field(field, obj[key], at, issues);
    }
    for (const oneof of type.oneofsArray) {
      const set = oneof.fieldsArray.filter((f) => seen.has(f.name)).map((f) => f.name);
      if (set.length > 1) issues.push({ path, message: `oneof \`${oneof.name}\` of ${name} has more than one member set: ${set.join(", ")}` });
      if (set.length === 0 && oneof.options?.["(validate.required)"] === true) {
        issues.push({ path, message: `oneof \`${oneof.name}\` of ${name} requires one of: ${oneof.oneof.join(", ")}` });
      }
    }
    for (const f of type.fieldsArray) {
      // `required` on a oneof member only means "not null when chosen"
      if (seen.has(f.name) || (f.partOf !== null && f.partOf.oneof.length > 1)) continue;
      const rules = ruleOptions(f);
      if (rules["message.required"] === true || rules["duration.required"] === true || rules["any.required"] === true) {
        issues.push({ path, message: `required field \`${f.name}\` of ${name} is missing` });
      }
    }
  }

  private field(field: Protobuf.Field, value: unknown, path: string, issues: ProtoIssue[]): void {
    const rules = ruleOptions(field);
    if (value === null) {
      if (field.resolvedType && fullName(field.resolvedType) === "google.protobuf.Value") return;
      issues.push({ path, message: `\`${field.name}\` is null (leave the field out instead)` });
      return;
    }
    if (field.map) {
      if (typeof value !== "object" || Array.isArray(value)) {
        issues.push({ path, message: `expected a map (object) for \`${field.name}\`, got ${describe(value)}` });
        return;
      }
      const mf = field as unknown as Protobuf.MapField;
      const entries = Object.entries(value as Record<string, unknown>);
      if (rules["map.min_pairs"] !== undefined && entries.length < Number(rules["map.min_pairs"])) {
        issues.push({ path, message: `\`${field.name}\` needs at least ${String(rules["map.min_pairs"])} entries` });
      }
      for (const [k, v] of entries) {
        const at = `${path}[${JSON.stringify(k)}]`;
        if (mf.keyType !== "string" && mf.keyType !== "bool" && !INT64.test(k)) issues.push({ path: at, message: `map key must be an integer (${mf.keyType})` });
        if (mf.keyType === "bool" && k !== "true" && k !== "false") issues.push({ path: at, message: "map key must be true or false" });
        this.single(field, v, at, issues, {});
      }
      return;
    }
    if (field.repeated) {
      if (!Array.isArray(value)) {
        issues.push({ path, message: `expected a list for repeated \`${field.name}\`, got ${describe(value)}` });
        return;
      }
      if (rules["repeated.min_items"] !== undefined && value.length < Number(rules["repeated.min_items"])) {
        issues.push({ path, message: `\`${field.name}\` needs at least ${String(rules["repeated.min_items"])} items` });
      }
      value.forEach((v, i) => this.single(field, v, `${path}[${i}]`, issues, {}));
      return;
    }
    this.single(field, value, path, issues, rules);
  }

  private single(field: Protobuf.Field, value: unknown, path: string, issues: ProtoIssue[], rules: Record<string, unknown>): void {
    const t = field.resolvedType;
    if (t instanceof protobuf.Type) {
      this.message(t, value, path, issues);
      if (fullName(t) === "google.protobuf.Duration" && typeof value === "string" && DURATION.test(value)) {
        const seconds = Number(value.slice(0, -1));
        const gt = durationRule(rules, "gt");
        const gte = durationRule(rules, "gte");
        if (gt !== undefined && !(seconds > gt)) issues.push({ path, message: `\`${field.name}\` must be greater than ${gt}s` });
        if (gte !== undefined && !(seconds >= gte)) issues.push({ path, message: `\`${field.name}\` must be at least ${gte}s` });
      }
      return;
    }
    if (t instanceof protobuf.Enum) {
      if (typeof value !== "string" || !(value in t.values)) {
        issues.push({ path, message: `\`${describe(value)}\` is not a value of enum ${fullName(t)} (one of: ${Object.keys(t.values).join(", ")})` });
      } else if (t.valuesOptions?.[value]?.["deprecated"] === true) {
        issues.push({ path, message: `enum value ${value} of ${fullName(t)} is deprecated` });
      }
      return;
    }
    const problem = scalarProblem(field.type, value);
    if (problem !== undefined) {
      issues.push({ path, message: `\`${field.name}\`: ${problem}` });
      return;
    }
    if (rules["bool.const"] !== undefined && value !== rules["bool.const"]) {
      issues.push({ path, message: `\`${field.name}\` must be ${String(rules["bool.const"])}` });
    }
    if (typeof value === "string") {
      const minLen = rules[`string.min_len`] ?? rules[`string.min_bytes`];
      if (minLen !== undefined && value.length < Number(minLen)) issues.push({ path, message: `\`${field.name}\` must be at least ${String(minLen)} characters` });
    }
    if (typeof value === "number" || (typeof value === "string" && INT64.test(value))) {
      const n = Number(value);
      for (const [op, ok] of [["gt", (b: number) => n > b], ["gte", (b: number) => n >= b], ["lt", (b: number) => n < b], ["lte", (b: number) => n <= b]] as const) {
        const bound = rules[`${field.type}.${op}`];
        if (bound !== undefined && !ok(Number(bound))) issues.push({ path, message: `\`${field.name}\` must be ${op} ${String(bound)}, got ${n}` });
      }
    }
  }

  private any(value: unknown, path: string, issues: ProtoIssue[]): void {
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      issues.push({ path, message: `expected an object with "@type" (google.protobuf.Any), got ${describe(value)}` });
      return;
    }
    const url = (value as Record<string, unknown>)["@type"];
    const at = path === "" ? "@type" : `${path}.@type`;
    if (typeof url !== "string" || !url.includes("/")) {
      issues.push({ path: at, message: `an Any needs "@type": "${TYPE_URL_PREFIX}<message>"` });
      return;
    }
    if (!url.startsWith(TYPE_URL_PREFIX)) issues.push({ path: at, message: `type URL \`${url}\` should start with ${TYPE_URL_PREFIX}` });
    const typeName = url.slice(url.lastIndexOf("/") + 1);
    const type = this.lookupType(typeName);
    if (type === undefined) {
      issues.push({ path: at, message: `unknown type \`${typeName}\` (not in Envoy's API protos)` });
      return;
    }
    if (SPECIAL.has(typeName) || typeName === "google.protobuf.Any") {
      // proto3 JSON: a well-known type inside Any is {"@type", "value": <its JSON form>}
      const extra = Object.keys(value).filter((k) => k !== "@type" && k !== "value");
      for (const k of extra) issues.push({ path: `${path}.${k}`, message: `unknown field \`${k}\` (an Any holding ${typeName} has only \`value\`)` });
      this.message(type, (value as Record<string, unknown>)["value"], `${path}.value`, issues);
      return;
    }
    this.message(type, value, path, issues, "@type");
  }

  private wellKnown(name: string, value: unknown, path: string, issues: ProtoIssue[]): void {
    const fail = (what: string): void => void issues.push({ path, message: `${name}: expected ${what}, got ${describe(value)}` });
    switch (name) {
      case "google.protobuf.Duration":
        if (typeof value !== "string" || !DURATION.test(value)) fail(`a duration string such as "0.25s"`);
        return;
      case "google.protobuf.Timestamp":
        if (typeof value !== "string" || !TIMESTAMP.test(value)) fail("an RFC 3339 timestamp");
        return;
      case "google.protobuf.Struct":
        if (value === null || typeof value !== "object" || Array.isArray(value)) fail("an object");
        return;
      case "google.protobuf.ListValue":
        if (!Array.isArray(value)) fail("a list");
        return;
      case "google.protobuf.Value":
        return; // any JSON value
      case "google.protobuf.FieldMask":
        if (typeof value !== "string") fail("a comma-separated field path string");
        return;
      case "google.protobuf.Empty":
        if (value === null || typeof value !== "object" || Array.isArray(value) || Object.keys(value).length > 0) fail("{}");
        return;
      default: {
        const problem = scalarProblem(WRAPPERS[name]!, value);
        if (problem !== undefined) issues.push({ path, message: `${name}: ${problem}` });
      }
    }
  }
}

/** PGV rules of a field as `kind.rule` → value (`(validate.rules).uint32.gt` → `uint32.gt`). */
function ruleOptions(field: Protobuf.Field): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(field.options ?? {})) {
    if (k.startsWith("(validate.rules).")) out[k.slice("(validate.rules).".length)] = v;
  }
  return out;
}

function durationRule(rules: Record<string, unknown>, op: "gt" | "gte"): number | undefined {
  // protobufjs flattens option literals (`duration.gte.nanos`) or keeps them as an object
  const whole = rules[`duration.${op}`] as { seconds?: unknown; nanos?: unknown } | undefined;
  const s = rules[`duration.${op}.seconds`] ?? whole?.seconds;
  const n = rules[`duration.${op}.nanos`] ?? whole?.nanos;
  if (s === undefined && n === undefined) return undefined;
  return Number(s ?? 0) + Number(n ?? 0) / 1e9;
}

const INT_RANGES: Record<string, [number, number]> = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  sint32: [-(2 ** 31), 2 ** 31 - 1],
  sfixed32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  fixed32: [0, 2 ** 32 - 1],
};

/** Why `value` is not a valid proto3 JSON value of scalar `type`, or undefined. */
function scalarProblem(type: string, value: unknown): string | undefined {
  switch (type) {
    case "string":
      return typeof value === "string" ? undefined : `expected a string, got ${describe(value)}`;
    case "bool":
      return typeof value === "boolean" ? undefined : `expected true or false, got ${describe(value)}`;
    case "double":
    case "float":
      return typeof value === "number" || value === "NaN" || value === "Infinity" || value === "-Infinity" ? undefined : `expected a number, got ${describe(value)}`;
    case "bytes":
      return typeof value === "string" && BASE64.test(value) ? undefined : `expected base64 bytes, got ${describe(value)}`;
    case "int64":
    case "sint64":
    case "sfixed64":
    case "uint64":
    case "fixed64": {
      const ok = (typeof value === "number" && Number.isSafeInteger(value)) || (typeof value === "string" && INT64.test(value));
      if (!ok) return `expected a ${type} (integer or decimal string), got ${describe(value)}`;
      return type.startsWith("u") || type.startsWith("fixed") ? (Number(value) < 0 ? `${type} must not be negative` : undefined) : undefined;
    }
    default: {
      const range = INT_RANGES[type];
      if (range === undefined) return `unsupported scalar type ${type}`;
      if (typeof value !== "number" || !Number.isInteger(value)) return `expected an integer (${type}), got ${describe(value)}`;
      return value < range[0] || value > range[1] ? `${value} is out of range for ${type}` : undefined;
    }
  }
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "an object";
  return `${typeof v} ${JSON.stringify(v)}`;
}
