// Tests for src/executive/checkrequest.ts: the real CheckRequest samples in
// test/fixtures/checkrequests (copied verbatim from the team's shared captures; all must parse, with exact attribute values),
// camelCase/snake_case spellings, header_map, query, body rules, SPIFFE
// parsing, and the error codes for malformed and oversized input.

import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { RequestAttributes } from "../../src/bundle/attributes.js";
import { isAecpError, type ErrorCode } from "../../src/common/errors.js";
import { attributesFromCheckRequestJson, type CheckRequestOptions } from "../../src/executive/checkrequest.js";

const FIXTURES = fileURLToPath(new URL("../fixtures/checkrequests/", import.meta.url));

function fixture(name: string): unknown {
  return JSON.parse(readFileSync(join(FIXTURES, name), "utf8")) as unknown;
}

/** The adapter's result without `rawBody` (the received body by reference; asserted in its own tests). */
function parse(input: unknown, options?: CheckRequestOptions): RequestAttributes {
  const { rawBody: _raw, ...rest } = attributesFromCheckRequestJson(input, options);
  return rest;
}

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected an error");
}

function expectCode(input: unknown, code: ErrorCode, message?: RegExp, options?: CheckRequestOptions): void {
  const err = errorOf(() => parse(input, options));
  expect(isAecpError(err, code), String(err)).toBe(true);
  if (message) expect((err as Error).message).toMatch(message);
}

/** A minimal camelCase CheckRequest with overrides for request.http. */
function req(http: Record<string, unknown>, attrs: Record<string, unknown> = {}): unknown {
  return { attributes: { request: { http: { method: "GET", path: "/", ...http } }, ...attrs } };
}

// ---------------------------------------------------------------------------
// Shared fixtures
// ---------------------------------------------------------------------------

