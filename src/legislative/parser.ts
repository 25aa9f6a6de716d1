// Recursive-descent parser for `*.policy` files. On a syntax error it reports
// a diagnostic and resynchronizes at the next clause or top-level keyword, so
// one run reports every independent error. It never throws on user input.
//
// Grammar (keywords case-insensitive):
//   file      := item*
//   item      := POLICY ident '{' clause* '}'
//              | ATTRIBUTE attrref ('='|'==') attrref [AS ident]
//              | DEFAULT ':'? (ALLOW|DENY)
//   clause    := DESCRIPTION ':' string | SCOPE ':' ident [WHERE cond]
//              | CONSTRAINT ':' cond | ENFORCEMENT ':' ident | AUDIT ':' ident
//              | EXCEPTION ':' ident | APPROVAL ':' '{' approval* '}'
//   approval  := APPROVERS ':' string (',' string)* | QUORUM ':' number | TIMEOUT ':' duration
//   cond      := and (OR and)*
//   and       := unary (AND unary)*
//   unary     := NOT unary | primary
//   primary   := '(' cond ')' | '{' cond '}' | TRUE | FALSE | EXISTS attrref
//              | attrref op (literal|attrref) | literal op attrref
//              | attrref [NOT] IN '[' literal (',' literal)* ']'
//              | attrref (STARTS_WITH|ENDS_WITH|MATCHES) string
//   attrref   := ident ('.' ident | '[' (string|number) ']')*

import type { AttrRef, ApprovalBlock, CompareOp, Cond, Literal, PathSegment, PolicyDecl, PolicyFile, TopItem } from "./ast.js";
import type { DiagnosticBag, Span } from "./diagnostics.js";
import { tokenize, type Token, type TokenKind } from "./lexer.js";

const CLAUSES = ["DESCRIPTION", "SCOPE", "CONSTRAINT", "ENFORCEMENT", "AUDIT", "EXCEPTION", "APPROVAL"] as const;
const TOP = ["POLICY", "ATTRIBUTE", "DEFAULT"] as const;
/** Words that cannot start an attribute reference. */
const RESERVED = new Set(["AND", "OR", "NOT", "IN", "TRUE", "FALSE", "EXISTS", "STARTS_WITH", "ENDS_WITH", "MATCHES", "WHERE"]);
const MAX_NESTING = 200;

class SyntaxError_ extends Error {}

export function spanCover(a: Span, b: Span): Span {
  return { file: a.file, line: a.line, col: a.col, start: a.start, end: Math.max(a.end, b.end) };
}

export function attrText(segments: readonly PathSegment[]): string {
  let s = "";
  for (const seg of segments) {
    if (seg.kind === "name") s += s === "" ? seg.name : `.${seg.name}`;
    else if (seg.kind === "key") s += `[${JSON.stringify(seg.key)}]`;
    else s += `[${seg.index}]`;
  }
  return s;
}

