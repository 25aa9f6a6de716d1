// The sidecar's own CheckRequest reader (src/executive/check-request-wire.ts)
// against protobufjs with Envoy's protos: for every captured sample and for
// random requests, the attributes the adapter extracts are identical; bad
// bytes become a MalformedCheckRequest, never an exception.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { mulberry32 } from "./fuzz/prng.js";
import { isAecpError } from "../src/common/index.js";
import { attributesFromGrpcCheckRequest, envoyAuthPackageDefinition } from "../src/executive/index.js";
import { decodeCheckRequest, MalformedCheckRequest, MAX_NESTING, memoContents } from "../src/executive/check-request-wire.js";
import { attributesFromGrpcFields } from "../src/executive/checkrequest.js";
import { grpcCheckRequest, type Json } from "./sidecar/convert.js";
import { deeplyNestedCheckRequest } from "./sidecar/wire.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const FIXTURES = join(ROOT, "test/fixtures/checkrequests");

const check = (envoyAuthPackageDefinition()["envoy.service.auth.v3.Authorization"] as unknown as Record<string, unknown>)["Check"] as {
  requestSerialize: (o: unknown) => Buffer;
  requestDeserialize: (b: Buffer) => unknown;
};

/** attributes, or the error (code and message), from one request as protobufjs decoded it. */
function extract(decoded: unknown): unknown {
  return attempt(() => attributesFromGrpcCheckRequest(decoded, { maxBodyBytes: 1 << 20 }));
}

/** The same from our reader's output, through the sidecar's adapter. */
function extractOurs(decoded: ReturnType<typeof decodeCheckRequest>): unknown {
  if (decoded instanceof MalformedCheckRequest) return { error: decoded.error.code, message: decoded.error.message };
  return attempt(() => attributesFromGrpcFields(decoded, { maxBodyBytes: 1 << 20 }));
}

function attempt(f: () => unknown): unknown {
  try {
    return f();
  } catch (e) {
    return isAecpError(e) ? { error: e.code, message: e.message } : { error: String(e) };
  }
}

function sameAttributes(bytes: Buffer): void {
  const ours = decodeCheckRequest(bytes);
  expect(ours).not.toBeInstanceOf(MalformedCheckRequest);
  expect(extractOurs(ours)).toEqual(extract(check.requestDeserialize(bytes)));
}

const rng = mulberry32; // seeded: a failure reproduces (FUZZ_SEED overrides)

const CHARS = Array.from("abcXYZ019-_./:;%?&=# é€😀");
function str(r: () => number, max = 12): string {
  let s = "";
  for (let i = Math.floor(r() * max); i > 0; i--) s += CHARS[Math.floor(r() * CHARS.length)];
  return s;
}
const maybe = <T>(r: () => number, f: () => T): T | undefined => (r() < 0.6 ? f() : undefined);
function map(r: () => number): Record<string, string> {
  const m: Record<string, string> = {};
  for (let i = Math.floor(r() * 4); i > 0; i--) m[r() < 0.5 ? `x-${str(r, 6).toLowerCase()}` : str(r, 6)] = str(r, 20);
  return m;
}
function value(r: () => number, depth: number): Record<string, unknown> {
  switch (Math.floor(r() * (depth > 3 ? 4 : 6))) {
    case 0:
      return { nullValue: "NULL_VALUE" };
    case 1:
      return { numberValue: r() < 0.5 ? Math.floor(r() * 1000) - 500 : r() };
    case 2:
      return { stringValue: str(r) };
    case 3:
      return { boolValue: r() < 0.5 };
    case 4:
      return { structValue: struct(r, depth + 1) };
    default:
      return { listValue: { values: Array.from({ length: Math.floor(r() * 3) }, () => value(r, depth + 1)) } };
  }
}
function struct(r: () => number, depth: number): { fields: Record<string, unknown> } {
  const fields: Record<string, unknown> = {};
  for (let i = Math.floor(r() * 3); i > 0; i--) fields[`f${str(r, 4)}`] = value(r, depth);
  return { fields };
}
function peer(r: () => number): Record<string, unknown> {
  return {
    address: maybe(r, () => ({ socket_address: { address: `10.0.${Math.floor(r() * 255)}.1`, port_value: Math.floor(r() * 65536), resolver_name: str(r) } })),
    service: maybe(r, () => str(r)),
    labels: maybe(r, () => map(r)),
    principal: maybe(r, () => `spiffe://cluster.local/ns/${str(r, 5)}/sa/${str(r, 5)}`),
    certificate: maybe(r, () => str(r, 40)), // not read: skipped on the wire
  };
}