const expected: Record<string, RequestAttributes> = {
  "01-opa-envoy-plugin-internal_test-exampleAllowedRequest-body.json": {
    method: "GET",
    path: "/api/v1/products",
    rawPath: "/api/v1/products",
    query: {},
    host: "192.168.99.100:31380",
    // no scheme: the fixture only has the client-controllable x-forwarded-proto header
    protocol: "HTTP/1.1",
    requestId: "13359530607844510314",
    headers: {
      ":authority": "192.168.99.100:31380",
      ":method": "GET",
      ":path": "/api/v1/products",
      accept: "*/*",
      authorization: "Basic Ym9iOnBhc3N3b3Jk",
      "content-length": "0",
      "user-agent": "curl/7.54.0",
      "x-b3-sampled": "1",
      "x-b3-spanid": "537f473f27475073",
      "x-b3-traceid": "537f473f27475073",
      "x-envoy-internal": "true",
      "x-forwarded-for": "172.17.0.1",
      "x-forwarded-proto": "http",
      "x-request-id": "92a6c0f7-0250-944b-9cfc-ae10cbcedd8e",
    },
    // no content-type; the text starts with "{" -> parsed
    body: { firstname: "foo", lastname: "bar" },
    source: {},
    destination: {},
    context: {},
    metadata: {},
  },
  "02-opa-envoy-plugin-protomap_test-contextExtensions-metadataContext.json": {
    method: "GET",
    path: "/api/v1/products",
    rawPath: "/api/v1/products",
    query: {},
    host: "192.168.99.100:31380",
    protocol: "HTTP/1.1",
    requestId: "13359530607844510314",
    headers: {
      ":authority": "192.168.99.100:31380",
      ":method": "GET",
      ":path": "/api/v1/products",
      accept: "*/*",
    },
    body: { firstname: "foo", lastname: "bar" },
    source: { address: "127.0.0.1", service: "dummy", labels: { foo: "bar" } },
    destination: {},
    context: { hello: "world" },
    metadata: { dummy: { hello: "world", count: 1 } },
  },
  "03-opa-envoy-plugin-request_test-source-principal-grpc-raw_body.json": {
    method: "POST",
    path: "/com.book.BookService/GetBooksViaAuthor",
    rawPath: "/com.book.BookService/GetBooksViaAuthor",
    query: {},
    protocol: "HTTP/2",
    headers: { "content-type": "application/grpc" },
    // application/grpc raw_body -> not parsed
    // "service": "" is the proto3 default -> unset; non-k8s SPIFFE ID -> trustDomain only
    source: { principal: "spiffe://test-domain/path", trustDomain: "test-domain" },
    destination: {},
    context: {},
    metadata: {},
  },
  "07-salrashid123-opa_external_groups-opa-decision-log-jwt-metadata-grpc-rawbody.json": {
    method: "POST",
    path: "/echo.EchoServer/SayHelloUnary",
    rawPath: "/echo.EchoServer/SayHelloUnary",
    query: {},
    host: "envoy.domain.com",
    scheme: "https",
    protocol: "HTTP/2",
    requestId: "13150880515659298070",
    headers: {
      ":authority": "envoy.domain.com",
      ":method": "POST",
      ":path": "/echo.EchoServer/SayHelloUnary",
      ":scheme": "https",
      "content-type": "application/grpc",
      "grpc-timeout": "997788u",
      te: "trailers",
      "user-agent": "grpc-go/1.33.2",
      "x-envoy-auth-partial-body": "false",
      "x-forwarded-proto": "https",
      "x-request-id": "3a3ae89f-bc08-4216-a520-128c3cc0696d",
      xfoo: "bar",
    },
    // gRPC rawBody is not parsed; the event's parsed_body is ignored
    source: { address: "127.0.0.1", port: 36564 },
    destination: { principal: "envoy.domain.com", address: "127.0.0.1", port: 8080 },
    context: {},
    metadata: {
      "envoy.filters.http.jwt_authn": {
        verified_jwt: {
          aud: "bar.bar",
          exp: 1653086946,
          iat: 1652986946,
          iss: "foo.bar",
          role: "admin",
          sub: "alice@domain.com",
        },
      },
    },
  },
  "09-istio-graphql-opa-rego-test-input_c1_to_a1-mtls-body-xfcc.json": {
    method: "POST",
    path: "/",
    rawPath: "/",
    query: {},
    host: "api1.api-istio",
    scheme: "http",
    protocol: "HTTP/1.1",
    requestId: "3915651613227659083",
    headers: {
      ":authority": "api1.api-istio",
      ":method": "POST",
      ":path": "/",
      ":scheme": "http",
      accept: "*/*",
      "content-length": "101",
      "content-type": "application/json",
      "user-agent": "curl/7.64.0",
      "x-b3-sampled": "1",
      "x-b3-spanid": "10a485e1e27799a1",
      "x-b3-traceid": "b76cf826fc86c7a510a485e1e27799a1",
      "x-envoy-attempt-count": "3",
      "x-envoy-auth-partial-body": "false",
      "x-forwarded-client-cert":
        'By=spiffe://cluster.local/ns/api-istio/sa/api1;Hash=612a138cd4323a27208c3ed5ce7c4ab63775ac33dd6d13b772e5e8389717f21d;Subject="";URI=spiffe://cluster.local/ns/clientns/sa/client1',
      "x-forwarded-proto": "http",
      "x-request-id": "7b4c44f1-2c12-912f-a019-b3a167956ed8",
    },
    body: {
      query: "query{showCollection {items {title firstEpisodeDate lastEpisodeDate henshinMp4 { url }}}}",
    },
    source: {
      principal: "spiffe://cluster.local/ns/clientns/sa/client1",
      trustDomain: "cluster.local",
      namespace: "clientns",
      serviceAccount: "client1",
      address: "172.17.0.10",
      port: 35568,
    },
    destination: {
      principal: "spiffe://cluster.local/ns/api-istio/sa/api1",
      trustDomain: "cluster.local",
      namespace: "api-istio",
      serviceAccount: "api1",
      address: "172.17.0.12",
      port: 80,
    },
    context: {},
    metadata: {},
  },
};

