// HTTP ext_authz mode: the sidecar's `--http` listener answers authorization
// requests under the path prefix `/authz` (docs/sidecar.md, "HTTP mode").
//
//   /authz/<path>  Envoy `http_service` (path_prefix "/authz"): the request IS
//                  the original request — method, "/<path>?query", headers and,
//                  with `with_request_body`, the body.
//   /authz         forward auth (nginx `auth_request`, Traefik/Caddy
//                  forward-auth): the original request is described by control
//                  headers (X-Original-URI or X-Forwarded-Uri, optional
//                  X-Original-Method / X-Forwarded-Method and X-Original-Host /
//                  X-Forwarded-Host); every other header is the original's.
//
// This module only TRANSLATES: it builds a CheckRequest-shaped object and hands
// it to the sidecar, so the request rules (header lower-casing and joining,
// path normalization, query parsing, JSON body, limits) stay in one place,
// src/executive/checkrequest.ts. Decisions and failures are the sidecar's
// (`AuthzDecider`); this module maps the resulting CheckOutcome onto HTTP:
//   allowed     → 200, empty body, the outcome's headers (x-aecp-decision-id,
//                 x-aecp-advisory, x-aecp-fail-open) plus
//                 `x-envoy-auth-headers-to-remove` naming the x-aecp-* headers
//                 it did not set, so a client cannot forge them upstream
//   not allowed → the outcome's status, headers and JSON body, plus
//                 `x-aecp-reason` (the body's reason, for proxies such as nginx
//                 that discard the body of an auth response)
// The scheme is never taken from the HTTP request (X-Forwarded-Proto is
// client-controllable), so `request.scheme` is not set in HTTP mode; nor are
// source/destination peers (the connection's peer is the proxy, not the client).

import type { IncomingMessage, ServerResponse } from "node:http";
import { AecpError, isAecpError, type ErrorCode } from "../common/index.js";
import { OWN_HEADERS, type CheckOutcome } from "./response.js";

/** Path prefix of the HTTP ext_authz mode (Envoy `path_prefix`, nginx `proxy_pass .../authz`). */
export const AUTHZ_PREFIX = "/authz";
/** Response header carrying the reason code of a response that is not an allow. */
export const HEADER_REASON = "x-aecp-reason";
/** Envoy `http_service`: headers the authorization server asks Envoy to remove from the upstream request. */
export const HEADER_ENVOY_HEADERS_TO_REMOVE = "x-envoy-auth-headers-to-remove";

/** Forward-auth control headers (lower-case). They describe the original request and are not evaluated as headers. */
export const FORWARD_AUTH_HEADERS = Object.freeze([
  "x-original-uri",
  "x-forwarded-uri",
  "x-original-method",
  "x-forwarded-method",
  "x-original-host",
  "x-forwarded-host",
] as const);


export type AuthzMode = "envoy" | "forward";

/**
 * Which HTTP ext_authz mode a request target selects, or undefined when it is
 * not an authorization request: exactly `/authz` (optionally with a query,
 * which is ignored) is forward auth; `/authz/...` is Envoy `http_service`;
 * anything else (`/authzfoo`, `/healthz`) is not under the prefix.
 */
export function authzMode(url: string): AuthzMode | undefined {
  if (!url.startsWith(AUTHZ_PREFIX)) return undefined;
  const next = url.charCodeAt(AUTHZ_PREFIX.length);
  if (Number.isNaN(next) || next === 0x3f /* ? */) return "forward";
  if (next === 0x2f /* / */) return "envoy";
  return undefined;
}

/** What the HTTP server received, in Node's raw form. */
export interface HttpAuthzRequest {
  method: string;
  /** The request target as received (`req.url`). */
  url: string;
  /** Node's `req.rawHeaders`: names as sent, values as latin1 (one char per byte). */
  rawHeaders: readonly string[];
  /** The request body, when there was one and it was within the size limit. */
  body?: Uint8Array | undefined;
}

function malformed(message: string): never {
  throw new AecpError("AECP_REQUEST_MALFORMED", message);
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Node decodes header bytes as latin1; these are the bytes that were on the wire. */
function wireBytes(latin1: string): Buffer {
  return Buffer.from(latin1, "latin1");
}

/**
 * The CheckRequest (proto3 JSON shape, raw bytes for header values and body)
 * that describes the original request; `attributesFromCheckRequestJson`
 * applies the request rules to it. Throws AecpError when the request cannot
 * describe an original request (forward auth without X-Original-URI, a control
 * header given twice or in two disagreeing spellings, a URI that is not UTF-8).
 */
export function checkRequestFromHttp(mode: AuthzMode, r: HttpAuthzRequest): Record<string, unknown> {
  const list: Array<{ key: string; rawValue: Uint8Array }> = [];
  const http: Record<string, unknown> = { headerMap: { headers: list } };
  const raw = r.rawHeaders;

  if (mode === "envoy") {
    // Envoy sends the original method and path_prefix + original path (with
    // query) and the original headers, `host` being the original host.
    http["method"] = r.method;
    http["path"] = r.url.slice(AUTHZ_PREFIX.length);
    for (let i = 0; i + 1 < raw.length; i += 2) list.push({ key: raw[i]!, rawValue: wireBytes(raw[i + 1]!) });
  } else {
    const control: Record<string, string> = Object.create(null) as Record<string, string>;
    let hostAt = -1;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      if ((FORWARD_AUTH_HEADERS as readonly string[]).includes(name)) {
        if (control[name] !== undefined) malformed(`forward-auth header ${name} is given more than once`);
        control[name] = raw[i + 1]!;
        continue;
      }
      if (name === "host") hostAt = list.length;
      list.push({ key: raw[i]!, rawValue: wireBytes(raw[i + 1]!) });
    }
    const uri = oneOf(control, "x-original-uri", "x-forwarded-uri");
    if (uri === undefined || uri === "") {
      malformed("forward-auth request without X-Original-URI (or X-Forwarded-Uri) describing the original request");
    }
    let path: string;
    try {
      path = strictUtf8.decode(wireBytes(uri));
    } catch {
      throw new AecpError("AECP_REQUEST_PATH_INVALID", "the original request URI is not valid UTF-8");
    }
    http["path"] = path;
    // Without a method header the method is not set (a policy testing it sees
    // it missing): a subrequest's own method (GET for nginx) is not the original's.
    const method = oneOf(control, "x-original-method", "x-forwarded-method");
    if (method !== undefined && method !== "") http["method"] = wireBytes(method).toString("utf8");
    const host = oneOf(control, "x-original-host", "x-forwarded-host");
    if (host !== undefined && host !== "") {
      // The subrequest's own Host names the sidecar (nginx proxy_pass); the
      // original host replaces it, as attribute and as `host` header.
      const hostBytes = wireBytes(host);
      http["host"] = hostBytes.toString("utf8");
      if (hostAt !== -1) list[hostAt] = { key: "host", rawValue: hostBytes };
      else list.push({ key: "host", rawValue: hostBytes });
    }
  }
  if (r.body !== undefined && r.body.length > 0) http["rawBody"] = r.body;
  return { attributes: { request: { http } } };
}

