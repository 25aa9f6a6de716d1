// Canonical formatter for `*.policy` files (`aecp fmt`). It prints the syntax
// tree back in one fixed style, keeping every comment.
//
// Canonical style
//   - Keywords upper-case (POLICY, WHERE, AND, OR, NOT, IN, NOT IN, EXISTS,
//     STARTS_WITH, ENDS_WITH, MATCHES, AS, TRUE, FALSE, …). Words the checker
//     reads case-insensitively are normalized too: enforcement modes and
//     AUDIT values upper-case, `DEFAULT: ALLOW` / `DENY`, attribute types
//     lower-case (`AS string`), the scope subject `requests` lower-case.
//     Unknown values (the checker reports them) and all names are printed as
//     written.
//   - One item per block, items separated by exactly one blank line, except
//     that consecutive `ATTRIBUTE name = source [AS type]` lines form one
//     group without blank lines; a single blank line is kept where the source
//     had one between two attributes, so groups can be split. Items are never
//     reordered.
//   - `DEFAULT: ALLOW` (always with the colon).
//   - `POLICY name {` … `}` with one clause per line, indented two spaces, in
//     the fixed order DESCRIPTION, SCOPE, CONSTRAINT, ENFORCEMENT, AUDIT,
//     EXCEPTION (each, in source order), APPROVAL. An empty policy is
//     `POLICY name {}`.
//   - `APPROVAL: {` with `APPROVERS: "a", "b"`, `QUORUM: n`, `TIMEOUT: 15m`
//     each on its own line (repeated APPROVERS lines are merged), then `}`.
//   - Conditions: `==` for equality (the language also accepts `=`);
//     literal-first comparisons are printed attribute-first (`"EU" == x` →
//     `x == "EU"`, `5 < x` → `x > 5`); strings re-escaped as JSON strings
//     (using only the escapes the lexer knows: \" \\ \n \r \t \uXXXX);
//     numbers as written (`raw`); booleans `TRUE`/`FALSE` (keywords, in
//     literals too); attribute references via their canonical `text`; lists
//     as `["a", "b"]`.
//   - A condition stays on one line, with parentheses only where precedence
//     requires them (OR inside AND, AND/OR inside NOT, and an AND/OR directly
//     inside the same operator, which keeps the tree shape). It is printed as
//     a braced block instead when the source grouped it with `{ … }`, when it
//     contains such a block, when a comment sits inside it, or when its line
//     would be longer than 100 characters (at the top-level AND/OR, seen
//     through NOTs). A block is `{`, then one operand per line indented one
//     more level, every operand after the first prefixed by `AND`/`OR`, then
//     `}` at the level of the line that opened it:
//         CONSTRAINT: {
//           storage.location IN ["eu-west-1"]
//           AND NOT {
//             a == 1
//             OR b == 2
//           }
//         }
//   - Comments are kept verbatim. A comment on its own line is printed on
//     its own line before the item, clause, approval entry or operand that
//     followed it in the source (so it moves with a reordered clause), or
//     before the closing `}` of the block it was in, or at the end of the
//     file. A comment after code stays at the end of the printed line of the
//     construct whose last token preceded it (two spaces before it); when
//     several such comments land on one printed line, all but the last move
//     onto their own lines above it. Blank lines are dropped, except one
//     between top-level comments (file header, before an item, end of file)
//     where the source had any, and after a comment block that a blank line
//     separated from the item below it.
//   - Indentation is two spaces; the output ends with exactly one newline
//     (an empty file stays empty).
//
// Comment placement needs to know on which line each token was. The tree has
// spans for most tokens but not all (none for DESCRIPTION's string, clause
// keywords or closing braces), so
// `formatSource` and `formatPolicyFile(file, source)` re-tokenize the source
// for exact positions. `formatPolicyFile(file)` alone works from the spans:
// still lossless and idempotent, but a comment on a line that holds only
// span-less tokens counts as an own-line comment, and an own-line comment goes
// before the next construct that has a span (past a DESCRIPTION, or past the
// closing `}` of a policy or an APPROVAL block).

import { ENFORCEMENTS, type ApprovalBlock, type AttrRef, type Comment, type Cond, type Literal, type PolicyDecl, type PolicyFile, type TopItem } from "./ast.js";
import { DiagnosticBag, type Diagnostic, type Span } from "./diagnostics.js";
import { tokenize } from "./lexer.js";
import { parsePolicyFile } from "./parser.js";