/** A random CheckRequest in protobufjs object form, including fields the adapter does not read. */
function randomRequest(r: () => number): Record<string, unknown> {
  const json = JSON.stringify({ a: str(r), n: Math.floor(r() * 10) });
  const useMap = r() < 0.2;
  const bodyKind = r();
  const http: Record<string, unknown> = {
    id: maybe(r, () => String(Math.floor(r() * 1e9))),
    method: maybe(r, () => ["GET", "POST", "PUT", "DELETE", str(r, 5)][Math.floor(r() * 5)]!),
    path: maybe(r, () => ["/", "/api/v1/items/7?x=1&y=%41", "/a//b/./c/../d", `/${str(r, 30)}`][Math.floor(r() * 4)]!),
    host: maybe(r, () => str(r)),
    scheme: maybe(r, () => (r() < 0.5 ? "https" : "http")),
    query: maybe(r, () => str(r)), // not read
    fragment: maybe(r, () => str(r)), // not read
    size: maybe(r, () => String(Math.floor(r() * 1e12))), // int64, not read
    protocol: maybe(r, () => "HTTP/1.1"),
    ...(bodyKind < 0.3 ? { body: json } : bodyKind < 0.5 ? { raw_body: Buffer.from(json) } : {}),
  };
  if (useMap) http["header_map"] = { headers: Object.entries(map(r)).map(([key, v]) => (r() < 0.5 ? { key: key.toLowerCase(), value: v } : { key: key.toLowerCase(), raw_value: Buffer.from(v) })) };
  else if (r() < 0.8) http["headers"] = { ...map(r), ...(r() < 0.3 ? { "content-type": "application/json" } : {}) };
  return {
    attributes: {
      source: maybe(r, () => peer(r)),
      destination: maybe(r, () => peer(r)),
      request: { time: maybe(r, () => ({ seconds: "1700000000", nanos: 5 })), http },
      context_extensions: maybe(r, () => map(r)),
      metadata_context: maybe(r, () => ({ filter_metadata: { "envoy.filters.http.jwt_authn": struct(r, 0), [str(r, 5)]: struct(r, 0) } })),
      route_metadata_context: maybe(r, () => ({ filter_metadata: { x: struct(r, 0) } })), // not read
      tls_session: maybe(r, () => ({ sni: str(r) })), // not read
    },
  };
}

