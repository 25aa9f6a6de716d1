// Input generators for the robustness fuzzing of the front end: random
// characters, token soup from the language's vocabulary, and mutations of
// valid policy files (token- and character-level edits, truncation, unicode,
// very long identifiers, deep nesting).

import type { Rng } from "./prng.js";

export const KEYWORDS = [
  "POLICY", "ATTRIBUTE", "DEFAULT", "ALLOW", "DENY", "AS", "string", "number", "bool", "boolean",
  "DESCRIPTION", "SCOPE", "requests", "WHERE", "CONSTRAINT", "ENFORCEMENT", "BLOCKING", "ADVISORY",
  "AUDIT_ONLY", "REQUIRE_APPROVAL", "AUDIT", "REQUIRED", "OPTIONAL", "EXCEPTION", "APPROVAL",
  "APPROVERS", "QUORUM", "TIMEOUT", "AND", "OR", "NOT", "IN", "TRUE", "FALSE", "EXISTS",
  "STARTS_WITH", "ENDS_WITH", "MATCHES", "and", "or", "not", "policy", "scope", "true",
] as const;

export const PUNCTUATION = ["{", "}", "(", ")", "[", "]", ",", ":", ".", "=", "==", "!=", "<", "<=", ">", ">="] as const;

export const ATTRIBUTE_WORDS = [
  "request.method", "request.path", "request.host", "request.scheme", "request.protocol",
  'request.query["q"]', 'request.headers["x-tenant"]', "request.body.customer.region", "request.body.items[0].id",
  "source.principal", "source.port", "destination.namespace", "destination.service_account", "source.trust_domain",
  'context["k"]', 'metadata["envoy.filters.http.jwt_authn"].claims.sub', "customer.region", "resource.type",
  "customer.regoin", "request", "request.headers", "metadata", "context.k",
] as const;

export const LITERALS = [
  '"EU"', '"customer_data"', '"/api/*/items/**"', '"**"', '"***"', '"a**b"', '""', '"\\u00e9"', '"\\q"', '"unterminated',
  "0", "1", "-1", "3.25", "15m", "1h30m", "0s", "31d", "99999999999999999999999", "1.5m", "true", "false",
] as const;

export const COMMENTS = ["# comment\n", "// comment\n", "#\n", "// POLICY x {\n"] as const;

export const WHITESPACE = [" ", "\n", "\t", "\r\n", "  ", "\n\n"] as const;

/** Characters that exercise the lexer: ASCII, controls, quotes, escapes, unicode (incl. astral and lone surrogates). */
export const WEIRD_CHARS = [
  ..."abcXYZ_019 \t\n\r{}()[],:.=<>!\"\\#/*-+;@$%^&|~`'?",
  "\u0000", "\u0007", "\u000b", "\u000c", "\u00a0", "\u00e9", "\u0301", "\u200b", "\u2028", "\u2029", "\ufeff", "\ufffd",
  "\u65e5", "\u{1f600}", "\ud800", "\udc00", "\u0130", "\u212a", "\u017f",
] as const;

export function randomChars(rng: Rng, maxLen: number): string {
  const len = rng.int(0, maxLen);
  let s = "";
  for (let i = 0; i < len; i++) {
    s += rng.chance(0.15) ? String.fromCharCode(rng.int(0, 0xffff)) : rng.pick(WEIRD_CHARS);
  }
  return s;
}

/** Random printable-ASCII-and-controls bytes decoded as latin1 (a "binary file"). */
export function randomBytes(rng: Rng, maxLen: number): string {
  const len = rng.int(0, maxLen);
  let s = "";
  for (let i = 0; i < len; i++) s += String.fromCharCode(rng.int(0, 255));
  return s;
}

export function randomToken(rng: Rng): string {
  return rng.weighted<() => string>([
    [5, () => rng.pick(KEYWORDS)],
    [4, () => rng.pick(PUNCTUATION)],
    [3, () => rng.pick(ATTRIBUTE_WORDS)],
    [3, () => rng.pick(LITERALS)],
    [1, () => rng.pick(COMMENTS)],
    [1, () => rng.string("abcdefghijklmnopqrstuvwxyz_", rng.int(1, 8))],
    [0.3, () => rng.pick(WEIRD_CHARS)],
  ])();
}