class Parser {
  private pos = 0;
  private depth = 0;
  /** Brackets opened and not yet closed by the construct being parsed (for recovery). */
  private open = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly diags: DiagnosticBag,
  ) {}

  private get tok(): Token {
    return this.tokens[this.pos]!;
  }
  private peek(k = 1): Token {
    return this.tokens[Math.min(this.pos + k, this.tokens.length - 1)]!;
  }
  private next(): Token {
    const t = this.tok;
    if (t.kind !== "eof") this.pos++;
    return t;
  }
  private isKw(word: string, t: Token = this.tok): boolean {
    return t.kind === "ident" && t.text.toUpperCase() === word;
  }
  private describe(t: Token): string {
    if (t.kind === "eof") return "end of file";
    if (t.kind === "string") return `string ${JSON.stringify(t.text)}`;
    return `\`${t.text}\``;
  }
  private fail(t: Token, expected: string, help?: string): never {
    this.diags.add("E103", t.span, `expected ${expected}, found ${this.describe(t)}`, help === undefined ? undefined : { help });
    throw new SyntaxError_();
  }
  private tooDeep(): never {
    this.diags.add("E103", this.tok.span, `conditions are nested more than ${MAX_NESTING} levels deep`, { help: "split the condition or remove redundant parentheses" });
    throw new SyntaxError_();
  }

  private expect(kind: TokenKind, what?: string): Token {
    if (this.tok.kind !== kind) this.fail(this.tok, what ?? `\`${kind}\``);
    return this.next();
  }

  parseFile(path: string, comments: PolicyFile["comments"]): PolicyFile {
    const items: TopItem[] = [];
    while (this.tok.kind !== "eof") {
      const start = this.pos;
      try {
        if (this.isKw("POLICY")) items.push(this.parsePolicy());
        else if (this.isKw("ATTRIBUTE")) items.push(this.parseAttribute());
        else if (this.isKw("DEFAULT")) items.push(this.parseDefault());
        else this.fail(this.tok, "`POLICY`, `ATTRIBUTE` or `DEFAULT`");
      } catch (e) {
        if (!(e instanceof SyntaxError_)) throw e;
        if (this.pos === start) this.next();
        this.syncTop();
      }
    }
    return { path, items, comments };
  }

  private syncTop(): void {
    while (this.tok.kind !== "eof" && !TOP.some((w) => this.isKw(w))) this.next();
  }

  private parseDefault(): TopItem {
    const kw = this.next();
    if (this.tok.kind === ":") this.next();
    const v = this.expect("ident", "`ALLOW` or `DENY`");
    return { kind: "default", value: v.text, span: spanCover(kw.span, v.span) };
  }

  private parseAttribute(): TopItem {
    const kw = this.next();
    const name = this.parseAttrRef();
    if (this.tok.kind !== "=" && this.tok.kind !== "==") this.fail(this.tok, "`=` and the attribute's source");
    this.next();
    const source = this.parseAttrRef();
    let type: { value: string; span: Span } | undefined;
    let end = source.span;
    if (this.isKw("AS")) {
      this.next();
      const t = this.expect("ident", "a type (`string`, `number` or `bool`)");
      type = { value: t.text, span: t.span };
      end = t.span;
    }
    return { kind: "attribute", name: name.text, nameSpan: name.span, source, type, span: spanCover(kw.span, end) };
  }

  private parsePolicy(): PolicyDecl {
    const kw = this.next();
    const nameTok = this.expect("ident", "a policy name");
    const policy: PolicyDecl = {
      kind: "policy",
      name: nameTok.text,
      nameSpan: nameTok.span,
      description: undefined,
      scope: undefined,
      constraint: undefined,
      enforcement: undefined,
      audit: undefined,
      exceptions: [],
      approval: undefined,
      attempted: [],
      span: kw.span,
    };
    this.expect("{");
    const seen = new Map<string, Span>();
    while (this.tok.kind !== "}" && this.tok.kind !== "eof") {
      if (TOP.some((w) => this.isKw(w)) && this.peek().kind !== ":") break; // missing '}' — let the caller report
      const clauseStart = this.pos;
      this.open = 0;
      try {
        this.parseClause(policy, seen);
      } catch (e) {
        if (!(e instanceof SyntaxError_)) throw e;
        if (this.pos === clauseStart) this.next();
        this.syncClause(this.open);
        this.open = 0;
      }
    }
    const close = this.expect("}", "`}` closing the policy");
    policy.span = spanCover(kw.span, close.span);
    return policy;
  }

  /**
   * Recover after a syntax error inside a clause: first skip to the closers of
   * the `pending` brackets the failed construct left open, then to the next
   * `CLAUSE:` or the `}` that closes the policy. Stray `)` and `]` are skipped
   * silently (they were part of the broken construct), so one mistake gives
   * one diagnostic.
   */
  private syncClause(pending: number): void {
    let depth = pending;
    while (this.tok.kind !== "eof") {
      const t = this.tok;
      if (t.kind === "ident" && this.peek().kind === ":" && CLAUSES.some((c) => this.isKw(c, t))) return; // even inside brackets: likely unclosed
      if (depth === 0 && TOP.some((w) => this.isKw(w, t)) && this.peek().kind !== ":") return;
      if (t.kind === "{" || t.kind === "(" || t.kind === "[") depth++;
      else if (t.kind === "}" || t.kind === ")" || t.kind === "]") {
        if (depth === 0 && t.kind === "}") return;
        if (depth > 0) depth--;
      }
      this.next();
    }
  }

  private parseClause(p: PolicyDecl, seen: Map<string, Span>): void {
    const kwTok = this.tok;
    if (kwTok.kind !== "ident") this.fail(kwTok, "a clause such as `SCOPE:` or `}`");
    const kw = kwTok.text.toUpperCase();
    if (!(CLAUSES as readonly string[]).includes(kw)) {
      this.diags.add("E412", kwTok.span, `unknown clause \`${kwTok.text}\``, {
        help: `clauses are ${CLAUSES.map((c) => `\`${c}\``).join(", ")}`,
      });
      throw new SyntaxError_();
    }
    this.next();
    this.expect(":", `\`:\` after \`${kw}\``);
    const prev = seen.get(kw);
    if (prev && kw !== "EXCEPTION") {
      this.diags.add("E405", kwTok.span, `duplicate \`${kw}\` clause in policy \`${p.name}\``, {
        related: { span: prev, message: "first defined here" },
      });
    }
    seen.set(kw, kwTok.span);
    if (!p.attempted.includes(kw)) p.attempted.push(kw);
    switch (kw) {
      case "DESCRIPTION": {
        p.description = this.expect("string", "a quoted description").text;
        return;
      }
      case "SCOPE": {
        const subj = this.expect("ident", "`requests` or a resource type");
        let where: Cond | undefined;
        let end = subj.span;
        if (this.isKw("WHERE")) {
          this.next();
          where = this.parseCond();
          end = where.span;
        }
        p.scope = { subject: subj.text, subjectSpan: subj.span, where, span: spanCover(kwTok.span, end) };
        return;
      }
      case "CONSTRAINT":
        p.constraint = this.parseCond();
        return;
      case "ENFORCEMENT": {
        const t = this.expect("ident", "an enforcement mode (`BLOCKING`, `ADVISORY`, `AUDIT_ONLY`, `REQUIRE_APPROVAL`)");
        p.enforcement = { value: t.text, span: t.span };
        return;
      }
      case "AUDIT": {
        const t = this.expect("ident", "`REQUIRED` or `OPTIONAL`");
        p.audit = { value: t.text, span: t.span };
        return;
      }
      case "EXCEPTION": {
        const t = this.expect("ident", "an exception name");
        p.exceptions.push({ name: t.text, span: t.span });
        return;
      }
      case "APPROVAL":
        p.approval = this.parseApproval(kwTok.span);
        return;
    }
  }

  private parseApproval(start: Span): ApprovalBlock {
    this.expect("{", "`{` opening the APPROVAL block");
    this.open++;
    const block: ApprovalBlock = { approvers: [], approverSpans: [], quorum: undefined, quorumSpan: undefined, timeout: undefined, attempted: [], span: start };
    const entry = ["APPROVERS", "QUORUM", "TIMEOUT"];
    const approver = (): void => {
      const t = this.expect("string", "a quoted approver group");
      block.approvers.push(t.text);
      block.approverSpans.push(t.span);
    };
    while (this.tok.kind !== "}" && this.tok.kind !== "eof") {
      const entryStart = this.pos;
      try {
        const k = this.tok;
        const word = k.kind === "ident" ? k.text.toUpperCase() : "";
        if (entry.includes(word) && !block.attempted.includes(word)) block.attempted.push(word);
        if (this.isKw("APPROVERS")) {
          this.next();
          this.expect(":");
          approver();
          // commas separate approvers, and (optionally) entries: `APPROVERS: "a", QUORUM: 2`
          while (this.tok.kind === "," && this.peek().kind === "string") {
            this.next();
            approver();
          }
        } else if (this.isKw("QUORUM")) {
          this.next();
          this.expect(":");
          const t = this.expect("number", "a number");
          block.quorum = Number(t.text);
          block.quorumSpan = t.span;
        } else if (this.isKw("TIMEOUT")) {
          this.next();
          this.expect(":");
          const t = this.tok;
          if (t.kind !== "duration" && t.kind !== "number") this.fail(t, "a duration such as `15m`");
          this.next();
          block.timeout = { text: t.text, span: t.span };
        } else {
          this.fail(k, "`APPROVERS`, `QUORUM`, `TIMEOUT` or `}`");
        }
        if (this.tok.kind === ",") this.next();
      } catch (e) {
        if (!(e instanceof SyntaxError_)) throw e;
        // resynchronize inside the block: next entry keyword or the block's `}`
        if (this.pos === entryStart) this.next();
        while ((this.tok as Token).kind !== "eof" && (this.tok as Token).kind !== "}" && !entry.some((w) => this.isKw(w))) {
          if (this.tok.kind === "ident" && this.peek().kind === ":" && CLAUSES.some((c) => this.isKw(c))) throw e; // block never closed
          this.next();
        }
      }
    }
    const close = this.expect("}", "`}` closing the APPROVAL block");
    this.open--;
    block.span = spanCover(start, close.span);
    return block;
  }

  // --- conditions --------------------------------------------------------------

  parseCond(): Cond {
    if (++this.depth > MAX_NESTING) this.tooDeep();
    try {
      const first = this.parseAnd();
      if (!this.isKw("OR")) return first;
      const items = [first];
      while (this.isKw("OR")) {
        this.next();
        items.push(this.parseAnd());
      }
      return { kind: "or", items, span: spanCover(first.span, items[items.length - 1]!.span) };
    } finally {
      this.depth--;
    }
  }

  private parseAnd(): Cond {
    const first = this.parseUnary();
    if (!this.isKw("AND")) return first;
    const items = [first];
    while (this.isKw("AND")) {
      this.next();
      items.push(this.parseUnary());
    }
    return { kind: "and", items, span: spanCover(first.span, items[items.length - 1]!.span) };
  }

  private parseUnary(): Cond {
    if (this.isKw("NOT")) {
      const kw = this.next();
      if (++this.depth > MAX_NESTING) this.tooDeep();
      try {
        const operand = this.parseUnary();
        return { kind: "not", operand, span: spanCover(kw.span, operand.span) };
      } finally {
        this.depth--;
      }
    }
    return this.parsePrimary();
  }

  private parsePrimary(): Cond {
    const t = this.tok;
    if (t.kind === "(" || t.kind === "{") {
      const close = t.kind === "(" ? ")" : "}";
      this.next();
      this.open++;
      const inner = this.parseCond();
      const end = this.expect(close, `\`${close}\``);
      this.open--;
      if (t.kind === "{" && (inner.kind === "and" || inner.kind === "or")) inner.braces = true;
      inner.span = spanCover(t.span, end.span);
      return inner;
    }
    if (this.isKw("TRUE") || this.isKw("FALSE")) {
      this.next();
      return { kind: "const", value: t.text.toUpperCase() === "TRUE", span: t.span };
    }
    if (this.isKw("EXISTS")) {
      this.next();
      const attr = this.parseAttrRef();
      return { kind: "exists", attr, span: spanCover(t.span, attr.span) };
    }
    if (t.kind === "string" || t.kind === "number") {
      // literal op attr → attr flipped-op literal
      const lit = this.parseLiteral();
      const opTok = this.tok;
      const op = this.compareOp();
      if (op === undefined) this.fail(opTok, "a comparison operator");
      this.next();
      const attr = this.parseAttrRef();
      return { kind: "cmp", op: flip(op), left: attr, right: lit, span: spanCover(lit.span, attr.span) };
    }
    if (t.kind !== "ident") this.fail(t, "a condition");
    const attr = this.parseAttrRef();
    const opTok = this.tok;
    const op = this.compareOp();
    if (op !== undefined) {
      this.next();
      const rt = this.tok;
      if (rt.kind === "ident" && !this.isKw("TRUE") && !this.isKw("FALSE")) {
        const right = this.parseAttrRef();
        return { kind: "cmp", op, left: attr, right, span: spanCover(attr.span, right.span) };
      }
      const right = this.parseLiteral();
      return { kind: "cmp", op, left: attr, right, span: spanCover(attr.span, right.span) };
    }
    let negated = false;
    if (this.isKw("NOT") && this.isKw("IN", this.peek())) {
      this.next();
      negated = true;
    }
    if (this.isKw("IN")) {
      this.next();
      this.expect("[", "`[` opening the list");
      this.open++;
      const values: Literal[] = [];
      if (this.tok.kind !== "]") {
        values.push(this.parseLiteral());
        while (this.tok.kind === ",") {
          this.next();
          if ((this.tok as Token).kind === "]") break; // trailing comma
          values.push(this.parseLiteral());
        }
      }
      const end = this.expect("]", "`,` or `]`");
      this.open--;
      return { kind: "in", negated, attr, values, span: spanCover(attr.span, end.span) };
    }
    for (const [word, op] of [["STARTS_WITH", "starts_with"], ["ENDS_WITH", "ends_with"], ["MATCHES", "matches"]] as const) {
      if (this.isKw(word)) {
        this.next();
        const value = this.parseLiteral();
        return { kind: "strop", op, attr, value, span: spanCover(attr.span, value.span) };
      }
    }
    this.fail(opTok, "an operator (`==`, `!=`, `<`, `IN`, `STARTS_WITH`, …)");
  }

  private compareOp(): CompareOp | undefined {
    switch (this.tok.kind) {
      case "=":
      case "==":
        return "==";
      case "!=":
      case "<":
      case "<=":
      case ">":
      case ">=":
        return this.tok.kind;
      default:
        return undefined;
    }
  }

  private parseLiteral(): Literal {
    const t = this.tok;
    if (t.kind === "string") {
      this.next();
      return { kind: "str", value: t.text, span: t.span };
    }
    if (t.kind === "number") {
      this.next();
      return { kind: "num", value: Number(t.text), raw: t.text, span: t.span };
    }
    if (this.isKw("TRUE") || this.isKw("FALSE")) {
      this.next();
      return { kind: "bool", value: t.text.toUpperCase() === "TRUE", span: t.span };
    }
    if (t.kind === "duration") {
      this.fail(t, "a literal", "durations are only valid in `TIMEOUT:`; quote the value if it is a string");
    }
    this.fail(t, "a literal (string, number, `true` or `false`)");
  }

  parseAttrRef(): AttrRef {
    const first = this.tok;
    if (first.kind !== "ident") this.fail(first, "an attribute name");
    if (RESERVED.has(first.text.toUpperCase())) this.fail(first, "an attribute name", `\`${first.text}\` is a keyword`);
    if (this.peek().kind === ":" && (CLAUSES as readonly string[]).includes(first.text.toUpperCase())) {
      this.fail(first, "a value", `the condition before \`${first.text}:\` is incomplete`);
    }
    this.next();
    const segments: PathSegment[] = [{ kind: "name", name: first.text }];
    let end = first.span;
    for (;;) {
      // segments must be adjacent: `a.b`, not `a . b` is still accepted; we only require tokens in order
      if (this.tok.kind === ".") {
        this.next();
        const seg = this.tok;
        if (seg.kind !== "ident") this.fail(seg, "a name after `.`");
        this.next();
        segments.push({ kind: "name", name: seg.text });
        end = seg.span;
      } else if (this.tok.kind === "[" && (this.peek().kind === "string" || this.peek().kind === "number") && this.peek(2).kind === "]") {
        this.next();
        const k = this.next();
        const close = this.next();
        if (k.kind === "string") segments.push({ kind: "key", key: k.text });
        else {
          const idx = Number(k.text);
          if (!Number.isInteger(idx) || idx < 0) this.fail(k, "a non-negative integer index");
          segments.push({ kind: "index", index: idx });
        }
        end = close.span;
      } else break;
    }
    return { kind: "attr", segments, text: attrText(segments), span: spanCover(first.span, end) };
  }
}

function flip(op: CompareOp): CompareOp {
  switch (op) {
    case "<":
      return ">";
    case ">":
      return "<";
    case "<=":
      return ">=";
    case ">=":
      return "<=";
    default:
      return op;
  }
}

/** Parse one policy file. Never throws for bad input; problems go to `diags`. */
export function parsePolicyFile(path: string, text: string, diags: DiagnosticBag): PolicyFile {
  const { tokens, comments } = tokenize(path, text, diags);
  return new Parser(tokens, diags).parseFile(path, comments);
}
