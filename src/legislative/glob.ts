// Glob patterns for `MATCHES`: `*` matches any run of characters within one
// `/`-separated segment, `**` (a whole segment) matches any run of characters
// across segments, every other character matches itself. This module holds the
// reference semantics (a JS matcher used by the interpreter); the compiler
// emits an equivalent matcher in WebAssembly.

export const MAX_GLOBSTARS = 4;

/** Undefined when valid, else the reason. */
export function validateGlob(p: string): string | undefined {
  if (p.length === 0) return "the pattern is empty";
  if (p.includes("***")) return "`***` is not a valid wildcard";
  if (p.split("**").length - 1 > MAX_GLOBSTARS) return `at most ${MAX_GLOBSTARS} \`**\` wildcards are allowed in one pattern`;
  for (let i = p.indexOf("**"); i !== -1; i = p.indexOf("**", i + 2)) {
    const before = i === 0 || p[i - 1] === "/";
    const after = i + 2 === p.length || p[i + 2] === "/";
    if (!before || !after) return "`**` must be a whole path segment (e.g. `/api/**/items`)";
  }
  return undefined;
}

export type GlobToken = { t: "lit"; s: string } | { t: "star" } | { t: "globstar" };

export function globTokens(p: string): GlobToken[] {
  const out: GlobToken[] = [];
  let lit = "";
  for (let i = 0; i < p.length; i++) {
    if (p[i] === "*") {
      if (lit) out.push({ t: "lit", s: lit });
      lit = "";
      if (p[i + 1] === "*") {
        out.push({ t: "globstar" });
        i++;
      } else out.push({ t: "star" });
    } else lit += p[i];
  }
  if (lit) out.push({ t: "lit", s: lit });
  return out;
}

/**
 * Reference matcher. `/api/**` matches `/api/`, `/api/a` and `/api/a/b`;
 * `/api/**\/x` matches `/api/x` too (a globstar may match zero segments).
 */
export function globMatch(pattern: string, s: string): boolean {
  // Compile to a RegExp once per call; the interpreter is not on a hot path.
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === "*") {
      if (pattern[i + 1] === "*") {
        i++;
        if (pattern[i + 1] === "/") {
          // `**/` may match zero segments
          re += "(?:[\\s\\S]*/)?";
          i++;
        } else re += "[\\s\\S]*";
      } else re += "[^/]*";
    } else re += ch.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
  }
  return new RegExp(re + "$").test(s);
}

/**
 * The compiled matcher treats `**` as "any characters"; a `**\/` may also
 * match zero segments, so each `**\/` is expanded into "kept" and "removed"
 * alternatives (at most 2^MAX_GLOBSTARS patterns). Sorted and unique.
 */
export function globExpansions(p: string): string[] {
  let out = [p];
  let idx = p.indexOf("**/");
  const positions: number[] = [];
  while (idx !== -1) {
    positions.push(idx);
    idx = p.indexOf("**/", idx + 3);
  }
  for (const pos of positions.reverse()) {
    out = out.flatMap((q) => [q, q.slice(0, pos) + q.slice(pos + 3)]);
  }
  return [...new Set(out)].sort();
}