/** The value of one control header in either spelling; both spellings must agree. */
function oneOf(control: Record<string, string>, original: string, forwarded: string): string | undefined {
  const a = control[original];
  const b = control[forwarded];
  if (a !== undefined && b !== undefined && a !== b) {
    malformed(`forward-auth headers ${original} and ${forwarded} disagree`);
  }
  return a ?? b;
}

/** What the HTTP mode needs from the sidecar: its decision and failure paths. */
export interface AuthzDecider {
  /** Largest body that is parsed; a larger one is read and discarded, and not parsed. */
  readonly maxBodyBytes: number;
  /** Decide a CheckRequest-shaped object (never throws: bad input fails closed). */
  decideCheckRequest(checkRequest: unknown): CheckOutcome | Promise<CheckOutcome>;
  /** The outcome for a request that cannot be decided (fail closed unless fail-open). */
  failureOutcome(code: ErrorCode): CheckOutcome;
}

/**
 * Read the request body: undefined when there is none or when it exceeds
 * `max` bytes (the rest is read and discarded, so the connection stays usable).
 */
export async function readRequestBody(req: IncomingMessage, max: number): Promise<Uint8Array | undefined> {
  const length = req.headers["content-length"];
  if (req.headers["transfer-encoding"] === undefined && (length === undefined || length === "0")) return undefined;
  const chunks: Buffer[] = [];
  let total = 0;
  let over = length !== undefined && Number(length) > max;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    if (over) continue;
    total += chunk.length;
    if (total > max) {
      over = true;
      chunks.length = 0;
      continue;
    }
    chunks.push(chunk);
  }
  if (over || total === 0) return undefined;
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}

/** Serve one authorization request. Never rejects, and never allows on an error (unless the sidecar is fail-open). */
export async function serveAuthz(mode: AuthzMode, req: IncomingMessage, res: ServerResponse, decider: AuthzDecider): Promise<void> {
  let outcome: CheckOutcome | undefined;
  try {
    outcome = await decideHttp(mode, req, decider);
  } catch {
    // the client went away while sending its body: nobody to answer
    if (req.destroyed || res.destroyed) return;
  }
  try {
    writeOutcome(res, outcome ?? decider.failureOutcome("AECP_INTERNAL"));
  } catch {
    // e.g. a header value Node refuses: still fail closed, visibly; if even
    // that fails, drop the connection (a proxy treats that as an error)
    try {
      if (res.headersSent || res.destroyed) throw new Error("response already started");
      writeOutcome(res, decider.failureOutcome("AECP_INTERNAL"));
    } catch {
      res.destroy();
    }
  }
}

async function decideHttp(mode: AuthzMode, req: IncomingMessage, decider: AuthzDecider): Promise<CheckOutcome> {
  const body = await readRequestBody(req, decider.maxBodyBytes);
  let checkRequest: Record<string, unknown>;
  try {
    checkRequest = checkRequestFromHttp(mode, { method: req.method ?? "GET", url: req.url ?? "", rawHeaders: req.rawHeaders, body });
  } catch (e) {
    return decider.failureOutcome(isAecpError(e) ? e.code : "AECP_REQUEST_MALFORMED");
  }
  return decider.decideCheckRequest(checkRequest);
}

/** Map a CheckOutcome onto the HTTP response (see the header of this file). */
export function writeOutcome(res: ServerResponse, o: CheckOutcome): void {
  const headers: Record<string, string> = { "cache-control": "no-store" };
  for (const [k, v] of o.headers) headers[k] = v;
  if (o.allowed) {
    const remove = OWN_HEADERS.filter((h) => headers[h] === undefined);
    if (remove.length > 0) headers[HEADER_ENVOY_HEADERS_TO_REMOVE] = remove.join(",");
    headers["content-length"] = "0";
    res.writeHead(200, headers);
    res.end();
    return;
  }
  const reason = o.metadata["aecp_reason"];
  if (typeof reason === "string" && reason !== "") headers[HEADER_REASON] = reason;
  const body = o.body ?? "";
  headers["content-length"] = String(Buffer.byteLength(body));
  res.writeHead(o.httpStatus, headers);
  res.end(body);
}