const INDENT = "  ";
const MAX_WIDTH = 100;
const COMMENT_GAP = "  ";

/**
 * Canonical text of a parsed file. Callers only format files that parsed without errors.
 * `source`, the text `file` was parsed from, gives exact comment placement; a text that
 * does not match the tree is ignored.
 */
export function formatPolicyFile(file: PolicyFile, source?: string): string {
  const loc = (source !== undefined ? Locator.fromSource(file, source) : undefined) ?? Locator.fromAst(file);
  return new Formatter(file, loc).run();
}

/** Parse + format; returns undefined formatted text (and the diagnostics) if the file has syntax errors. */
export function formatSource(path: string, text: string): { formatted: string | undefined; diagnostics: Diagnostic[] } {
  const bag = new DiagnosticBag();
  const file = parsePolicyFile(path, text, bag);
  const diagnostics = bag.sorted();
  if (bag.hasErrors) return { formatted: undefined, diagnostics };
  return { formatted: formatPolicyFile(file, text), diagnostics };
}

// --- token positions -------------------------------------------------------------

interface Tok {
  start: number;
  end: number;
  line: number;
  /** Token kind and text; only known when positions come from the source. */
  kind: string;
  text: string;
}

/** Token positions sorted by offset: every token (from the source) or the tokens that start a span (from the tree). */
class Locator {
  private readonly byLine = new Map<number, Tok[]>();

  private constructor(
    readonly toks: Tok[],
    /** True when `toks` holds every token of the source with its kind. */
    readonly exact: boolean,
  ) {
    for (const t of toks) {
      const l = this.byLine.get(t.line);
      if (l) l.push(t);
      else this.byLine.set(t.line, [t]);
    }
  }

  static fromSource(file: PolicyFile, source: string): Locator | undefined {
    const { tokens, comments } = tokenize(file.path, source, new DiagnosticBag());
    // Refuse a source that is not the one the tree came from.
    if (comments.length !== file.comments.length) return undefined;
    for (let i = 0; i < comments.length; i++) {
      if (comments[i]!.line !== file.comments[i]!.line || comments[i]!.text !== file.comments[i]!.text) return undefined;
    }
    const toks = tokens.filter((t) => t.kind !== "eof").map((t) => ({ start: t.span.start, end: t.span.end, line: t.span.line, kind: t.kind, text: t.text }));
    const starts = new Set(toks.map((t) => t.start));
    for (const s of collectSpans(file)) if (!starts.has(s.start)) return undefined;
    return new Locator(toks, true);
  }

  static fromAst(file: PolicyFile): Locator {
    const seen = new Map<number, Tok>();
    for (const s of collectSpans(file)) {
      if (!seen.has(s.start)) seen.set(s.start, { start: s.start, end: s.start + 1, line: s.line, kind: "", text: "" });
    }
    return new Locator([...seen.values()].sort((a, b) => a.start - b.start), false);
  }

  /** Index of the first token starting at or after `offset`. */
  indexAtOrAfter(offset: number): number {
    let lo = 0;
    let hi = this.toks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.toks[mid]!.start < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Line of the first token in [start, end), falling back to `fallback`. */
  firstLine(start: number, end: number, fallback: number): number {
    const t = this.toks[this.indexAtOrAfter(start)];
    return t !== undefined && t.start < end ? t.line : fallback;
  }

  /** Line of the last token starting in [start, end), falling back to `fallback`. */
  lastLine(start: number, end: number, fallback: number): number {
    const t = this.toks[this.indexAtOrAfter(end) - 1];
    return t !== undefined && t.start >= start ? t.line : fallback;
  }

  lastOnLine(line: number): Tok | undefined {
    const l = this.byLine.get(line);
    return l?.[l.length - 1];
  }

  /** First token on a line after `line`. */
  firstAfterLine(line: number): Tok | undefined {
    let lo = 0;
    let hi = this.toks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.toks[mid]!.line <= line) lo = mid + 1;
      else hi = mid;
    }
    return this.toks[lo];
  }
}

