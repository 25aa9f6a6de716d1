// Signed decision links, CSRF tokens and browser sessions: all HMAC-SHA256
// under the service's link key (options.linkKey), each with its own domain
// prefix so one kind of token can never be replayed as another.
//
// Decision link:  <public_url>/l/<token>
//   token = base64url(JSON {e: execution id, a: approver id, d: action,
//           x: expiry (s), n: 128-bit nonce}) "." base64url(HMAC)
//   Bound to one execution, one approver and one action; unguessable (the
//   HMAC), expiring (x), single-use (the nonce is recorded when a POST uses
//   it). GET only renders a page; the decision is the POST.
// CSRF: the page sets cookie `aecp_csrf=<random>` (HttpOnly, SameSite=Strict)
//   and puts HMAC(nonce of the link, cookie value) in the form; the POST must
//   present both, matching, and an Origin (when sent) equal to public_url's.
// Session: opening a valid link also sets `aecp_session` (approver id +
//   expiry, HMAC) so the approver can browse the pending list and records.

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { AecpError } from "../common/index.js";

export type LinkAction = "approve" | "reject";

export interface DecisionLink {
  executionId: string;
  approverId: string;
  action: LinkAction;
  /** Expiry, seconds since the epoch. */
  expiresAtS: number;
  nonce: string;
}

function mac(key: Buffer, domain: string, data: string): Buffer {
  return createHmac("sha256", key).update(domain).update("\n").update(data).digest();
}

function equal(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

const linkInvalid = (why: string): AecpError => new AecpError("AECP_LINK_INVALID", `decision link refused: ${why}`);

export function signLink(key: Buffer, l: Omit<DecisionLink, "nonce">): string {
  const payload = Buffer.from(JSON.stringify({ e: l.executionId, a: l.approverId, d: l.action, x: l.expiresAtS, n: randomBytes(16).toString("base64url") })).toString("base64url");
  return `${payload}.${mac(key, "aecp-link.v1", payload).toString("base64url")}`;
}

/** Verify a link's HMAC and expiry (`nowMs`). Single use is checked by the service when it is used. Throws AECP_LINK_INVALID. */
export function verifyLink(key: Buffer, token: string, nowMs: number): DecisionLink {
  if (token.length > 1024) throw linkInvalid("malformed");
  const m = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})$/.exec(token);
  if (!m) throw linkInvalid("malformed");
  if (!equal(Buffer.from(m[2]!, "base64url"), mac(key, "aecp-link.v1", m[1]!))) throw linkInvalid("signature does not match");
  let p: { e?: unknown; a?: unknown; d?: unknown; x?: unknown; n?: unknown };
  try {
    p = JSON.parse(Buffer.from(m[1]!, "base64url").toString("utf8")) as typeof p;
  } catch {
    throw linkInvalid("malformed");
  }
  if (typeof p.e !== "string" || typeof p.a !== "string" || (p.d !== "approve" && p.d !== "reject") || typeof p.x !== "number" || typeof p.n !== "string") throw linkInvalid("malformed");
  if (p.x * 1000 <= nowMs) throw linkInvalid("expired");
  return { executionId: p.e, approverId: p.a, action: p.d, expiresAtS: p.x, nonce: p.n };
}

export function newCsrfCookie(): string {
  return randomBytes(16).toString("base64url");
}

export function csrfToken(key: Buffer, linkNonce: string, cookie: string): string {
  return mac(key, "aecp-csrf.v1", `${linkNonce}\n${cookie}`).toString("base64url");
}

export function checkCsrf(key: Buffer, linkNonce: string, cookie: string | undefined, presented: string | undefined): boolean {
  if (!cookie || !presented || presented.length > 64) return false;
  return equal(Buffer.from(presented, "base64url"), mac(key, "aecp-csrf.v1", `${linkNonce}\n${cookie}`));
}

export function signSession(key: Buffer, approverId: string, expiresAtS: number): string {
  const payload = Buffer.from(JSON.stringify({ a: approverId, x: expiresAtS })).toString("base64url");
  return `${payload}.${mac(key, "aecp-session.v1", payload).toString("base64url")}`;
}

/** The approver id of a valid session cookie, else undefined. */
export function verifySession(key: Buffer, cookie: string | undefined, nowMs: number): string | undefined {
  if (!cookie || cookie.length > 1024) return undefined;
  const m = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})$/.exec(cookie);
  if (!m || !equal(Buffer.from(m[2]!, "base64url"), mac(key, "aecp-session.v1", m[1]!))) return undefined;
  try {
    const p = JSON.parse(Buffer.from(m[1]!, "base64url").toString("utf8")) as { a?: unknown; x?: unknown };
    return typeof p.a === "string" && typeof p.x === "number" && p.x * 1000 > nowMs ? p.a : undefined;
  } catch {
    return undefined;
  }
}

/** Cookies of a request, by name (first value wins). */
export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  if (!header) return out;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i <= 0) continue;
    const k = part.slice(0, i).trim();
    if (!(k in out)) out[k] = part.slice(i + 1).trim();
  }
  return out;
}
