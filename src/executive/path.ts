// Request-path normalization for policy matching (security-critical).
//
// Policies match on `request.path` (e.g. `request.path STARTS_WITH "/admin"`),
// so every spelling of a path that a backend could resolve to the same resource
// must normalize to ONE string, and spellings whose meaning differs between
// servers are rejected rather than guessed. `normalizePath` is called once per
// request by the CheckRequest adapter (src/executive/checkrequest.ts) on the
// path WITHOUT its query string and fragment.
//
// Rules, in order:
//   - the path must start with "/"; the bare asterisk-form "*" is returned as-is
//     (the adapter only accepts it for OPTIONS);
//   - percent-escapes are decoded exactly once: unreserved characters
//     (ALPHA / DIGIT / "-" / "." / "_" / "~") are decoded, every other escape is
//     kept with upper-case hex ("%3a" -> "%3A"); "%252e" therefore stays "%252e"
//     (the "2e" after "%25" are literal characters, not hex of an escape);
//   - REJECTED: encoded "/" (%2F) and "\" (%5C), encoded or raw control
//     characters (%00-%1F, %7F), invalid or truncated escapes, raw backslashes,
//     lone UTF-16 surrogates;
//   - raw characters that are not allowed in a URI path (space, `"`, `<`, `>`,
//     `[`, `]`, `^`, "`", `{`, `|`, `}`, `#`, `?`, non-ASCII) are percent-encoded
//     (UTF-8, upper-case hex), so "/ä" and "/%C3%A4" are the same path;
//   - repeated slashes are merged; "." segments are removed; ".." segments pop
//     the previous segment, and a ".." that would climb above the root is
//     rejected; a trailing slash is kept ("/a/b/.." -> "/a/");
//   - REJECTED: segments whose part before the first ";" is empty, "." or ".."
//     (e.g. "/..;/admin", "/.;/admin", "/;x/admin"). Servlet containers strip
//     ";params" from every segment before resolving dot segments, so those
//     paths mean something different there than here.
//
// Decoding happens before dot-segment handling, so "/a/%2E%2E/admin" is "/admin".
//
// Performance: a single scan decides whether anything needs doing; an ordinary
// path ("/api/v1/items", "/.well-known/x") is returned unchanged, without
// allocating.

import { AecpError } from "../common/index.js";

// Character classes for ASCII code points.
const C_OK = 0; // allowed raw in a path: unreserved, sub-delims, ":", "@", "/"
const C_ENCODE = 1; // printable, but must be percent-encoded
const C_REJECT = 2; // control characters and "\"
const C_PERCENT = 3; // "%"

const CLASS = new Uint8Array(128);
const UNRESERVED = new Uint8Array(128);
{
  for (let c = 0; c < 128; c++) CLASS[c] = C_ENCODE;
  for (let c = 0; c < 0x20; c++) CLASS[c] = C_REJECT;
  CLASS[0x7f] = C_REJECT;
  CLASS[0x5c] = C_REJECT; // "\"
  CLASS[0x25] = C_PERCENT;
  const unreserved = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
  for (let i = 0; i < unreserved.length; i++) {
    const c = unreserved.charCodeAt(i);
    CLASS[c] = C_OK;
    UNRESERVED[c] = 1;
  }
  const alsoRaw = "!$&'()*+,;=:@/";
  for (let i = 0; i < alsoRaw.length; i++) CLASS[alsoRaw.charCodeAt(i)] = C_OK;
}

const HEX = "0123456789ABCDEF";

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30; // 0-9
  if (c >= 0x41 && c <= 0x46) return c - 0x37; // A-F
  if (c >= 0x61 && c <= 0x66) return c - 0x57; // a-f
  return -1;
}

function pct(byte: number): string {
  return "%" + HEX[byte >> 4]! + HEX[byte & 15]!;
}

function invalid(message: string): never {
  throw new AecpError("AECP_REQUEST_PATH_INVALID", message);
}

const SLASH = 0x2f;
const DOT = 0x2e;
const SEMI = 0x3b;

/**
 * Normalizes a request path (without query string) for policy matching.
 * Returns `raw` itself when it is already normal. Throws `AecpError`
 * `AECP_REQUEST_PATH_INVALID` for paths that cannot be normalized safely.
 */