/** Token soup: a random sequence of words of the language. */
export function tokenSoup(rng: Rng, maxTokens: number): string {
  const n = rng.int(0, maxTokens);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) {
    parts.push(randomToken(rng));
    parts.push(rng.chance(0.85) ? rng.pick(WHITESPACE) : "");
  }
  return parts.join("");
}

/** Structured token soup: plausible clause skeletons with random holes. */
export function skeletonSoup(rng: Rng): string {
  const hole = (): string => (rng.chance(0.3) ? tokenSoup(rng, 4) : "");
  const cond = (): string =>
    rng.pick([
      `${rng.pick(ATTRIBUTE_WORDS)} ${rng.pick(["==", "=", "!=", "<", ">=", "IN", "NOT IN", "STARTS_WITH", "MATCHES"])} ${rng.pick(LITERALS)}`,
      `${rng.pick(LITERALS)} ${rng.pick(["==", "<", ">="])} ${rng.pick(ATTRIBUTE_WORDS)}`,
      `${rng.pick(ATTRIBUTE_WORDS)} IN [${rng.pick(LITERALS)}, ${rng.pick(LITERALS)}]`,
      `EXISTS ${rng.pick(ATTRIBUTE_WORDS)}`,
      `NOT (${rng.pick(ATTRIBUTE_WORDS)} == ${rng.pick(ATTRIBUTE_WORDS)})`,
    ]);
  const clauses = [
    `DESCRIPTION: ${rng.pick(LITERALS)}`,
    `SCOPE: ${rng.pick(["requests", "customer_data", "x"])}${rng.chance(0.5) ? ` WHERE ${cond()}` : ""}`,
    `CONSTRAINT: ${cond()} ${rng.pick(["AND", "OR"])} ${cond()}`,
    `ENFORCEMENT: ${rng.pick(["BLOCKING", "ADVISORY", "AUDIT_ONLY", "REQUIRE_APPROVAL", "BLOKING", "x"])}`,
    `AUDIT: ${rng.pick(["REQUIRED", "OPTIONAL", "x"])}`,
    `EXCEPTION: ${rng.pick(["e1", "e2", "\"e\""])}`,
    `APPROVAL: { APPROVERS: "g" QUORUM: ${rng.pick(LITERALS)} TIMEOUT: ${rng.pick(LITERALS)} }`,
  ];
  const items: string[] = [];
  for (let i = rng.int(0, 4); i > 0; i--) {
    items.push(
      rng.pick([
        () => `ATTRIBUTE ${rng.pick(ATTRIBUTE_WORDS)} = ${rng.pick(ATTRIBUTE_WORDS)}${rng.chance(0.3) ? ` AS ${rng.pick(["string", "number", "bool", "int"])}` : ""}`,
        () => `DEFAULT: ${rng.pick(["ALLOW", "DENY", "MAYBE"])}`,
        () => `POLICY ${rng.pick(["p", "q", "p"])} {\n${rng.subset(clauses, 0.7).map((c) => `  ${c}${hole()}`).join("\n")}\n}`,
      ])(),
    );
  }
  return items.join("\n");
}

/** Split a file into rough tokens (words, strings, punctuation, whitespace) for token-level mutations. */
export function roughTokens(text: string): string[] {
  return text.match(/"(?:[^"\\\n]|\\.)*"?|[A-Za-z_][A-Za-z0-9_]*|-?\d+(?:\.\d+)?[A-Za-z]*|==|!=|<=|>=|\s+|#[^\n]*|\/\/[^\n]*|[\s\S]/g) ?? [];
}

export type Mutation =
  | "delete-token" | "duplicate-token" | "swap-tokens" | "insert-keyword" | "insert-punct" | "replace-token"
  | "delete-char" | "duplicate-char" | "swap-chars" | "insert-char" | "truncate" | "unicode"
  | "long-identifier" | "deep-parens" | "deep-not" | "deep-braces" | "case-flip" | "splice";

