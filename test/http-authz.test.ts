// The HTTP ext_authz mode of the sidecar (src/executive/http-authz.ts) against
// a real Sidecar on ephemeral ports: Envoy `http_service` requests
// (`/authz/<original path>`) and forward-auth requests (`/authz` with
// X-Original-* / X-Forwarded-* headers, as nginx auth_request, Traefik and Caddy
// send them), sent with undici (request targets verbatim) or raw sockets.
// Covered: allow / deny / pause / DEFAULT: DENY, the request rules carried
// through (path normalization, `;`, query, JSON body, headers, host, method),
// prefix edge cases, fail-closed errors, hostile input and the admin endpoints.

import { createServer } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuthzDecider, CheckOutcome, Sidecar } from "../src/executive/index.js";
import { authzMode, checkRequestFromHttp, outcomeForError, serveAuthz } from "../src/executive/index.js";
import {
  authzFixture,
  closeClients,
  deniedBody,
  fakeApprovals,
  httpAddress,
  rawRequest,
  send,
  UUID,
  type AuthzFixture,
  type FakeApprovals,
  type HttpAnswer,
  type SendOptions,
} from "./nginx/harness.js";

let fx: AuthzFixture;
let approvals: FakeApprovals;
let main: Sidecar;
let open: Sidecar;
let base: string;
let addr: string;
let openBase: string;
let deferBase: string;

beforeAll(async () => {
  fx = await authzFixture();
  approvals = await fakeApprovals();
  main = await fx.start();
  open = await fx.start({ failOpen: true, maxBodyBytes: 64 });
  addr = httpAddress(main);
  base = `http://${addr}`;
  openBase = `http://${httpAddress(open)}`;
  deferBase = `http://${httpAddress(await fx.start({ approvals: approvals.url }))}`;
}, 60_000);

afterAll(async () => {
  await closeClients();
  await fx?.close();
  await approvals?.close();
}, 30_000);

/** An allow: 200, empty body, a fresh decision id; the x-aecp-* headers not set are listed for Envoy to remove. */
function expectAllowed(a: HttpAnswer, advisory?: string): string {
  expect(a.status, a.body).toBe(200);
  expect(a.body).toBe("");
  expect(a.headers["cache-control"]).toBe("no-store");
  expect(a.headers["x-aecp-decision-id"]).toMatch(UUID);
  expect(a.headers["x-aecp-advisory"]).toBe(advisory);
  expect(a.headers["x-aecp-reason"]).toBeUndefined();
  const removed = (a.headers["x-envoy-auth-headers-to-remove"] ?? "").split(",");
  expect(removed).toContain("x-aecp-fail-open");
  expect(removed.includes("x-aecp-advisory")).toBe(advisory === undefined);
  expect(removed).not.toContain("x-aecp-decision-id");
  return a.headers["x-aecp-decision-id"]!;
}

function expectDenied(a: HttpAnswer, reason: string, blocking?: string[]): Record<string, unknown> {
  expect(a.status, a.body).toBe(403);
  const body = deniedBody(a);
  expect(body["effect"]).toBe("deny");
  expect(body["reason"]).toBe(reason);
  if (blocking) expect((body["violations"] as Array<{ policy: string }>).map((v) => v.policy)).toEqual(blocking);
  return body;
}

function expectFailClosed(a: HttpAnswer, status: number, reason: string): void {
  expect(a.status, a.body).toBe(status);
  const body = deniedBody(a);
  expect(body).toEqual({ effect: "deny", decision_id: a.headers["x-aecp-decision-id"], reason });
}

const json = { "content-type": "application/json" };

// ---------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------