function collectSpans(file: PolicyFile): Span[] {
  const out: Span[] = [];
  const attr = (a: AttrRef): void => void out.push(a.span);
  const lit = (l: Literal): void => void out.push(l.span);
  const cond = (c: Cond): void => {
    out.push(c.span);
    switch (c.kind) {
      case "and":
      case "or":
        c.items.forEach(cond);
        break;
      case "not":
        cond(c.operand);
        break;
      case "cmp":
        attr(c.left);
        if (c.right.kind === "attr") attr(c.right);
        else lit(c.right);
        break;
      case "in":
        attr(c.attr);
        c.values.forEach(lit);
        break;
      case "strop":
        attr(c.attr);
        lit(c.value);
        break;
      case "exists":
        attr(c.attr);
        break;
      case "const":
        break;
    }
  };
  for (const item of file.items) {
    out.push(item.span);
    if (item.kind === "attribute") {
      out.push(item.nameSpan);
      attr(item.source);
      if (item.type) out.push(item.type.span);
    } else if (item.kind === "policy") {
      out.push(item.nameSpan);
      if (item.scope) {
        out.push(item.scope.span, item.scope.subjectSpan);
        if (item.scope.where) cond(item.scope.where);
      }
      if (item.constraint) cond(item.constraint);
      if (item.enforcement) out.push(item.enforcement.span);
      if (item.audit) out.push(item.audit.span);
      for (const e of item.exceptions) out.push(e.span);
      if (item.approval) {
        const a = item.approval;
        out.push(a.span, ...(a.approverSpans ?? []));
        if (a.quorumSpan) out.push(a.quorumSpan);
        if (a.timeout) out.push(a.timeout.span);
      }
    }
  }
  return out;
}

// --- printable documents and the source units comments attach to ----------------

/** Comments of one printed line: own lines before it, and at its end. */
interface Slot {
  lead: Comment[];
  trail: Comment[];
}

type Doc =
  | { k: "line"; text: string; slot: Slot }
  /** `head` line, body one level deeper, `close` line; `closeSlot.lead` are comments before `close`. */
  | { k: "block"; head: string; slot: Slot; body: Doc[]; close: string; closeSlot: Slot };

/** A source construct with its offset range [start, end), in source order. */
type Unit =
  | { k: "leaf"; start: number; end: number; slot: Slot }
  | { k: "box"; start: number; end: number; closer: number | undefined; slot: Slot; closeSlot: Slot; children: Unit[] };

interface Built {
  doc: Doc;
  unit: Unit | undefined;
}

type Range = readonly [number, number];

const newSlot = (): Slot => ({ lead: [], trail: [] });

function leaf(text: string, range: Range | undefined, slot: Slot = newSlot()): Built {
  return { doc: { k: "line", text, slot }, unit: range && { k: "leaf", start: range[0], end: range[1], slot } };
}

// --- the formatter ---------------------------------------------------------------

type CondParent = "top" | "and" | "or" | "not";

class Formatter {
  private readonly commentLines: number[];
  private readonly blockMemo = new Map<Cond, boolean>();

  constructor(
    private readonly file: PolicyFile,
    private readonly loc: Locator,
  ) {
    this.commentLines = file.comments.map((c) => c.line).sort((a, b) => a - b);
  }

  run(): string {
    const built = this.file.items.map((it) => this.item(it));
    const root: Unit[] = built.flatMap((b) => (b.unit ? [b.unit] : []));
    const eof: Comment[] = [];
    this.attachComments(root, eof);

    const out: string[] = [];
    built.forEach((b, i) => {
      const item = this.file.items[i]!;
      const prev = this.file.items[i - 1];
      if (prev) {
        // Consecutive attributes stay grouped unless the source separated them by a blank line.
        const grouped = prev.kind === "attribute" && item.kind === "attribute";
        const prevLast = this.loc.lastLine(prev.span.start, prev.span.end, prev.span.line);
        const nextFirst = Math.min(item.span.line, ...b.doc.slot.lead.map((c) => c.line));
        if (!grouped || nextFirst - prevLast > 1) out.push("");
      }
      emit(b.doc, 0, out, item.span.line);
    });
    if (eof.length > 0) {
      if (out.length > 0) out.push("");
      emitComments(eof, "", out, true);
    }
    return out.length === 0 ? "" : `${out.join("\n")}\n`;
  }

  // --- comments ----------------------------------------------------------------

