// Tests for src/executive/path.ts: request-path normalization, including the
// encodings and dot-segment tricks used to slip past prefix rules like
// `request.path STARTS_WITH "/admin"`.

import { describe, expect, it } from "vitest";
import { isAecpError } from "../../src/common/errors.js";
import { normalizePath } from "../../src/executive/path.js";

const REJECT = Symbol("reject");

// [input, expected output | REJECT]
const cases: ReadonlyArray<readonly [string, string | typeof REJECT]> = [
  // already normal (fast path)
  ["/", "/"],
  ["/api/v1/products", "/api/v1/products"],
  ["/a/b/", "/a/b/"],
  ["/.well-known/openid-configuration", "/.well-known/openid-configuration"],
  ["/a/..b/c...", "/a/..b/c..."],
  ["/a=b/d:e@f!$&'()*+,=", "/a=b/d:e@f!$&'()*+,="],
  ["/a;b=c/d", REJECT],
  ["/com.book.BookService/GetBooksViaAuthor", "/com.book.BookService/GetBooksViaAuthor"],
  ["*", "*"],
  // slashes
  ["//admin", "/admin"],
  ["///admin//users///", "/admin/users/"],
  ["//", "/"],
  // dot segments
  ["/./admin", "/admin"],
  ["/a/./b", "/a/b"],
  ["/a/b/../admin", "/a/admin"],
  ["/a/../admin", "/admin"],
  ["/a/b/..", "/a/"],
  ["/a/b/.", "/a/b/"],
  ["/a/.", "/a/"],
  ["/a/..", "/"],
  ["/.", "/"],
  ["/a//../admin", "/admin"],
  ["/..", REJECT],
  ["/../admin", REJECT],
  ["/a/../../admin", REJECT],
  // percent-decoding of unreserved characters
  ["/%61dmin", "/admin"],
  ["/%41%42%43", "/ABC"],
  ["/%7e%2D%5f%2E", "/~-_."],
  ["/a/%2e/admin", "/a/admin"],
  ["/a/%2E%2E/admin", "/admin"],
  ["/a/.%2e/admin", "/admin"],
  ["/a/%2e./admin", "/admin"],
  ["/%2e%2e/admin", REJECT], // climbs above the root
  ["/x/%2e%2e%2f..%2fadmin", REJECT], // %2F
  // other escapes: upper-case hex, never decoded
  ["/a%3ab", "/a%3Ab"],
  ["/a%20b", "/a%20b"],
  ["/caf%c3%a9", "/caf%C3%A9"],
  ["/a%3F/b", "/a%3F/b"],
  ["/%25", "/%25"],
  ["/%252e%252e/admin", "/%252e%252e/admin"], // decoded once only: "%25" + literal "2e"
  ["/%252E", "/%252E"],
  // raw characters that must be encoded
  ["/a b", "/a%20b"],
  ["/caf\u00e9", "/caf%C3%A9"],
  ["/\u{1F600}", "/%F0%9F%98%80"],
  ["/a|b{c}", "/a%7Cb%7Bc%7D"],
  // rejected: encoded separators, control characters, backslashes
  ["/admin%2fusers", REJECT],
  ["/%2F%2Fadmin", REJECT],
  ["/admin%5cusers", REJECT],
  ["/admin\\users", REJECT],
  ["/..\\admin", REJECT],
  ["/admin%00", REJECT],
  ["/admin%0a", REJECT],
  ["/admin%7F", REJECT],
  ["/admin\u0000", REJECT],
  ["/admin\r\n", REJECT],
  ["/admin\t", REJECT],
  // rejected: invalid or truncated escapes
  ["/admin%", REJECT],
  ["/admin%4", REJECT],
  ["/admin%zz", REJECT],
  ["/admin%4g", REJECT],
  ["/%%41", REJECT],
  // rejected: not origin-form
  ["", REJECT],
  ["admin", REJECT],
  ["%2Fadmin", REJECT],
  ["http://evil/admin", REJECT],
  ["**", REJECT],
  // rejected: path-parameter dot tricks (servlet containers strip ";..." first)
  ["/public/..;/admin", REJECT],
  ["/public/.;/admin", REJECT],
  ["/;x/admin", REJECT],
  ["/public/%2e%2e;x/admin", REJECT],
  // regression (review finding): servlet backends strip `;params`, so `/admin;x/users` reached /admin/users past a path rule
  ["/admin;jsessionid=1/x", REJECT],
  ["/admin;x/users", REJECT],
  ["/admin;", REJECT],
  ["/a/b;c", REJECT],
  ["/admin%3bx/users", REJECT],
  ["/admin%3Bx/users", REJECT],
  // rejected: lone surrogates cannot be encoded
  ["/a\ud800", REJECT],
  ["/a\udc00b", REJECT],
];

describe("normalizePath", () => {
  it("has a large table", () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  for (const [input, expected] of cases) {
    const label = JSON.stringify(input);
    if (expected === REJECT) {
      it(`rejects ${label}`, () => {
        let err: unknown;
        try {
          normalizePath(input);
        } catch (e) {
          err = e;
        }
        expect(isAecpError(err, "AECP_REQUEST_PATH_INVALID"), String(err)).toBe(true);
      });
    } else {
      it(`${label} -> ${JSON.stringify(expected)}`, () => {
        expect(normalizePath(input)).toBe(expected);
      });
    }
  }

  it("is idempotent on every accepted input", () => {
    for (const [, expected] of cases) {
      if (expected === REJECT) continue;
      expect(normalizePath(expected)).toBe(expected);
    }
  });

  it("returns the same string instance for an already-normal path", () => {
    const p = "/api/v1/products/" + String(Date.now());
    expect(normalizePath(p)).toBe(p);
  });

  it("never lets an encoded or dotted variant of /admin escape a prefix check", () => {
    const variants = ["/%61dmin/x", "//admin/x", "/./admin/x", "/a/../admin/x", "/a/%2e%2e/admin/x", "/%41DMIN/x"];
    for (const v of variants) {
      expect(normalizePath(v).toLowerCase().startsWith("/admin")).toBe(true);
    }
  });

  it("names the reason in the message", () => {
    expect(() => normalizePath("/a%2Fb")).toThrow(/encoded '\/'/);
    expect(() => normalizePath("/a\\b")).toThrow(/backslash/);
    expect(() => normalizePath("/..")).toThrow(/above the root/);
    expect(() => normalizePath("/a%2")).toThrow(/truncated/);
  });
});