describe("routing under /authz", () => {
  it("authzMode: exactly /authz (query ignored) is forward auth, /authz/... is Envoy, nothing else is authz", () => {
    expect(authzMode("/authz")).toBe("forward");
    expect(authzMode("/authz?x=1")).toBe("forward");
    expect(authzMode("/authz/")).toBe("envoy");
    expect(authzMode("/authz/api?x=1")).toBe("envoy");
    expect(authzMode("/authz//x")).toBe("envoy");
    for (const u of ["/authzfoo", "/authz.json", "/Authz/x", "/healthz", "/", "", "http://h/authz/x", "*"]) expect(authzMode(u), u).toBeUndefined();
  });

  it("/authzfoo is 404 (not under the prefix); /authz/ is the path /", async () => {
    const nf = await send(base, "/authzfoo");
    expect(nf.status).toBe(404);
    expect(nf.headers["content-type"]).toBe("text/plain");
    expectAllowed(await send(base, "/authz/"));
    expectAllowed(await send(base, "/authz/?x=1"));
    // root_get: only GET on "/"
    expectDenied(await send(base, "/authz/", { method: "POST" }), "AECP_POLICY_VIOLATION", ["root_get"]);
  });

  it("the admin endpoints still work, and count HTTP-mode decisions and errors", async () => {
    const before = main.status();
    expectAllowed(await send(base, "/authz/public/count"));
    expectDenied(await send(base, "/authz/admin"), "AECP_POLICY_VIOLATION");
    expectFailClosed(await send(base, "/authz"), 400, "AECP_REQUEST_MALFORMED");

    expect((await send(base, "/healthz")).body).toBe("ok\n");
    expect((await send(base, "/readyz")).status).toBe(200);
    expect((await send(base, "/nope")).status).toBe(404);
    expect((await send(base, "/healthz", { method: "POST", body: "x" })).status).toBe(405);
    const status = JSON.parse((await send(base, "/status?x=1")).body) as ReturnType<Sidecar["status"]>;
    expect(status.ready).toBe(true);
    expect(status.listening.http).toBe(addr);
    expect(status.decisions["allow"]).toBe(before.decisions["allow"]! + 1);
    expect(status.decisions["deny"]).toBe(before.decisions["deny"]! + 1);
    expect(status.errors["AECP_REQUEST_MALFORMED"]).toBe((before.errors["AECP_REQUEST_MALFORMED"] ?? 0) + 1);
    const metrics = await send(base, "/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain(`aecp_decisions_total{effect="allow"} ${status.decisions["allow"]}`);
  });
});

// ---------------------------------------------------------------------------
// Envoy http_service
// ---------------------------------------------------------------------------

describe("Envoy http_service: /authz/<original path>", () => {
  it("allow: 200 with x-aecp-decision-id (fresh per request), no body", async () => {
    const a = expectAllowed(await send(base, "/authz/public/index.html", { headers: { host: "shop.example" } }));
    const b = expectAllowed(await send(base, "/authz/public/index.html"));
    expect(a).not.toBe(b);
  });

  it("deny: 403 with the JSON body naming the violated policies and the same decision id", async () => {
    const r = await send(base, "/authz/admin/users", { headers: { "x-role": "guest" } });
    const body = expectDenied(r, "AECP_POLICY_VIOLATION", ["admin_role"]);
    expect(body["decision_id"]).toBe(r.headers["x-aecp-decision-id"]);
    expect((body["violations"] as Array<Record<string, unknown>>)[0]).toMatchObject({ policy: "admin_role", enforcement: "BLOCKING" });
    expectAllowed(await send(base, "/authz/admin/users", { headers: { "x-role": "admin" } }));
    // header names are case-insensitive
    expectAllowed(await send(base, "/authz/admin", { headers: { "X-Role": "admin" } }));
  });

  it("DEFAULT: DENY: a request no policy scopes is denied with AECP_DEFAULT_DENY", async () => {
    expectDenied(await send(base, "/authz/nothing/here"), "AECP_DEFAULT_DENY", []);
  });

  it("pause: 503 with reason AECP_APPROVALS_UNAVAILABLE and retry-after (no approvals service configured)", async () => {
    const r = await send(base, "/authz/orders", { method: "POST", headers: json, body: JSON.stringify({ amount: 5000 }) });
    expect(r.status, r.body).toBe(503);
    const body = deniedBody(r);
    expect(body["effect"]).toBe("pause");
    expect(body["reason"]).toBe("AECP_APPROVALS_UNAVAILABLE");
    expect((body["requires_approval"] as Array<{ policy: string }>).map((v) => v.policy)).toEqual(["big_orders_approval"]);
    expect(r.headers["retry-after"]).toBeDefined();
  });

  it("pause with an approvals service (defer): 428 + execution id; the approved retry is allowed once", async () => {
    const order = { method: "POST", headers: { ...json, "x-request-id": "r-1" }, body: JSON.stringify({ amount: 5000 }) };
    const first = await send(deferBase, "/authz/orders", order);
    expect(first.status, first.body).toBe(428);
    const body = deniedBody(first);
    expect(body).toMatchObject({ effect: "pause", state: "pending" });
    expect(first.headers["x-aecp-reason"]).toBe("AECP_APPROVAL_PENDING");
    const id = first.headers["x-aecp-execution-id"]!;
    expect(body["execution_id"]).toBe(id);
    expect(first.headers["location"]).toBe(`https://approvals.example/executions/${id}`);
    expect(first.headers["retry-after"]).toBeDefined();
    const retry = { ...order, headers: { ...order.headers, "x-request-id": "r-2", "x-aecp-execution-id": id } };
    expect((await send(deferBase, "/authz/orders", retry)).status).toBe(428); // not approved yet
    approvals.approve(id);
    const ok = await send(deferBase, "/authz/orders", retry);
    expect(ok.status, ok.body).toBe(200);
    expect(ok.headers["x-aecp-execution-id"]).toBe(id);
    expect(ok.headers["x-aecp-decision-id"]).toMatch(UUID);
    expectDenied(await send(deferBase, "/authz/orders", retry), "AECP_EXECUTION_CONSUMED");
  });

  it("the JSON body is read and parsed with the CheckRequest rules (content-type, invalid JSON, partial body)", async () => {
    const small = JSON.stringify({ amount: 10 });
    expectAllowed(await send(base, "/authz/orders", { method: "POST", headers: json, body: small }), "orders_trace");
    expectAllowed(await send(base, "/authz/orders", { method: "POST", headers: { ...json, "x-request-id": "r1" }, body: small }));
    // no content-type, but it looks like JSON
    expectAllowed(await send(base, "/authz/orders", { method: "POST", headers: { "x-request-id": "r1" }, body: small }));
    // not parsed: no body, invalid JSON, another content-type, a body Envoy truncated
    expectDenied(await send(base, "/authz/orders", { method: "POST" }), "AECP_POLICY_VIOLATION", ["orders_need_body"]);
    expectDenied(await send(base, "/authz/orders", { method: "POST", headers: json, body: '{"amount": 1' }), "AECP_POLICY_VIOLATION", ["orders_need_body"]);
    expectDenied(await send(base, "/authz/orders", { method: "POST", headers: { "content-type": "text/plain" }, body: small }), "AECP_POLICY_VIOLATION", ["orders_need_body"]);
    expectDenied(
      await send(base, "/authz/orders", { method: "POST", headers: { ...json, "x-envoy-auth-partial-body": "true" }, body: small }),
      "AECP_POLICY_VIOLATION",
      ["orders_need_body"],
    );
    // a chunked body (no content-length) is read too
    const chunked = Buffer.from(
      `POST /authz/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Request-Id: r\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
        `5\r\n{"amo\r\n${(small.length - 5).toString(16)}\r\n${small.slice(5)}\r\n0\r\n\r\n`,
    );
    const raw = await rawRequest(addr, chunked);
    expect(raw.status, raw.text).toBe(200);
  });

  it("a body over maxBodyBytes is not parsed (as in the gRPC path), and the connection stays usable", async () => {
    const big = JSON.stringify({ amount: 10, pad: "x".repeat(200) });
    // `open` has maxBodyBytes 64 and is fail-open: the body is simply absent, which is a policy deny, not an error
    expectDenied(await send(openBase, "/authz/orders", { method: "POST", headers: json, body: big }), "AECP_POLICY_VIOLATION", ["orders_need_body"]);
    expectAllowed(await send(openBase, "/authz/orders", { method: "POST", headers: json, body: JSON.stringify({ amount: 10 }) }), "orders_trace");
    // main (1 MiB): a 3 MiB body is read and discarded, the next request on the same connection is served
    const huge = Buffer.alloc(3 * 1024 * 1024, 0x20);
    huge.write('{"amount": 10}');
    expectDenied(await send(base, "/authz/orders", { method: "POST", headers: json, body: huge }), "AECP_POLICY_VIOLATION", ["orders_need_body"]);
    expectAllowed(await send(base, "/authz/public/after-huge"));
  });

  it("path normalization: /authz/public/../admin is decided as /admin; unsafe paths are 400", async () => {
    for (const p of ["/authz/public/../admin", "/authz/public/%2e%2E/admin", "/authz//admin", "/authz/public/./../admin/", "/authz/%61dmin"]) {
      expectDenied(await send(base, p), "AECP_POLICY_VIOLATION", ["admin_role"]);
    }
    expectAllowed(await send(base, "/authz/public/../admin", { headers: { "x-role": "admin" } }));
    for (const p of ["/authz/admin;x", "/authz/public/..;/admin", "/authz/public/%2Fadmin", "/authz/../admin", "/authz/public/%zz", "/authz/public/%00"]) {
      expectFailClosed(await send(base, p), 400, "AECP_REQUEST_PATH_INVALID");
    }
  });

  it("query parsing: decoded values, repeated keys joined with ','", async () => {
    expectAllowed(await send(base, "/authz/search?q=green+tea&page=1&page=2"));
    expectAllowed(await send(base, "/authz/search?page=1&q=green%20tea&page=2#frag"));
    expectDenied(await send(base, "/authz/search?q=green+tea&page=1"), "AECP_POLICY_VIOLATION", ["search_query"]);
  });

  it("method and host are the original request's", async () => {
    expectAllowed(await send(base, "/authz/items/1"));
    expectAllowed(await send(base, "/authz/items/1", { method: "HEAD" }));
    expectDenied(await send(base, "/authz/items/1", { method: "DELETE" }), "AECP_POLICY_VIOLATION", ["items_no_delete"]);
    expectDenied(await send(base, "/authz/items/1", { method: "PROPFIND" }), "AECP_POLICY_VIOLATION", ["items_no_delete"]);
    expectAllowed(await send(base, "/authz/shop/cart", { headers: { host: "Shop.Example" } }));
    expectDenied(await send(base, "/authz/shop/cart", { headers: { host: "evil.example" } }), "AECP_POLICY_VIOLATION", ["shop_host"]);
  });

  it("headers: repeated headers joined with ',', values decoded as UTF-8 from the wire bytes", async () => {
    const head = (path: string, extra = ""): Buffer =>
      Buffer.concat([
        Buffer.from(`GET ${path} HTTP/1.1\r\nHost: x\r\nX-Multi: a\r\nX-Multi: b\r\nX-UTF8: `),
        Buffer.from("grüße", "utf8"),
        Buffer.from(`\r\n${extra}Connection: close\r\n\r\n`),
      ]);
    expect((await rawRequest(addr, head("/authz/headers"))).status).toBe(200);
    // an X-Original-URI header is an ordinary header in Envoy mode (evaluated, not a control header)
    expect((await rawRequest(addr, head("/authz/headers", "X-Original-URI: /x\r\n"))).status).toBe(403);
  });
});

// ---------------------------------------------------------------------------
// Forward auth (nginx auth_request, Traefik / Caddy forward_auth)
// ---------------------------------------------------------------------------

/** A forward-auth subrequest as nginx sends it: GET /authz, no body, Host = the sidecar. */
function fwd(uri: string | undefined, headers: Record<string, string | string[]> = {}, o: Omit<SendOptions, "headers"> = {}): Promise<HttpAnswer> {
  return send(base, "/authz", { ...o, headers: { ...(uri === undefined ? {} : { "x-original-uri": uri }), ...headers } });
}

describe("forward auth: /authz with X-Original-URI", () => {
  it("allow / deny / DEFAULT: DENY from X-Original-URI, X-Original-Method and X-Original-Host", async () => {
    const nginx = { "x-original-method": "GET", "x-original-host": "shop.example" };
    expectAllowed(await fwd("/public/a.css", nginx));
    const r = await fwd("/admin/users", nginx);
    expectDenied(r, "AECP_POLICY_VIOLATION", ["admin_role"]);
    // every other header of the subrequest is an original header
    expectAllowed(await fwd("/admin/users", { ...nginx, "x-role": "admin" }));
    expectDenied(await fwd("/elsewhere", nginx), "AECP_DEFAULT_DENY", []);
  });

  it("any method on /authz; a POST with a body is parsed like Envoy's", async () => {
    const headers = { "x-original-method": "POST", "x-request-id": "r", ...json };
    expectAllowed(await fwd("/orders", headers, { method: "POST", body: JSON.stringify({ amount: 10 }) }));
    const pause = await fwd("/orders", headers, { method: "POST", body: JSON.stringify({ amount: 5000 }) });
    expect(pause.status).toBe(503);
    expect(deniedBody(pause)["reason"]).toBe("AECP_APPROVALS_UNAVAILABLE");
  });

  it("pause: 503 with reason AECP_APPROVALS_UNAVAILABLE", async () => {
    const r = await fwd("/transfers/7", { "x-original-method": "POST" });
    expect(r.status).toBe(503);
    const body = deniedBody(r);
    expect(body).toMatchObject({ effect: "pause", reason: "AECP_APPROVALS_UNAVAILABLE" });
    expect(r.headers["retry-after"]).toBeDefined();
    expectAllowed(await fwd("/transfers/7", { "x-original-method": "POST", "x-approved": "yes" }));
  });

  it("without X-Original-URI (or empty) it is 400 AECP_REQUEST_MALFORMED", async () => {
    expectFailClosed(await fwd(undefined), 400, "AECP_REQUEST_MALFORMED");
    expectFailClosed(await fwd(""), 400, "AECP_REQUEST_MALFORMED");
    expectFailClosed(await send(base, "/authz?uri=/public/x"), 400, "AECP_REQUEST_MALFORMED");
    expectFailClosed(await fwd(undefined, { "x-original-method": "GET", "x-original-host": "shop.example" }), 400, "AECP_REQUEST_MALFORMED");
  });

  it("path normalization, ';' and the query apply to X-Original-URI", async () => {
    expectDenied(await fwd("/public/../admin"), "AECP_POLICY_VIOLATION", ["admin_role"]);
    expectDenied(await fwd("/public/%2E%2E/admin"), "AECP_POLICY_VIOLATION", ["admin_role"]);
    expectFailClosed(await fwd("/admin;jsessionid=1"), 400, "AECP_REQUEST_PATH_INVALID");
    expectFailClosed(await fwd("/public/..;/admin"), 400, "AECP_REQUEST_PATH_INVALID");
    expectFailClosed(await fwd("http://shop.example/public/x"), 400, "AECP_REQUEST_PATH_INVALID");
    expectAllowed(await fwd("/search?q=green+tea&page=1&page=2"));
    expectDenied(await fwd("/search?q=tea&page=1&page=2"), "AECP_POLICY_VIOLATION", ["search_query"]);
  });

  it("method: X-Original-Method, else X-Forwarded-Method, else not set (the subrequest's own GET is not the original's)", async () => {
    expectAllowed(await fwd("/items/1", { "x-original-method": "GET" }));
    expectDenied(await fwd("/items/1", { "x-original-method": "DELETE" }), "AECP_POLICY_VIOLATION", ["items_no_delete"]);
    expectDenied(await fwd("/items/1", { "x-original-method": "delete" }), "AECP_POLICY_VIOLATION", ["items_no_delete"]);
    expectDenied(await fwd("/items/1"), "AECP_POLICY_VIOLATION", ["items_no_delete"]);
    // Traefik / Caddy spelling
    expectAllowed(await send(base, "/authz", { headers: { "x-forwarded-uri": "/items/1", "x-forwarded-method": "GET" } }));
    expectDenied(await send(base, "/authz", { headers: { "x-forwarded-uri": "/items/1", "x-forwarded-method": "DELETE" } }), "AECP_POLICY_VIOLATION");
  });

  it("host: X-Original-Host, else X-Forwarded-Host, else the subrequest's Host", async () => {
    expectAllowed(await fwd("/shop/cart", { "x-original-host": "shop.example" }));
    expectAllowed(await fwd("/shop/cart", { "x-forwarded-host": "SHOP.example" }));
    expectDenied(await fwd("/shop/cart", { "x-original-host": "evil.example" }), "AECP_POLICY_VIOLATION", ["shop_host"]);
    expectDenied(await fwd("/shop/cart"), "AECP_POLICY_VIOLATION", ["shop_host"]); // Host is the sidecar's address
    expectAllowed(await fwd("/shop/cart", { host: "shop.example" }));
  });

  it("a control header given twice, or both spellings disagreeing, is 400 (a client cannot add a second opinion)", async () => {
    expectFailClosed(await fwd(undefined, { "x-original-uri": ["/public/x", "/admin"] }), 400, "AECP_REQUEST_MALFORMED");
    expectFailClosed(await fwd("/admin", { "x-forwarded-uri": "/public/x" }), 400, "AECP_REQUEST_MALFORMED");
    expectFailClosed(await fwd("/items/1", { "x-original-method": "GET", "x-forwarded-method": "DELETE" }), 400, "AECP_REQUEST_MALFORMED");
    expectFailClosed(await fwd("/shop/x", { "x-original-host": "shop.example", "x-forwarded-host": "evil.example" }), 400, "AECP_REQUEST_MALFORMED");
    // agreeing spellings are fine
    expectAllowed(await fwd("/public/x", { "x-forwarded-uri": "/public/x", "x-original-method": "GET", "x-forwarded-method": "GET" }));
  });

  it("the control headers are not evaluated as headers; the others are, decoded as UTF-8", async () => {
    const req = (uri: Buffer): Buffer =>
      Buffer.concat([
        Buffer.from("GET /authz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Original-URI: "),
        uri,
        Buffer.from("\r\nX-Forwarded-Method: GET\r\nX-Multi: a\r\nX-Multi: b\r\nX-UTF8: "),
        Buffer.from("grüße", "utf8"),
        Buffer.from("\r\nConnection: close\r\n\r\n"),
      ]);
    expect((await rawRequest(addr, req(Buffer.from("/headers")))).status).toBe(200);
    // nginx passes the raw bytes of $request_uri: UTF-8 is percent-encoded by normalization, anything else is rejected
    expect((await rawRequest(addr, req(Buffer.from("/public/ä", "utf8")))).status).toBe(200);
    const bad = await rawRequest(addr, req(Buffer.from([0x2f, 0x70, 0xff, 0xfe])));
    expect(bad.status).toBe(400);
    expect(bad.text).toContain("AECP_REQUEST_PATH_INVALID");
  });

  it("checkRequestFromHttp builds the CheckRequest shape the JSON adapter reads", () => {
    const cr = checkRequestFromHttp("forward", {
      method: "GET",
      url: "/authz",
      rawHeaders: ["Host", "127.0.0.1:9192", "X-Original-URI", "/a?b=1", "X-Original-Method", "POST", "X-Original-Host", "shop.example", "X-Role", "admin"],
    }) as { attributes: { request: { http: Record<string, unknown> } } };
    const http = cr.attributes.request.http;
    expect(http["path"]).toBe("/a?b=1");
    expect(http["method"]).toBe("POST");
    expect(http["host"]).toBe("shop.example");
    const headers = (http["headerMap"] as { headers: Array<{ key: string; rawValue: Uint8Array }> }).headers;
    expect(headers.map((h) => [h.key, Buffer.from(h.rawValue).toString()])).toEqual([
      ["host", "shop.example"],
      ["X-Role", "admin"],
    ]);
    expect(http["scheme"]).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------
// Failures and hostile input
// ---------------------------------------------------------------------------

describe("fail closed, never crash", () => {
  it("fail-open sidecar: a request that cannot be decided is allowed with x-aecp-fail-open (the sidecar's failure path)", async () => {
    const r = await send(openBase, "/authz");
    expect(r.status).toBe(200);
    expect(r.headers["x-aecp-fail-open"]).toBe("AECP_REQUEST_MALFORMED");
    expect(r.headers["x-aecp-decision-id"]).toMatch(UUID);
    expect(r.headers["x-envoy-auth-headers-to-remove"]).toBe("x-aecp-advisory");
  });

  it("request heads over 64 KiB get 431 and the server keeps serving", async () => {
    const r = await rawRequest(addr, Buffer.from(`GET /authz/public/x HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(70 * 1024)}\r\n\r\n`));
    expect(r.status).toBe(431);
    // 60 KiB (Envoy's default max_request_headers_kb) is accepted
    expectAllowed(await send(base, "/authz/public/x", { headers: { "x-big": "a".repeat(60 * 1024) } }));
  });

  it("more headers than the adapter's limit: 413 AECP_REQUEST_TOO_LARGE", async () => {
    const headers: Record<string, string> = {};
    for (let i = 0; i < 1100; i++) headers[`x-h${i}`] = "1";
    expectFailClosed(await send(base, "/authz/public/x", { headers }), 413, "AECP_REQUEST_TOO_LARGE");
  });

  it("garbage on the wire, aborted bodies, non-UTF-8 bodies: answered or dropped, and the server keeps serving", async () => {
    const cases: Array<[string, Buffer, number]> = [
      ["bad request line", Buffer.from("GARBAGE\r\n\r\n"), 400],
      ["non-ASCII request target", Buffer.concat([Buffer.from("GET /authz/"), Buffer.from([0xff]), Buffer.from(" HTTP/1.1\r\nHost: x\r\n\r\n")]), 400],
      ["bad content-length", Buffer.from("POST /authz/orders HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"), 400],
      [
        "non-UTF-8 JSON body",
        Buffer.concat([Buffer.from("POST /authz/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\nConnection: close\r\n\r\n"), Buffer.from([0x7b, 0xff, 0xfe, 0x7d])]),
        403,
      ],
    ];
    for (const [name, bytes, status] of cases) expect((await rawRequest(addr, bytes)).status, name).toBe(status);
    // a body announced but never finished: the client goes away
    await rawRequest(addr, Buffer.from("POST /authz/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"amount\""), 200);
    expectAllowed(await send(base, "/authz/public/still-serving"));
    expect((await send(base, "/healthz")).status).toBe(200);
  });

  it("serveAuthz never rejects: a throwing decider or an outcome Node cannot send fails closed", async () => {
    const failures: string[] = [];
    const fail = (code: string): CheckOutcome => outcomeForError(code, 500, `id-${failures.push(code)}`, { failOpen: false, failStatus: 500 });
    const allowWithBadHeader: CheckOutcome = {
      ...outcomeForError("AECP_INTERNAL", 500, "id", { failOpen: true, failStatus: 500 }),
      headers: [["x-aecp-decision-id", "a\r\nb"]],
    };
    const decider: AuthzDecider = {
      maxBodyBytes: 1024,
      decideCheckRequest: (cr) => {
        const path = (cr as { attributes: { request: { http: { path: string } } } }).attributes.request.http.path;
        if (path === "/throw") throw new Error("boom");
        if (path === "/reject") return Promise.reject(new Error("boom"));
        return allowWithBadHeader;
      },
      failureOutcome: (code) => fail(code),
    };
    const server = createServer((req, res) => void serveAuthz(authzMode(req.url ?? "")!, req, res, decider));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    const local = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      for (const p of ["/authz/throw", "/authz/reject", "/authz/bad-header"]) {
        const r = await send(local, p);
        expect(r.status, p).toBe(500);
        expect(JSON.parse(r.body)).toMatchObject({ effect: "deny", reason: "AECP_INTERNAL" });
      }
      expect(failures).toEqual(["AECP_INTERNAL", "AECP_INTERNAL", "AECP_INTERNAL"]);
    } finally {
      await closeClients();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("many concurrent authorization requests are all answered", async () => {
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => send(base, i % 2 ? `/authz/public/${i}` : "/authz", i % 2 ? {} : { headers: { "x-original-uri": `/admin/${i}` } })),
    );
    for (const [i, r] of results.entries()) expect(r.status).toBe(i % 2 ? 200 : 403);
    expect(new Set(results.map((r) => r.headers["x-aecp-decision-id"])).size).toBe(200);
  });
});
