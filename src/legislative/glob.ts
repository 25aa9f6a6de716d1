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
 * Reference matcher, written directly from the semantics as a dynamic program
 * over (pattern element, string position): O(pattern × string) time, no
 * backtracking, so hostile paths cannot make it slow. Elements: a literal
 * character; `*` (any run without `/`); `**` (any run); `**\/` (empty, or any
 * run ending in `/`). `/api/**` matches `/api/` and `/api/a/b`; `/api/**\/x`
 * matches `/api/x` too.
 */
export function globMatch(pattern: string, s: string): boolean {
  type El = { k: "lit"; c: string } | { k: "star" } | { k: "globstar" } | { k: "globstar_slash" };
  const els: El[] = [];
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] === "*" && pattern[i + 1] === "*") {
      if (pattern[i + 2] === "/") {
        els.push({ k: "globstar_slash" });
        i += 2;
      } else {
        els.push({ k: "globstar" });
        i += 1;
      }
    } else if (pattern[i] === "*") els.push({ k: "star" });
    else els.push({ k: "lit", c: pattern[i]! });
  }
  const n = s.length;
  // next[j]: elements i+1.. match s[j..]; cur[j]: elements i.. match s[j..]
  let next = new Uint8Array(n + 1);
  next[n] = 1; // no elements left: matches only the empty rest
  for (let i = els.length - 1; i >= 0; i--) {
    const el = els[i]!;
    const cur = new Uint8Array(n + 1);
    if (el.k === "globstar_slash") {
      let anyTail = 0; // some k >= j with s[k] == "/" and next[k+1]
      for (let j = n; j >= 0; j--) {
        if (j < n && s[j] === "/" && next[j + 1]) anyTail = 1;
        cur[j] = next[j] || anyTail ? 1 : 0;
      }
    } else {
      for (let j = n; j >= 0; j--) {
        switch (el.k) {
          case "lit":
            cur[j] = j < n && s[j] === el.c && next[j + 1] ? 1 : 0;
            break;
          case "star":
            cur[j] = next[j] || (j < n && s[j] !== "/" && cur[j + 1]) ? 1 : 0;
            break;
          case "globstar":
            cur[j] = next[j] || (j < n && cur[j + 1]) ? 1 : 0;
            break;
        }
      }
    }
    next = cur;
  }
  return next[0] === 1;
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