  private attachComments(root: Unit[], eof: Comment[]): void {
    for (const c of this.file.comments) {
      const t = this.loc.lastOnLine(c.line);
      if (t !== undefined && placeTrailing(root, t.start, c)) continue;
      const next = this.loc.firstAfterLine(c.line);
      placeOwnLine(root, next?.start ?? Infinity, c, eof);
    }
  }

  /** A comment on a line in [first line, last line) of the condition: it needs one operand per line. */
  private hasInteriorComment(c: Cond): boolean {
    const first = this.loc.firstLine(c.span.start, c.span.end, c.span.line);
    const last = this.loc.lastLine(c.span.start, c.span.end, first);
    if (last <= first) return false;
    const ls = this.commentLines;
    let lo = 0;
    let hi = ls.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ls[mid]! < first) lo = mid + 1;
      else hi = mid;
    }
    return lo < ls.length && ls[lo]! < last;
  }

  // --- items -------------------------------------------------------------------

  private item(it: TopItem): Built {
    const range: Range = [it.span.start, it.span.end];
    switch (it.kind) {
      case "attribute": {
        const type = it.type ? ` AS ${canonWord(it.type.value, ["string", "number", "bool"], "lower")}` : "";
        return leaf(`ATTRIBUTE ${attrText(it.name)} = ${attrText(it.source.text)}${type}`, range);
      }
      case "default":
        return leaf(`DEFAULT: ${canonWord(it.value, ["ALLOW", "DENY"], "upper")}`, range);
      case "policy":
        return this.policy(it, range);
    }
  }

  private policy(p: PolicyDecl, range: Range): Built {
    const ranges = this.clauseRanges(p);
    const body: Doc[] = [];
    const children: Unit[] = [];
    const add = (b: Built): void => {
      body.push(b.doc);
      if (b.unit) children.push(b.unit);
    };
    if (p.description !== undefined) add(leaf(`DESCRIPTION: ${quote(p.description)}`, ranges.get("DESCRIPTION")));
    if (p.scope) {
      const subject = p.scope.subject.toLowerCase() === "requests" ? "requests" : p.scope.subject;
      const r = ranges.get("SCOPE") ?? [p.scope.span.start, p.scope.span.end];
      add(p.scope.where ? this.cond(p.scope.where, 1, `SCOPE: ${subject} WHERE `, "top", r) : leaf(`SCOPE: ${subject}`, r));
    }
    if (p.constraint) add(this.cond(p.constraint, 1, "CONSTRAINT: ", "top", ranges.get("CONSTRAINT") ?? [p.constraint.span.start, p.constraint.span.end]));
    if (p.enforcement) {
      const v = canonWord(p.enforcement.value, ENFORCEMENTS, "upper");
      add(leaf(`ENFORCEMENT: ${v}`, ranges.get("ENFORCEMENT") ?? spanRange(p.enforcement.span)));
    }
    if (p.audit) add(leaf(`AUDIT: ${canonWord(p.audit.value, ["REQUIRED", "OPTIONAL"], "upper")}`, ranges.get("AUDIT") ?? spanRange(p.audit.span)));
    p.exceptions.forEach((e, i) => add(leaf(`EXCEPTION: ${e.name}`, ranges.get(`EXCEPTION#${i}`) ?? spanRange(e.span))));
    if (p.approval) add(this.approval(p.approval, ranges.get("APPROVAL") ?? spanRange(p.approval.span)));
    children.sort((a, b) => a.start - b.start);

    const slot = newSlot();
    const closeSlot = newSlot();
    return {
      doc: { k: "block", head: `POLICY ${p.name} {`, slot, body, close: "}", closeSlot },
      unit: { k: "box", start: range[0], end: range[1], closer: range[1] - 1, slot, closeSlot, children },
    };
  }

  /** Source ranges of the clauses, keyword included (from the tokens; empty without the source). */
  private clauseRanges(p: PolicyDecl): Map<string, Range> {
    const out = new Map<string, Range>();
    const entries = this.scanEntries(p.span.start, p.span.end);
    if (!entries) return out;
    const expected = new Map<string, number>([
      ["DESCRIPTION", p.description !== undefined ? 1 : 0],
      ["SCOPE", p.scope ? 1 : 0],
      ["CONSTRAINT", p.constraint ? 1 : 0],
      ["ENFORCEMENT", p.enforcement ? 1 : 0],
      ["AUDIT", p.audit ? 1 : 0],
      ["EXCEPTION", p.exceptions.length],
      ["APPROVAL", p.approval ? 1 : 0],
    ]);
    let exceptions = 0;
    for (const e of entries) {
      const key = e.kw === "EXCEPTION" ? `EXCEPTION#${exceptions++}` : e.kw;
      if (!expected.has(e.kw) || out.has(key)) return new Map();
      out.set(key, [e.start, e.end]);
    }
    for (const [kw, n] of expected) {
      const have = kw === "EXCEPTION" ? exceptions : out.has(kw) ? 1 : 0;
      if (have !== n) return new Map();
    }
    return out;
  }

  /**
   * `KEYWORD:` entries directly inside the first `{ … }` at or after `from`, each
   * from its keyword to its last token. Undefined without the source's tokens.
   */
  private scanEntries(from: number, to: number): Array<{ kw: string; start: number; end: number }> | undefined {
    if (!this.loc.exact) return undefined;
    const toks = this.loc.toks;
    let i = this.loc.indexAtOrAfter(from);
    while (i < toks.length && toks[i]!.kind !== "{") i++;
    if (i >= toks.length || toks[i]!.start >= to) return undefined;
    const out: Array<{ kw: string; start: number; end: number }> = [];
    let depth = 0;
    let prevEnd = toks[i]!.end;
    for (let j = i; j < toks.length && toks[j]!.start < to; j++) {
      const t = toks[j]!;
      if (t.kind === "{") depth++;
      else if (t.kind === "}") {
        depth--;
        if (depth === 0) {
          const last = out[out.length - 1];
          if (last) last.end = prevEnd;
          return out;
        }
      } else if (depth === 1 && t.kind === "ident" && toks[j + 1]?.kind === ":") {
        const last = out[out.length - 1];
        if (last) last.end = prevEnd;
        out.push({ kw: t.text.toUpperCase(), start: t.start, end: t.end });
      }
      prevEnd = t.end;
    }
    return undefined;
  }

  private approval(a: ApprovalBlock, range: Range): Built {
    const body: Doc[] = [];
    const slots = new Map<string, Slot>();
    const line = (kw: string, text: string): void => {
      const slot = newSlot();
      slots.set(kw, slot);
      body.push({ k: "line", text: `${kw}: ${text}`, slot });
    };
    if (a.approvers.length > 0) line("APPROVERS", a.approvers.map(quote).join(", "));
    if (a.quorum !== undefined) line("QUORUM", numberText(a.quorum));
    if (a.timeout) line("TIMEOUT", a.timeout.text);

    let children: Unit[] = [];
    const entries = this.scanEntries(a.span.start, a.span.end);
    if (entries && entries.every((e) => slots.has(e.kw))) {
      children = entries.map((e) => ({ k: "leaf", start: e.start, end: e.end, slot: slots.get(e.kw)! }));
    } else {
      // Without the tokens: the values' spans (the keywords have none).
      const at = (kw: string, s: Span | undefined): Unit[] => (s && slots.has(kw) ? [{ k: "leaf", start: s.start, end: s.end, slot: slots.get(kw)! }] : []);
      children = [...(a.approverSpans ?? []).flatMap((s) => at("APPROVERS", s)), ...at("QUORUM", a.quorumSpan), ...at("TIMEOUT", a.timeout?.span)];
      children.sort((x, y) => x.start - y.start);
    }
    const slot = newSlot();
    const closeSlot = newSlot();
    return {
      doc: { k: "block", head: "APPROVAL: {", slot, body, close: "}", closeSlot },
      unit: { k: "box", start: range[0], end: range[1], closer: range[1] - 1, slot, closeSlot, children },
    };
  }

  // --- conditions --------------------------------------------------------------

  /** Layout of condition `c` printed after `prefix` at indentation `depth`. */
  private cond(c: Cond, depth: number, prefix: string, parent: CondParent, range: Range): Built {
    let core = c;
    let nots = 0;
    while (core.kind === "not") {
      core = core.operand;
      nots++;
    }
    if (core.kind === "and" || core.kind === "or") {
      const inline = prefix + inlineCond(c, parent);
      if (this.mustBlock(core) || depth * INDENT.length + inline.length > MAX_WIDTH) {
        const op = core.kind.toUpperCase();
        const body: Doc[] = [];
        const children: Unit[] = [];
        core.items.forEach((item, i) => {
          const b = this.cond(item, depth + 1, i === 0 ? "" : `${op} `, core.kind as "and" | "or", spanRange(item.span));
          body.push(b.doc);
          if (b.unit) children.push(b.unit);
        });
        const grouped = core.span.start < core.items[0]!.span.start;
        const slot = newSlot();
        const closeSlot = newSlot();
        return {
          doc: { k: "block", head: `${prefix}${"NOT ".repeat(nots)}{`, slot, body, close: "}", closeSlot },
          unit: { k: "box", start: range[0], end: range[1], closer: grouped ? core.span.end - 1 : undefined, slot, closeSlot, children },
        };
      }
    }
    return leaf(prefix + inlineCond(c, parent), range);
  }

  /** An AND/OR printed as a block whatever the line width. */
  private mustBlock(c: Cond): boolean {
    if (c.kind !== "and" && c.kind !== "or") return false;
    const memo = this.blockMemo.get(c);
    if (memo !== undefined) return memo;
    const r =
      c.braces === true ||
      c.items.some((item) => {
        let core = item;
        while (core.kind === "not") core = core.operand;
        return this.mustBlock(core);
      }) ||
      this.hasInteriorComment(c);
    this.blockMemo.set(c, r);
    return r;
  }
}