export function normalizePath(raw: string): string {
  const n = raw.length;
  if (n === 0) invalid("request path is empty");
  if (raw.charCodeAt(0) !== SLASH) {
    if (raw === "*") return "*";
    invalid("request path must start with '/'");
  }
  // Fast path: one scan; leave as soon as something needs work.
  for (let i = 0; i < n; i++) {
    const c = raw.charCodeAt(i);
    if (c >= 128 || CLASS[c] !== C_OK || c === SEMI) return slowNormalize(raw);
    if (c === SLASH && i + 1 < n) {
      const c1 = raw.charCodeAt(i + 1);
      if (c1 === SLASH || c1 === SEMI) return slowNormalize(raw);
      if (c1 === DOT) {
        // "/." followed by end, "/", "." or ";" is a dot segment (or a variant);
        // "/.well-known" is not.
        if (i + 2 >= n) return slowNormalize(raw);
        const c2 = raw.charCodeAt(i + 2);
        if (c2 === SLASH || c2 === DOT || c2 === SEMI) return slowNormalize(raw);
      }
    }
  }
  return raw;
}

function slowNormalize(raw: string): string {
  const decoded = decodeOnce(raw);
  return removeDotSegments(decoded);
}

/** Percent-decoding (unreserved only), escape validation and raw-character encoding. */
function decodeOnce(raw: string): string {
  const n = raw.length;
  let out = "";
  let start = 0; // start of the pending run of characters copied verbatim
  for (let i = 0; i < n; i++) {
    const c = raw.charCodeAt(i);
    if (c < 128) {
      const cls = CLASS[c];
      if (cls === C_OK) continue;
      if (cls === C_REJECT) {
        invalid(c === 0x5c ? "request path contains a backslash" : "request path contains a control character");
      }
      if (cls === C_PERCENT) {
        if (i + 2 >= n) invalid("request path has a truncated percent-escape");
        const h1 = hexValue(raw.charCodeAt(i + 1));
        const h2 = hexValue(raw.charCodeAt(i + 2));
        if (h1 < 0 || h2 < 0) invalid("request path has an invalid percent-escape");
        const b = (h1 << 4) | h2;
        if (b === SLASH) invalid("request path contains an encoded '/' (%2F)");
        if (b === 0x5c) invalid("request path contains an encoded '\\' (%5C)");
        if (b < 0x20 || b === 0x7f) invalid("request path contains an encoded control character");
        out += raw.slice(start, i);
        out += b < 128 && UNRESERVED[b] === 1 ? String.fromCharCode(b) : pct(b);
        i += 2;
        start = i + 1;
        continue;
      }
      // C_ENCODE
      out += raw.slice(start, i) + pct(c);
      start = i + 1;
      continue;
    }
    // Non-ASCII: encode as UTF-8.
    out += raw.slice(start, i);
    if (c < 0x800) {
      out += pct(0xc0 | (c >> 6)) + pct(0x80 | (c & 0x3f));
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const c2 = i + 1 < n ? raw.charCodeAt(i + 1) : 0;
      if (c > 0xdbff || c2 < 0xdc00 || c2 > 0xdfff) invalid("request path contains an unpaired surrogate");
      const cp = 0x10000 + ((c - 0xd800) << 10) + (c2 - 0xdc00);
      out +=
        pct(0xf0 | (cp >> 18)) + pct(0x80 | ((cp >> 12) & 0x3f)) + pct(0x80 | ((cp >> 6) & 0x3f)) + pct(0x80 | (cp & 0x3f));
      i++;
    } else {
      out += pct(0xe0 | (c >> 12)) + pct(0x80 | ((c >> 6) & 0x3f)) + pct(0x80 | (c & 0x3f));
    }
    start = i + 1;
  }
  return start === 0 ? raw : out + raw.slice(start);
}

/**
 * Merges slashes and resolves dot segments of a decoded path that starts with
 * "/" and contains no encoded slash (so every "/" is a real separator).
 */
function removeDotSegments(path: string): string {
  const parts = path.split("/"); // parts[0] === ""
  const stack: string[] = [];
  const last = parts.length - 1;
  let trailingSlash = false;
  for (let i = 1; i <= last; i++) {
    const seg = parts[i]!;
    if (seg === "" || seg === ".") {
      if (i === last) trailingSlash = true;
      continue;
    }
    if (seg === "..") {
      if (stack.length === 0) invalid("request path climbs above the root ('..')");
      stack.pop();
      if (i === last) trailingSlash = true;
      continue;
    }
    // Path parameters (`/admin;x/users`) are stripped by servlet-style
    // backends (Tomcat, Spring), which then serve `/admin/users`, while a
    // policy would see a different path. No single normalization is right for
    // every backend, so a `;` in any segment fails closed.
    if (seg.includes(";") || seg.includes("%3B")) invalid("request path has a ';' path parameter (backends disagree on what it names)");
    stack.push(seg);
    trailingSlash = false;
  }
  if (stack.length === 0) return "/";
  const joined = "/" + stack.join("/");
  return trailingSlash ? joined + "/" : joined;
}