export const MUTATIONS: readonly Mutation[] = [
  "delete-token", "duplicate-token", "swap-tokens", "insert-keyword", "insert-punct", "replace-token",
  "delete-char", "duplicate-char", "swap-chars", "insert-char", "truncate", "unicode",
  "long-identifier", "deep-parens", "deep-not", "deep-braces", "case-flip", "splice",
];

/** Apply one mutation. `other` is a second valid file for splicing. */
export function mutate(rng: Rng, text: string, kind: Mutation, other: string): string {
  const toks = roughTokens(text);
  const ti = (): number => rng.int(0, Math.max(0, toks.length - 1));
  const ci = (): number => rng.int(0, text.length);
  switch (kind) {
    case "delete-token": {
      toks.splice(ti(), 1);
      return toks.join("");
    }
    case "duplicate-token": {
      const i = ti();
      toks.splice(i, 0, toks[i] ?? "");
      return toks.join("");
    }
    case "swap-tokens": {
      const i = ti();
      const j = ti();
      [toks[i], toks[j]] = [toks[j] ?? "", toks[i] ?? ""];
      return toks.join("");
    }
    case "insert-keyword": {
      toks.splice(ti(), 0, ` ${rng.pick(KEYWORDS)} `);
      return toks.join("");
    }
    case "insert-punct": {
      toks.splice(ti(), 0, rng.pick(PUNCTUATION));
      return toks.join("");
    }
    case "replace-token": {
      toks[ti()] = randomToken(rng);
      return toks.join("");
    }
    case "delete-char": {
      const i = ci();
      return text.slice(0, i) + text.slice(i + 1);
    }
    case "duplicate-char": {
      const i = ci();
      return text.slice(0, i + 1) + text.slice(i);
    }
    case "swap-chars": {
      const i = rng.int(0, Math.max(0, text.length - 2));
      return text.slice(0, i) + text.charAt(i + 1) + text.charAt(i) + text.slice(i + 2);
    }
    case "insert-char": {
      const i = ci();
      return text.slice(0, i) + rng.pick(WEIRD_CHARS) + text.slice(i);
    }
    case "truncate":
      return text.slice(0, ci());
    case "unicode": {
      const i = ci();
      const u = rng.pick(["\u00e9", "\u{1f600}", "\ud800", "\u200b", "\u2028", "\ufeff", "\u0000", "\u65e5\u672c"]);
      return text.slice(0, i) + u + text.slice(i);
    }
    case "long-identifier": {
      const i = ti();
      const len = rng.pick([1000, 10_000, 70_000]);
      toks.splice(i, 0, ` ${rng.pick(["x", "_", "request.", "customer."])}${"a".repeat(len)} `);
      return toks.join("");
    }
    case "deep-parens": {
      const n = rng.pick([150, 199, 200, 201, 1000, 10_000]);
      const inner = 'request.method == "GET"';
      const cond = rng.chance(0.7) ? `${"(".repeat(n)}${inner}${")".repeat(n)}` : "(".repeat(n);
      const i = ti();
      toks.splice(i, 0, ` ${cond} `);
      return rng.chance(0.5) ? toks.join("") : `POLICY deep { SCOPE: requests CONSTRAINT: ${cond} ENFORCEMENT: BLOCKING }\n${text}`;
    }
    case "deep-not": {
      const n = rng.pick([150, 199, 200, 201, 1000, 10_000]);
      return `POLICY deep { SCOPE: requests CONSTRAINT: ${"NOT ".repeat(n)}request.method == "GET" ENFORCEMENT: BLOCKING }\n${text}`;
    }
    case "deep-braces": {
      const n = rng.pick([100, 1000, 10_000]);
      const open = rng.pick(["{", "[", "{ (", "POLICY p {"]);
      return text.slice(0, ci()) + open.repeat(n) + text.slice(ci());
    }
    case "case-flip": {
      const i = ti();
      const t = toks[i] ?? "";
      toks[i] = [...t].map((c) => (rng.chance(0.5) ? c.toUpperCase() : c.toLowerCase())).join("");
      return toks.join("");
    }
    case "splice": {
      const a = ci();
      const b = rng.int(0, other.length);
      return text.slice(0, a) + other.slice(b);
    }
  }
}