// --- comment attachment ----------------------------------------------------------

function lastSlot(u: Unit): Slot {
  return u.k === "leaf" ? u.slot : u.closeSlot;
}

/** A comment on its own line, before the token at offset `next`. */
function placeOwnLine(units: Unit[], next: number, comment: Comment, atEnd: Comment[]): void {
  for (const u of units) {
    if (u.end <= next) continue;
    if (next <= u.start || u.k === "leaf") {
      u.slot.lead.push(comment);
      return;
    }
    const bodyStart = u.children[0]?.start ?? u.closer ?? u.end;
    if (next < bodyStart) {
      u.slot.lead.push(comment);
      return;
    }
    placeOwnLine(u.children, next, comment, u.closeSlot.lead);
    return;
  }
  atEnd.push(comment);
}

/** A comment after the token at offset `last` on the same line. False if no unit holds that token. */
function placeTrailing(units: Unit[], last: number, comment: Comment): boolean {
  let prev: Unit | undefined;
  for (const u of units) {
    if (last < u.start) break;
    if (last < u.end) {
      if (u.k === "leaf") {
        u.slot.trail.push(comment);
        return true;
      }
      const bodyStart = u.children[0]?.start ?? u.closer ?? u.end;
      if (last < bodyStart) u.slot.trail.push(comment);
      else if (u.closer !== undefined && last >= u.closer) u.closeSlot.trail.push(comment);
      else if (!placeTrailing(u.children, last, comment)) u.slot.trail.push(comment);
      return true;
    }
    prev = u;
  }
  // Between two units (after an AND, a comma, …): the end of the previous one.
  if (!prev) return false;
  lastSlot(prev).trail.push(comment);
  return true;
}