describe("shared CheckRequest fixtures", () => {
  it("covers every fixture file", () => {
    const files = readdirSync(FIXTURES)
      .filter((f) => f.endsWith(".json"))
      .sort();
    expect(files).toEqual(Object.keys(expected).sort());
  });

  for (const [name, want] of Object.entries(expected)) {
    it(`parses ${name}`, () => {
      const got = parse(fixture(name));
      expect(got).toEqual(want);
      // exact key set (toEqual ignores undefined-valued keys)
      expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
      expect(Object.keys(got.source).sort()).toEqual(Object.keys(want.source).sort());
      expect(Object.keys(got.destination).sort()).toEqual(Object.keys(want.destination).sort());
    });
  }

  it("fixture 09: the body is parsed here, not taken from parsed_body", () => {
    const input = fixture("09-istio-graphql-opa-rego-test-input_c1_to_a1-mtls-body-xfcc.json") as {
      parsed_body: unknown;
    };
    input.parsed_body = { query: "forged" };
    expect(parse(input).body).toEqual({
      query: "query{showCollection {items {title firstEpisodeDate lastEpisodeDate henshinMp4 { url }}}}",
    });
  });

  it("fixture 09: XFCC never supplies the source identity", () => {
    const input = fixture("09-istio-graphql-opa-rego-test-input_c1_to_a1-mtls-body-xfcc.json") as {
      attributes: { source: Record<string, unknown> };
    };
    delete input.attributes.source["principal"];
    const got = parse(input);
    expect(got.source).toEqual({ address: "172.17.0.10", port: 35568 });
    expect(got.headers["x-forwarded-client-cert"]).toContain("URI=spiffe://cluster.local/ns/clientns/sa/client1");
  });

  it("fixture 07: the decision-log result/labels are ignored", () => {
    const got = parse(fixture("07-salrashid123-opa_external_groups-opa-decision-log-jwt-metadata-grpc-rawbody.json"));
    expect(got.body).toBeUndefined();
    expect(got.headers["x-ext-auth-allow"]).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------
// Spellings and shapes
// ---------------------------------------------------------------------------

describe("shapes and spellings", () => {
  const snake = {
    attributes: {
      source: {
        principal: "spiffe://example.org/ns/default/sa/web",
        address: { socket_address: { address: "10.0.0.1", port_value: "4242" } },
      },
      destination: { address: { socket_address: { address: "10.0.0.2", port_value: 8443 } } },
      context_extensions: { route: "r1" },
      metadata_context: { filter_metadata: { "envoy.filters.http.jwt_authn": { payload: { sub: "a" } } } },
      request: {
        http: {
          method: "post",
          path: "/v1/items?b=2&a=1",
          headers: { "content-type": "application/json" },
          raw_body: Buffer.from('{"x":1}').toString("base64"),
        },
      },
    },
  };

  it("accepts snake_case field names everywhere", () => {
    const got = parse(snake);
    expect(got).toEqual({
      method: "POST",
      path: "/v1/items",
      rawPath: "/v1/items?b=2&a=1",
      query: { a: "1", b: "2" },
      headers: { "content-type": "application/json" },
      body: { x: 1 },
      source: {
        principal: "spiffe://example.org/ns/default/sa/web",
        trustDomain: "example.org",
        namespace: "default",
        serviceAccount: "web",
        address: "10.0.0.1",
        port: 4242,
      },
      destination: { address: "10.0.0.2", port: 8443 },
      context: { route: "r1" },
      metadata: { "envoy.filters.http.jwt_authn": { payload: { sub: "a" } } },
    });
  });

  it("accepts an OPA decision-log event (input.attributes)", () => {
    const got = parse({ decision_id: "d", input: { attributes: snake.attributes, parsed_body: { x: 2 } } });
    expect(got.body).toEqual({ x: 1 });
    expect(got.path).toBe("/v1/items");
  });

  it("prefers attributes over input.attributes", () => {
    const got = parse({ attributes: { request: { http: { path: "/a" } } }, input: { attributes: {} } });
    expect(got.path).toBe("/a");
  });

  it("rejects both spellings of one field", () => {
    expectCode(
      req({}, { contextExtensions: { a: "1" }, context_extensions: { a: "2" } }),
      "AECP_REQUEST_MALFORMED",
      /attributes has both contextExtensions and context_extensions/,
    );
  });

  it("treats null and proto3 defaults as absent", () => {
    const got = parse({
      attributes: {
        source: { principal: "", service: "", address: { socketAddress: { address: "", portValue: 0 } } },
        destination: null,
        contextExtensions: null,
        request: { http: { method: "", path: "", host: "", headers: { ":method": "put", ":path": "/h" } } },
      },
    });
    expect(got.method).toBe("PUT");
    expect(got.path).toBe("/h");
    expect(got.host).toBeUndefined();
    expect(got.source).toEqual({});
    expect(got.destination).toEqual({});
    expect(got.context).toEqual({});
  });

  it("accepts a CheckRequest with almost nothing in it", () => {
    const got = parse({ attributes: { request: { http: {} } } });
    expect(got).toEqual({ query: {}, headers: {}, source: {}, destination: {}, context: {}, metadata: {} });
  });
});

// ---------------------------------------------------------------------------
// Request fields
// ---------------------------------------------------------------------------

describe("request fields", () => {
  it("falls back to pseudo-headers and normalizes case", () => {
    const got = parse({
      attributes: {
        request: {
          http: {
            headers: {
              ":method": "delete",
              ":authority": "API.Example.COM:8443",
              ":scheme": "HTTPS",
              ":path": "//Admin/./x",
              "X-Custom": "A",
            },
          },
        },
      },
    });
    expect(got.method).toBe("DELETE");
    expect(got.host).toBe("api.example.com:8443");
    expect(got.scheme).toBe("https");
    expect(got.path).toBe("/Admin/x");
    expect(got.rawPath).toBe("//Admin/./x");
    expect(got.headers["x-custom"]).toBe("A");
    expect(got.headers["X-Custom"]).toBeUndefined();
  });

  it("prefers request.http fields over headers", () => {
    const got = parse(
      req({ method: "get", host: "A.example", scheme: "http", path: "/real", headers: { ":path": "/other", host: "b" } }),
    );
    expect(got).toMatchObject({ method: "GET", host: "a.example", scheme: "http", path: "/real" });
  });

  it("uses the host header, and never takes the scheme from x-forwarded-proto (client-controllable)", () => {
    const got = parse(req({ headers: { host: "H.example", "x-forwarded-proto": "https" } }));
    expect(got.host).toBe("h.example");
    expect(got.scheme).toBeUndefined();
  });

  it("joins header names that differ only in case", () => {
    const got = parse(req({ headers: { Accept: "a", accept: "b" } }));
    expect(got.headers["accept"]).toBe("a,b");
  });

  it("reads header_map (Envoy >= 1.27), including raw_value and repeats", () => {
    const got = parse(
      req({
        header_map: {
          headers: [
            { key: ":authority", value: "svc.local" },
            { key: "X-Multi", value: "1" },
            { key: "x-multi", raw_value: Buffer.from("2").toString("base64") },
            { key: "x-empty" },
          ],
        },
      }),
    );
    expect(got.headers).toEqual({ ":authority": "svc.local", "x-multi": "1,2", "x-empty": "" });
    expect(got.host).toBe("svc.local");
    const camel = parse(req({ headerMap: { headers: [{ key: "a", rawValue: Buffer.from("é").toString("base64") }] } }));
    expect(camel.headers).toEqual({ a: "é" });
  });

  it("uses headers when header_map is empty", () => {
    expect(parse(req({ headers: { a: "1" }, headerMap: { headers: [] } })).headers).toEqual({ a: "1" });
  });

  it("header names are plain keys (null-prototype maps)", () => {
    const got = parse(JSON.parse('{"attributes":{"request":{"http":{"headers":{"__proto__":"x","constructor":"y"}}}}}'));
    expect(got.headers["__proto__"]).toBe("x");
    expect(got.headers["constructor"]).toBe("y");
    expect(got.headers["toString"]).toBeUndefined();
    expect(got.query["hasOwnProperty"]).toBeUndefined();
    expect(got.context["valueOf"]).toBeUndefined();
  });

  it("parses the query: decoding, '+', repeated keys joined with ','", () => {
    const got = parse(req({ path: "/s?q=a%20b+c&tag=x&tag=y&empty=&flag&%6Bey=%E2%9C%93#frag?x=1" }));
    expect(got.path).toBe("/s");
    expect(got.query).toEqual({ q: "a b c", tag: "x,y", empty: "", flag: "", key: "✓" });
    expect(got.rawPath).toBe("/s?q=a%20b+c&tag=x&tag=y&empty=&flag&%6Bey=%E2%9C%93#frag?x=1");
  });

  it("splits off a fragment without a query", () => {
    const got = parse(req({ path: "/a/b#x" }));
    expect(got.path).toBe("/a/b");
    expect(got.query).toEqual({});
  });

  it("normalizes the path but keeps rawPath", () => {
    const got = parse(req({ path: "/x/%2e%2e/%61dmin?a=1" }));
    expect(got.path).toBe("/admin");
    expect(got.rawPath).toBe("/x/%2e%2e/%61dmin?a=1");
  });

  it("accepts '*' only for OPTIONS", () => {
    expect(parse(req({ method: "OPTIONS", path: "*" })).path).toBe("*");
    expectCode(req({ method: "GET", path: "*" }), "AECP_REQUEST_PATH_INVALID");
  });

  it("rejects unsafe paths with AECP_REQUEST_PATH_INVALID", () => {
    for (const p of ["/a%2Fb", "/a\\b", "/../etc", "/a%00", "/a%zz", "relative", "?a=1"]) {
      expectCode(req({ path: p }), "AECP_REQUEST_PATH_INVALID");
    }
  });
});

// ---------------------------------------------------------------------------
// Body
// ---------------------------------------------------------------------------

describe("body", () => {
  const json = '{"a":[1,2]}';
  const b64 = (s: string): string => Buffer.from(s).toString("base64");

  it("parses application/json and application/*+json", () => {
    expect(parse(req({ body: json, headers: { "content-type": "application/json; charset=utf-8" } })).body).toEqual({
      a: [1, 2],
    });
    expect(parse(req({ body: json, headers: { "content-type": "Application/Problem+JSON" } })).body).toEqual({
      a: [1, 2],
    });
  });

  it("sniffs JSON only without a content-type", () => {
    expect(parse(req({ body: " \n[1]" })).body).toEqual([1]);
    expect(parse(req({ body: '"str"' })).body).toBeUndefined();
    expect(parse(req({ body: "123" })).body).toBeUndefined();
    expect(parse(req({ body: json, headers: { "content-type": "text/plain" } })).body).toBeUndefined();
    expect(parse(req({ body: json, headers: { "content-type": "application/x-www-form-urlencoded" } })).body).toBeUndefined();
  });

  it("does not parse gRPC bodies", () => {
    expect(parse(req({ rawBody: b64(json), headers: { "content-type": "application/grpc" } })).body).toBeUndefined();
    expect(parse(req({ rawBody: b64(json), headers: { "content-type": "application/grpc+json" } })).body).toBeUndefined();
  });

  it("invalid JSON is not an error", () => {
    expect(parse(req({ body: "{nope", headers: { "content-type": "application/json" } })).body).toBeUndefined();
    expect(parse(req({ raw_body: b64("{") })).body).toBeUndefined();
    // not UTF-8
    expect(parse(req({ raw_body: Buffer.from([0x7b, 0xff, 0x7d]).toString("base64") })).body).toBeUndefined();
  });

  it("decodes raw_body (standard and URL-safe base64)", () => {
    expect(parse(req({ raw_body: b64('{"k":"v?>"}') })).body).toEqual({ k: "v?>" });
    expect(parse(req({ rawBody: Buffer.from('{"k":"v?>"}').toString("base64url") })).body).toEqual({ k: "v?>" });
  });

  it("respects maxBodyBytes in UTF-8 bytes and decoded bytes", () => {
    const s = '{"k":"éé"}'; // 12 UTF-8 bytes, 10 UTF-16 units
    expect(Buffer.byteLength(s)).toBe(12);
    expect(parse(req({ body: s }), { maxBodyBytes: 12 }).body).toEqual({ k: "éé" });
    expect(parse(req({ body: s }), { maxBodyBytes: 11 }).body).toBeUndefined();
    expect(parse(req({ raw_body: b64(s) }), { maxBodyBytes: 12 }).body).toEqual({ k: "éé" });
    expect(parse(req({ raw_body: b64(s) }), { maxBodyBytes: 11 }).body).toBeUndefined();
    expect(parse(req({ body: "{}" }), { maxBodyBytes: 0 }).body).toBeUndefined();
  });

  it("defaults maxBodyBytes to 1 MiB", () => {
    const big = '{"x":"' + "a".repeat(1024 * 1024) + '"}';
    expect(parse(req({ body: big })).body).toBeUndefined();
    const fits = '{"x":"' + "a".repeat(1024 * 1024 - 8) + '"}';
    expect(parse(req({ body: fits })).body).toEqual({ x: "a".repeat(1024 * 1024 - 8) });
  });

  it("does not parse a partial (truncated) body", () => {
    expect(parse(req({ body: json, headers: { "x-envoy-auth-partial-body": "true" } })).body).toBeUndefined();
    expect(parse(req({ body: json, headers: { "x-envoy-auth-partial-body": "false" } })).body).toEqual({ a: [1, 2] });
  });

  it("rejects malformed body fields", () => {
    expectCode(req({ body: 1 }), "AECP_REQUEST_MALFORMED", /attributes\.request\.http\.body must be a string/);
    expectCode(req({ raw_body: "***" }), "AECP_REQUEST_MALFORMED", /attributes\.request\.http\.raw_body must be base64/);
    expectCode(req({ body: "{}", rawBody: b64("{}") }), "AECP_REQUEST_MALFORMED", /both body and rawBody/);
  });
});

// ---------------------------------------------------------------------------
// Peers
// ---------------------------------------------------------------------------

describe("peers", () => {
  const principal = (p: string): RequestAttributes["source"] => parse(req({}, { source: { principal: p } })).source;

  it("parses SPIFFE IDs", () => {
    expect(principal("spiffe://cluster.local/ns/prod/sa/api")).toEqual({
      principal: "spiffe://cluster.local/ns/prod/sa/api",
      trustDomain: "cluster.local",
      namespace: "prod",
      serviceAccount: "api",
    });
    expect(principal("spiffe://example.org")).toEqual({ principal: "spiffe://example.org", trustDomain: "example.org" });
    expect(principal("spiffe://example.org/ns/prod/sa/api/extra")).toEqual({
      principal: "spiffe://example.org/ns/prod/sa/api/extra",
      trustDomain: "example.org",
    });
    expect(principal("spiffe://example.org/workload-1")).toEqual({
      principal: "spiffe://example.org/workload-1",
      trustDomain: "example.org",
    });
  });

  it("sets nothing for non-SPIFFE or invalid SPIFFE principals", () => {
    for (const p of [
      "CN=client,O=Example",
      "envoy.domain.com",
      "SPIFFE://example.org/ns/a/sa/b",
      "spiffe://",
      "spiffe://Example.org/ns/a/sa/b",
      "spiffe://example.org/ns//sa/b",
      "spiffe://example.org/ns/a/sa/b?x=1",
      "spiffe://example.org/ns/../sa/b",
    ]) {
      expect(principal(p)).toEqual({ principal: p });
    }
  });

  it("accepts numeric-string ports and rejects bad ones", () => {
    const port = (v: unknown): unknown =>
      parse(req({}, { source: { address: { socketAddress: { address: "::1", portValue: v } } } })).source.port;
    expect(port("443")).toBe(443);
    expect(port(65535)).toBe(65535);
    for (const bad of ["x", "-1", "70000", 1.5, 65536, true, "", "1e3"]) {
      expectCode(
        req({}, { source: { address: { socketAddress: { portValue: bad } } } }),
        "AECP_REQUEST_MALFORMED",
        /attributes\.source\.address\.socketAddress\.portValue must be a port number/,
      );
    }
  });

  it("ignores non-socket addresses", () => {
    expect(parse(req({}, { source: { address: { pipe: { path: "/tmp/s" } } } })).source).toEqual({});
  });
});

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

describe("malformed input", () => {
  const cases: ReadonlyArray<readonly [string, unknown, RegExp]> = [
    ["null", null, /must be a JSON object/],
    ["a string", "{}", /must be a JSON object/],
    ["an array", [], /must be a JSON object/],
    ["no attributes", { foo: 1 }, /no attributes/],
    ["attributes not an object", { attributes: [] }, /^attributes must be an object/],
    ["input.attributes not an object", { input: { attributes: 3 } }, /^input\.attributes must be an object/],
    ["no request", { attributes: {} }, /attributes\.request\.http must be an object/],
    ["request not an object", { attributes: { request: "x" } }, /attributes\.request must be an object/],
    ["http not an object", { attributes: { request: { http: "GET /" } } }, /attributes\.request\.http must be an object/],
    ["http in decision log", { input: { attributes: { request: {} } } }, /input\.attributes\.request\.http must be/],
    ["headers an array", req({ headers: [] }), /attributes\.request\.http\.headers must be an object of strings/],
    ["header value a number", req({ headers: { a: 1 } }), /attributes\.request\.http\.headers must be an object of strings/],
    ["header value an array", req({ headers: { a: ["1"] } }), /headers must be an object of strings/],
    ["method a number", req({ method: 1 }), /attributes\.request\.http\.method must be a string/],
    ["path an object", req({ path: {} }), /attributes\.request\.http\.path must be a string/],
    ["host a bool", req({ host: true }), /attributes\.request\.http\.host must be a string/],
    ["id a number", req({ id: 7 }), /attributes\.request\.http\.id must be a string/],
    ["header_map.headers not an array", req({ header_map: { headers: {} } }), /header_map\.headers must be an array/],
    ["header_map entry key", req({ headerMap: { headers: [{ value: "x" }] } }), /headerMap\.headers\[0\]\.key must be a string/],
    ["header_map raw_value", req({ headerMap: { headers: [{ key: "a", rawValue: "!" }] } }), /rawValue must be base64/],
    [
      "header_map and headers",
      req({ headers: { a: "1" }, header_map: { headers: [{ key: "a", value: "2" }] } }),
      /has both headers and header_map/,
    ],
    ["context not strings", req({}, { contextExtensions: { a: 1 } }), /attributes\.contextExtensions must be an object of strings/],
    ["context snake", req({}, { context_extensions: "x" }), /attributes\.context_extensions must be an object of strings/],
    ["metadata not object", req({}, { metadataContext: [] }), /attributes\.metadataContext must be an object/],
    [
      "filter metadata value",
      req({}, { metadata_context: { filter_metadata: { ns: 1 } } }),
      /attributes\.metadata_context\.filter_metadata\["ns"\] must be an object/,
    ],
    ["source not object", req({}, { source: "me" }), /attributes\.source must be an object/],
    ["principal a number", req({}, { destination: { principal: 1 } }), /attributes\.destination\.principal must be a string/],
    ["labels not strings", req({}, { source: { labels: { a: null } } }), /attributes\.source\.labels must be an object of strings/],
    ["address not object", req({}, { source: { address: "1.2.3.4" } }), /attributes\.source\.address must be an object/],
    [
      "socket address ip",
      req({}, { source: { address: { socket_address: { address: 1 } } } }),
      /attributes\.source\.address\.socket_address\.address must be a string/,
    ],
  ];
  for (const [label, input, message] of cases) {
    it(`rejects ${label} with AECP_REQUEST_MALFORMED`, () => {
      expectCode(input, "AECP_REQUEST_MALFORMED", message);
    });
  }
});

describe("limits", () => {
  it("rejects more than 1000 headers", () => {
    const headers: Record<string, string> = {};
    for (let i = 0; i < 1000; i++) headers[`h${i}`] = "v";
    expect(Object.keys(parse(req({ headers })).headers)).toHaveLength(1000);
    headers["h1000"] = "v";
    expectCode(req({ headers }), "AECP_REQUEST_TOO_LARGE", /header limit/);
    const list = Object.entries(headers).map(([key, value]) => ({ key, value }));
    expectCode(req({ header_map: { headers: list } }), "AECP_REQUEST_TOO_LARGE", /header limit/);
  });

  it("rejects a header value over 64 KiB (UTF-8 bytes)", () => {
    expect(parse(req({ headers: { a: "x".repeat(65536) } })).headers["a"]).toHaveLength(65536);
    expectCode(req({ headers: { a: "x".repeat(65537) } }), "AECP_REQUEST_TOO_LARGE", /header value limit/);
    expectCode(req({ headers: { a: "é".repeat(32769) } }), "AECP_REQUEST_TOO_LARGE", /header value limit/);
    const raw = Buffer.alloc(65537, 0x61).toString("base64");
    expectCode(req({ header_map: { headers: [{ key: "a", raw_value: raw }] } }), "AECP_REQUEST_TOO_LARGE", /header value/);
  });

  it("rejects a path over 16 KiB", () => {
    const ok = "/" + "a".repeat(16383);
    expect(parse(req({ path: ok })).path).toBe(ok);
    expectCode(req({ path: ok + "a" }), "AECP_REQUEST_TOO_LARGE", /path limit/);
    expectCode(req({ path: "/?" + "q".repeat(16384) }), "AECP_REQUEST_TOO_LARGE", /path limit/);
  });

  it("rejects an invalid maxBodyBytes option", () => {
    const err = errorOf(() => parse(req({}), { maxBodyBytes: -1 }));
    expect(isAecpError(err, "AECP_USAGE")).toBe(true);
  });
});

describe("bare AttributeContext", () => {
  it("accepts the attributes object without the CheckRequest wrapper, with the same result", () => {
    const wrapped = fixture("09-istio-graphql-opa-rego-test-input_c1_to_a1-mtls-body-xfcc.json") as { attributes: unknown };
    expect(parse(wrapped.attributes)).toEqual(parse(wrapped));
  });

  it("still rejects an object that is neither shape", () => {
    expect(() => parse({ request: { grpc: {} } })).toThrow(/no attributes/);
  });
});

describe("rawBody (the body as received, for approval fingerprints)", () => {
  it("keeps text bodies by reference and decodes base64 raw_body to bytes, without parsing", () => {
    const text = attributesFromCheckRequestJson({ attributes: { request: { http: { method: "POST", path: "/", headers: {}, body: "not json" } } } });
    expect(text.rawBody).toBe("not json");
    expect(text.body).toBeUndefined();
    const raw = attributesFromCheckRequestJson({ attributes: { request: { http: { method: "POST", path: "/", headers: {}, raw_body: Buffer.from("{\"a\":1}").toString("base64") } } } });
    expect(Buffer.from(raw.rawBody as Uint8Array).toString()).toBe('{"a":1}');
    const bytes = new Uint8Array([1, 2, 3]);
    expect(attributesFromCheckRequestJson({ attributes: { request: { http: { method: "POST", path: "/", headers: {}, raw_body: bytes } } } }).rawBody).toBe(bytes);
    expect(attributesFromCheckRequestJson({ attributes: { request: { http: { method: "GET", path: "/", headers: {} } } } }).rawBody).toBeUndefined();
  });
});
