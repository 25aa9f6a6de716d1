// The built-in attribute sources of the policy language: the part of a request
// a policy may read. A reference such as `request.headers["x-tenant"]` maps to
// an AttributeSource (plain data, stored in bundles); the evaluator host
// resolves sources against a request (src/bundle/resolve.ts).

import type { AttrRef, AttrType, PathSegment } from "./ast.js";

export type RequestField = "method" | "path" | "host" | "scheme" | "protocol";
export type PeerField = "principal" | "address" | "port" | "namespace" | "service_account" | "trust_domain" | "service";
export type JsonPath = Array<string | number>;

export type AttributeSource =
  | { kind: "request"; field: RequestField }
  | { kind: "query"; key: string }
  | { kind: "header"; key: string }
  | { kind: "body"; path: JsonPath }
  | { kind: "peer"; peer: "source" | "destination"; field: PeerField }
  | { kind: "context"; key: string }
  | { kind: "metadata"; namespace: string; path: JsonPath };

/** `dynamic` sources (JSON body, metadata) take their type from how a policy uses them. */
export type SourceType = AttrType | "dynamic";

const REQUEST_FIELDS: readonly RequestField[] = ["method", "path", "host", "scheme", "protocol"];
const PEER_FIELDS: readonly PeerField[] = ["principal", "address", "port", "namespace", "service_account", "trust_domain", "service"];

/** Every fixed built-in name, for "did you mean" suggestions. */
export const BUILTIN_NAMES: readonly string[] = [
  ...REQUEST_FIELDS.map((f) => `request.${f}`),
  'request.query["…"]',
  'request.headers["…"]',
  "request.body.…",
  ...PEER_FIELDS.map((f) => `source.${f}`),
  ...PEER_FIELDS.map((f) => `destination.${f}`),
  'context["…"]',
  'metadata["…"].…',
];

export const BUILTIN_ROOTS: ReadonlySet<string> = new Set(["request", "source", "destination", "context", "metadata"]);

export type SourceLookup =
  | { ok: true; source: AttributeSource; type: SourceType }
  | { ok: false; builtinRoot: boolean; message?: string; help?: string };

function jsonPath(segs: readonly PathSegment[]): JsonPath {
  return segs.map((s) => (s.kind === "name" ? s.name : s.kind === "key" ? s.key : s.index));
}

/** Map an attribute reference onto a built-in source, or say why it is not one. */
export function lookupBuiltin(ref: AttrRef): SourceLookup {
  const segs = ref.segments;
  const root = segs[0];
  if (!root || root.kind !== "name") return { ok: false, builtinRoot: false };
  const second = segs[1];
  const keyed = (what: string, example: string): SourceLookup => ({
    ok: false,
    builtinRoot: true,
    message: `\`${ref.text}\` is not a valid ${what} reference`,
    help: `write it as \`${example}\``,
  });
  switch (root.name) {
    case "request": {
      if (!second || second.kind !== "name") return keyed("request attribute", "request.method");
      const f = second.name;
      if ((REQUEST_FIELDS as readonly string[]).includes(f)) {
        if (segs.length !== 2) return keyed("request attribute", `request.${f}`);
        return { ok: true, source: { kind: "request", field: f as RequestField }, type: "string" };
      }
      if (f === "query" || f === "headers") {
        const k = segs[2];
        if (segs.length !== 3 || !k || k.kind !== "key") return keyed(`request ${f}`, `request.${f}["name"]`);
        return f === "query"
          ? { ok: true, source: { kind: "query", key: k.key }, type: "string" }
          : { ok: true, source: { kind: "header", key: k.key.toLowerCase() }, type: "string" };
      }
      if (f === "body") {
        if (segs.length < 3) return keyed("request body", "request.body.field");
        return { ok: true, source: { kind: "body", path: jsonPath(segs.slice(2)) }, type: "dynamic" };
      }
      return {
        ok: false,
        builtinRoot: true,
        message: `unknown request attribute \`${ref.text}\``,
        help: "request attributes are method, path, host, scheme, protocol, query[\"k\"], headers[\"k\"] and body.<path>",
      };
    }
    case "source":
    case "destination": {
      if (!second || second.kind !== "name" || segs.length !== 2 || !(PEER_FIELDS as readonly string[]).includes(second.name)) {
        return {
          ok: false,
          builtinRoot: false, // `source.x` may be a user attribute name; the checker decides
          message: `unknown ${root.name} attribute \`${ref.text}\``,
          help: `${root.name} attributes are ${PEER_FIELDS.join(", ")}`,
        };
      }
      const field = second.name as PeerField;
      return { ok: true, source: { kind: "peer", peer: root.name, field }, type: field === "port" ? "number" : "string" };
    }
    case "context": {
      if (segs.length !== 2 || !second || second.kind !== "key") return keyed("context extension", 'context["name"]');
      return { ok: true, source: { kind: "context", key: second.key }, type: "string" };
    }
    case "metadata": {
      if (segs.length < 2 || !second || second.kind !== "key") return keyed("metadata", 'metadata["envoy.filters.http.jwt_authn"].claims.sub');
      return { ok: true, source: { kind: "metadata", namespace: second.key, path: jsonPath(segs.slice(2)) }, type: "dynamic" };
    }
    default:
      return { ok: false, builtinRoot: false };
  }
}

/** Canonical text of a source, e.g. `request.headers["x-id"]`; used as its identity. */
export function sourceText(s: AttributeSource): string {
  const path = (p: JsonPath): string => p.map((x) => (typeof x === "number" ? `[${x}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(x) ? `.${x}` : `[${JSON.stringify(x)}]`)).join("");
  switch (s.kind) {
    case "request":
      return `request.${s.field}`;
    case "query":
      return `request.query[${JSON.stringify(s.key)}]`;
    case "header":
      return `request.headers[${JSON.stringify(s.key)}]`;
    case "body":
      return `request.body${path(s.path)}`;
    case "peer":
      return `${s.peer}.${s.field}`;
    case "context":
      return `context[${JSON.stringify(s.key)}]`;
    case "metadata":
      return `metadata[${JSON.stringify(s.namespace)}]${path(s.path)}`;
  }
}