describe("decodeCheckRequest", () => {
  const names = readdirSync(FIXTURES).filter((f) => f.endsWith(".json"));

  it("extracts the same attributes as protobufjs for every captured sample", () => {
    expect(names.length).toBeGreaterThan(3);
    for (const name of names) {
      const sample = JSON.parse(readFileSync(join(FIXTURES, name), "utf8")) as Json;
      let obj: unknown;
      try {
        obj = grpcCheckRequest(sample);
      } catch {
        continue; // malformed samples are rejected before the wire (sidecar.test.ts)
      }
      sameAttributes(check.requestSerialize(obj));
    }
  });

  it("extracts the same attributes as protobufjs for 500 random requests (unread fields skipped)", () => {
    const r = rng(Number(process.env["FUZZ_SEED"] ?? 3058));
    for (let i = 0; i < 500; i++) sameAttributes(check.requestSerialize(randomRequest(r)));
  });

  it("never throws on bad bytes: truncations, bit flips and garbage are MalformedCheckRequest or decode", () => {
    const r = rng(7);
    const good = check.requestSerialize(randomRequest(r));
    for (let cut = 0; cut < good.length; cut++) {
      const out = decodeCheckRequest(good.subarray(0, cut));
      if (out instanceof MalformedCheckRequest) expect(out.error.code).toBe("AECP_REQUEST_MALFORMED");
    }
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.from(good);
      const at = Math.floor(r() * b.length);
      b[at] = b[at]! ^ (1 << Math.floor(r() * 8));
      const out = decodeCheckRequest(b);
      // the adapter copes with whatever decoded: attributes, or a coded error
      const res = extractOurs(out) as { error?: string };
      if (res.error !== undefined) expect(res.error).toMatch(/^AECP_REQUEST_/);
    }
    for (let i = 0; i < 500; i++) decodeCheckRequest(Buffer.from(Array.from({ length: Math.floor(r() * 200) }, () => Math.floor(r() * 256))));
  });

  it(`rejects metadata nested deeper than ${MAX_NESTING} levels with a reason (protobufjs gave grpc INTERNAL past 100)`, () => {
    const bytes = deeplyNestedCheckRequest("/", 120);
    expect(decodeCheckRequest(deeplyNestedCheckRequest("/", 20))).not.toBeInstanceOf(MalformedCheckRequest);
    const out = decodeCheckRequest(bytes);
    expect(out).toBeInstanceOf(MalformedCheckRequest);
    expect((out as MalformedCheckRequest).error.message).toContain(`deeper than ${MAX_NESTING}`);
  });

  it("header pairs: repeated names, case variants and integer-like names give protobufjs's headers exactly", () => {
    const entry = (k: string, v: string): Buffer => {
      const kb = Buffer.from(k);
      const vb = Buffer.from(v);
      const e = Buffer.concat([Buffer.from([0x0a, kb.length]), kb, Buffer.from([0x12, vb.length]), vb]);
      return Buffer.concat([Buffer.from([0x1a, e.length]), e]);
    };
    const cases: Array<Array<[string, string]>> = [
      [["a", "1"], ["b", "2"]], // fast path
      [["a", "1"], ["a", "2"]], // repeated name: the last wins
      [["a", "1"], ["A", "2"], ["a", "3"]], // case variants merge after last-wins
      [["x-y", "1"], ["123", "n"], ["X-Y", "2"], ["7", "m"]], // integer-like names enumerate first
      [["é", "1"], ["É", "2"]], // beyond ASCII
      [["content-type", "application/json"], [":path", "/p?q=1"], [":method", "POST"]],
    ];
    for (const pairs of cases) {
      const http = Buffer.concat([Buffer.from([0x12, 3]), Buffer.from("GET"), ...pairs.map(([k, v]) => entry(k, v))]);
      const req = Buffer.concat([Buffer.from([0x12, http.length]), http]);
      const attrs = Buffer.concat([Buffer.from([0x22, req.length]), req]);
      const bytes = Buffer.concat([Buffer.from([0x0a, attrs.length]), attrs]);
      sameAttributes(bytes);
    }
  });

  it("map-key cache: thousands of distinct, colliding, long and non-ASCII names decode as protobufjs does, again and again", () => {
    // The reader returns a cached string for header names (and other map
    // keys) it has seen before; replacing entries must never hand back the
    // wrong name. 3,000 distinct names overflow the 512-entry table many
    // times over; each request is decoded twice so the second decode reads
    // names the first one cached.
    const r = rng(7);
    const names: string[] = [];
    for (let i = 0; i < 3000; i++) names.push(`x-${i.toString(36)}-${Math.floor(r() * 1e6).toString(36)}`);
    names.push("a".repeat(64), "a".repeat(65), "b".repeat(64), "é-name", "ü", "x-é", ":path", ":method", "__proto__");
    for (let start = 0; start < names.length; start += 40) {
      const headers: Record<string, string> = {};
      for (const n of names.slice(start, start + 40)) if (n !== "__proto__") headers[n] = `v-${n.length}`;
      // and names every request shares, decoded from cache after the first
      Object.assign(headers, { ":authority": "svc", "content-type": "application/json", "x-request-id": String(start) });
      const bytes = check.requestSerialize({ attributes: { request: { http: { method: "GET", path: "/", headers } } } });
      sameAttributes(bytes);
      sameAttributes(bytes);
    }
  });

  it("map-key cache: a cached name is returned only for exactly its own bytes", () => {
    // same length, same first and last bytes, one byte apart; and prefixes
    const groups = [["x-aa", "x-ab", "x-ba", "x-bb"], ["k", "kk", "kkk"], ["AbC", "abc", "ABC"]];
    for (const g of groups) {
      for (let round = 0; round < 3; round++) {
        const headers = Object.fromEntries(g.map((n, i) => [n, String(i)]));
        const decoded = decodeCheckRequest(check.requestSerialize({ attributes: { request: { http: { method: "GET", path: "/", headers } } } }));
        expect(extractOurs(decoded)).toEqual(extract(check.requestDeserialize(check.requestSerialize({ attributes: { request: { http: { method: "GET", path: "/", headers } } } }))));
      }
    }
  });

  it("keeps map keys as data: a `__proto__` header does not reach a prototype", () => {
    const bytes = check.requestSerialize({ attributes: { request: { http: { method: "GET", path: "/", headers: { a: "1" } } } } });
    // append a headers map entry {"__proto__": "x"} by hand (protobufjs objects cannot hold that key)
    const entry = Buffer.concat([Buffer.from([0x0a, 9]), Buffer.from("__proto__"), Buffer.from([0x12, 1]), Buffer.from("x")]);
    const http = Buffer.concat([Buffer.from([0x1a, entry.length]), entry]);
    const req = Buffer.concat([Buffer.from([0x12, http.length]), http]);
    const attrs = Buffer.concat([Buffer.from([0x22, req.length]), req]);
    const decoded = decodeCheckRequest(Buffer.concat([bytes, Buffer.from([0x0a, attrs.length]), attrs]));
    if (decoded instanceof MalformedCheckRequest) throw decoded.error;
    const headers = attributesFromGrpcFields(decoded, { maxBodyBytes: 1 << 20 }).headers;
    expect(Object.getPrototypeOf(headers)).toBeNull();
    expect(Object.keys(headers)).toEqual(["__proto__"]); // the later attributes message replaced the first, as protobufjs does
    expect(headers["__proto__"]).toBe("x");
    expect(({} as Record<string, unknown>)["x"]).toBeUndefined();
  });

  it("bad and edge-case requests: the same attributes, or the same error code and message, as protobufjs", () => {
    const ser = (o: unknown): Buffer => check.requestSerialize(o);
    const http = (h: Record<string, unknown>): Buffer => ser({ attributes: { request: { http: { method: "GET", path: "/", ...h } } } });
    const cases: Record<string, Buffer> = {
      "no attributes": ser({}),
      "no request": ser({ attributes: { source: { principal: "spiffe://td/ns/a/sa/b" } } }),
      "request without http": ser({ attributes: { request: {} } }),
      "body and raw_body": http({ body: "{}", raw_body: Buffer.from("{}") }),
      "empty raw_body": http({ raw_body: Buffer.alloc(0), headers: { "content-type": "application/json" } }),
      "raw_body JSON": http({ raw_body: Buffer.from('{"a":1}'), headers: { "content-type": "application/json" } }),
      "raw_body not UTF-8": http({ raw_body: Buffer.from([0xff, 0xfe]), headers: { "content-type": "application/json" } }),
      "headers and header_map": http({ headers: { a: "1" }, header_map: { headers: [{ key: "b", value: "2" }] } }),
      "header_map entry without key": http({ header_map: { headers: [{ value: "2" }] } }),
      "header_map value and raw_value": http({ header_map: { headers: [{ key: "b", value: "2", raw_value: Buffer.from("3") }] } }),
      "header_map empty, headers used": http({ headers: { a: "1" }, header_map: { headers: [] } }),
      "path '*' with GET": http({ path: "*" }),
      "path '*' with OPTIONS": http({ method: "OPTIONS", path: "*" }),
      "path too long": http({ path: "/" + "a".repeat(20000) }),
      "path from :path": http({ path: undefined, method: undefined, headers: { ":path": "/x/../y?q=1", ":method": "post", ":authority": "H" } }),
      "port above 65535": ser({ attributes: { source: { address: { socket_address: { address: "10.0.0.1", port_value: 70000 } } }, request: { http: { path: "/" } } } }),
      "port 0 and empty address": ser({ attributes: { destination: { address: { socket_address: { address: "", port_value: 0 } } }, request: { http: { path: "/" } } } }),
      "pipe address": ser({ attributes: { source: { address: { pipe: { path: "/tmp/s" } } }, request: { http: { path: "/" } } } }),
      "empty labels and context": ser({ attributes: { source: { labels: {} }, context_extensions: {}, request: { http: { path: "/" } } } }),
      "metadata without entries": ser({ attributes: { metadata_context: { filter_metadata: {} }, request: { http: { path: "/" } } } }),
      "metadata, every Value kind": ser({
        attributes: {
          request: { http: { path: "/" } },
          metadata_context: {
            filter_metadata: {
              ns: { fields: { n: { nullValue: "NULL_VALUE" }, d: { numberValue: -1.5 }, s: { stringValue: "x" }, b: { boolValue: true }, st: { structValue: { fields: { "7": { stringValue: "i" } } } }, l: { listValue: { values: [{ numberValue: 1 }, {}] } }, unset: {} } },
              empty: {},
            },
          },
        },
      }),
      "too many headers": http({ headers: Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`h${i}`, "v"])) }),
      "header value too large": http({ headers: { big: "v".repeat(65537) } }),
    };
    for (const [name, bytes] of Object.entries(cases)) {
      const ours = extractOurs(decodeCheckRequest(bytes));
      expect({ name, result: ours }).toEqual({ name, result: extract(check.requestDeserialize(bytes)) });
    }
    // later messages replace earlier ones, as protobufjs decodes them
    const first = ser({ attributes: { source: { principal: "spiffe://a/ns/x/sa/y", address: { socket_address: { address: "10.0.0.1", port_value: 80 } } }, request: { http: { path: "/first", body: "{}" } }, metadata_context: { filter_metadata: { a: { fields: {} } } } } });
    const second = ser({ attributes: { source: { service: "svc" }, request: { http: { host: "h" } }, metadata_context: {} } });
    const merged = Buffer.concat([first, second]);
    expect(extractOurs(decodeCheckRequest(merged))).toEqual(extract(check.requestDeserialize(merged)));
  });

  it("positional memo: a string remembered at a position is returned only for exactly its own bytes", () => {
    // The reader remembers the last string decoded at each position (header
    // n's name and value, method, host, scheme, protocol, each peer's
    // principal, address and service) and hands it back when the same bytes
    // come again there. Consecutive requests that differ at a position by one
    // byte, by length, beyond ASCII or past the 64-byte row must still decode
    // as protobufjs decodes them.
    const variants = ["a", "b", "ab", "ba", "abc", "ab\u00e9", "ab\u00ea", "x".repeat(64), "x".repeat(63) + "y", "x".repeat(65), "", "a"];
    const req = (v: string, i: number): Buffer =>
      check.requestSerialize({
        attributes: {
          source: { principal: `spiffe://td/ns/${v || "n"}/sa/s`, service: v, address: { socket_address: { address: v, port_value: 1000 + i } } },
          destination: { principal: v, address: { socket_address: { address: `10.0.0.${i}` } } },
          request: {
            http: {
              method: v || "GET",
              host: v,
              scheme: v,
              protocol: v,
              path: "/",
              // the same names in the same order each time, with the varying value; then the varying name
              headers: { "x-same": v, [`x-${v.replace(/[^a-z]/g, "") || "k"}`]: v, "x-last": "1" },
            },
          },
          context_extensions: { [v || "k"]: v },
        },
      });
    for (let round = 0; round < 3; round++) {
      variants.forEach((v, i) => sameAttributes(req(v, i)));
      [...variants].reverse().forEach((v, i) => sameAttributes(req(v, i)));
    }
  });

  it("positional memo: credential header values are never remembered", () => {
    const secrets = { authorization: "Bearer short-secret-token", cookie: "session=abc123", "proxy-authorization": "Basic dXNlcjpwYXNz" };
    for (let i = 0; i < 3; i++) {
      const bytes = check.requestSerialize({ attributes: { request: { http: { method: "GET", path: "/", headers: { "x-a": "visible", ...secrets } } } } });
      sameAttributes(bytes);
      const attrs = extractOurs(decodeCheckRequest(bytes)) as { headers: Record<string, string> };
      expect(attrs.headers["authorization"]).toBe(secrets.authorization); // decoded as usual
    }
    const held = memoContents();
    expect(held).toContain("visible");
    for (const v of Object.values(secrets)) expect(held).not.toContain(v);
  });
});