// --- printing --------------------------------------------------------------------

/** A line keeps one end-of-line comment; the others move above it. */
function hoisted(slot: Slot): { lead: Comment[]; trail: Comment | undefined } {
  if (slot.trail.length <= 1) return { lead: slot.lead, trail: slot.trail[0] };
  return { lead: [...slot.lead, ...slot.trail.slice(0, -1)], trail: slot.trail[slot.trail.length - 1] };
}

function withComment(line: string, comment: Comment | undefined): string {
  return comment === undefined ? line : `${line}${COMMENT_GAP}${comment.text}`;
}

/** Own-line comments; `spaced` keeps one blank line where the source had blank lines between two of them. */
function emitComments(cs: readonly Comment[], ind: string, out: string[], spaced: boolean): void {
  cs.forEach((c, i) => {
    const prev = cs[i - 1];
    if (spaced && prev && c.line - prev.line > 1) out.push("");
    out.push(ind + c.text);
  });
}

/**
 * Print `doc` at `depth`. For a top-level item, `itemLine` is its first source
 * line: its leading comments keep their blank lines, and a comment block that
 * a blank line separated from the item stays separated.
 */
function emit(doc: Doc, depth: number, out: string[], itemLine?: number): void {
  const ind = INDENT.repeat(depth);
  const lead = (slot: Slot): Comment | undefined => {
    const h = hoisted(slot);
    if (itemLine === undefined) emitComments(h.lead, ind, out, false);
    else {
      const own = slot.lead;
      emitComments(own, ind, out, true);
      const last = own[own.length - 1];
      if (last !== undefined && itemLine - last.line > 1) out.push("");
      emitComments(h.lead.slice(own.length), ind, out, false);
    }
    return h.trail;
  };
  if (doc.k === "line") {
    const trail = lead(doc.slot);
    out.push(withComment(ind + doc.text, trail));
    return;
  }
  const dangling = doc.closeSlot.lead;
  if (doc.body.length === 0 && dangling.length === 0) {
    const trail = lead({ lead: doc.slot.lead, trail: [...doc.slot.trail, ...doc.closeSlot.trail] });
    out.push(withComment(ind + doc.head + doc.close, trail));
    return;
  }
  out.push(withComment(ind + doc.head, lead(doc.slot)));
  for (const d of doc.body) emit(d, depth + 1, out);
  const close = hoisted({ lead: dangling, trail: doc.closeSlot.trail });
  emitComments(close.lead, ind + INDENT, out, false);
  out.push(withComment(ind + doc.close, close.trail));
}

// --- one-line conditions and atoms ---------------------------------------------------

function inlineCond(c: Cond, parent: CondParent): string {
  switch (c.kind) {
    case "and": {
      const s = c.items.map((i) => inlineCond(i, "and")).join(" AND ");
      return parent === "and" || parent === "not" ? `(${s})` : s;
    }
    case "or": {
      const s = c.items.map((i) => inlineCond(i, "or")).join(" OR ");
      return parent === "top" ? s : `(${s})`;
    }
    case "not":
      return `NOT ${inlineCond(c.operand, "not")}`;
    case "cmp":
      return `${attrText(c.left.text)} ${c.op} ${c.right.kind === "attr" ? attrText(c.right.text) : literal(c.right)}`;
    case "in":
      return `${attrText(c.attr.text)} ${c.negated ? "NOT IN" : "IN"} [${c.values.map(literal).join(", ")}]`;
    case "strop":
      return `${attrText(c.attr.text)} ${c.op.toUpperCase()} ${literal(c.value)}`;
    case "exists":
      return `EXISTS ${attrText(c.attr.text)}`;
    case "const":
      return c.value ? "TRUE" : "FALSE";
  }
}

function literal(l: Literal): string {
  switch (l.kind) {
    case "str":
      return quote(l.value);
    case "num":
      return l.raw;
    case "bool":
      return l.value ? "TRUE" : "FALSE";
  }
}

/**
 * Rewrite JSON escapes the policy lexer does not accept (`\b`, `\f`) as
 * `\uXXXX`. Works on whole JSON-escaped text: escapes are matched left to
 * right, so `\\b` (an escaped backslash, then `b`) is left alone.
 */
function lexerEscapes(json: string): string {
  return json.replace(/\\(u[0-9a-fA-F]{4}|[^u])/g, (m) => (m === "\\b" ? "\\u0008" : m === "\\f" ? "\\u000c" : m));
}

/** A string literal as a JSON string. */
function quote(s: string): string {
  return lexerEscapes(JSON.stringify(s));
}

/** An attribute reference's canonical text (its keys are JSON strings). */
function attrText(text: string): string {
  return text.includes("\\") ? lexerEscapes(text) : text;
}

/** Plain decimal text of a number (no exponent: the lexer has none). Exact: shifts the digits of `String(n)`. */
function numberText(n: number): string {
  const s = String(n);
  const m = /^(-?)(\d+)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!m) return s;
  const [, sign = "", int = "", frac = "", exp = "0"] = m;
  const digits = int + frac;
  const point = int.length + Number(exp);
  if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
  if (point >= digits.length) return sign + digits + "0".repeat(point - digits.length);
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

function canonWord(value: string, known: readonly string[], kase: "upper" | "lower"): string {
  const v = kase === "upper" ? value.toUpperCase() : value.toLowerCase();
  return known.includes(v) ? v : value;
}

function spanRange(s: Span): Range {
  return [s.start, s.end];
}
