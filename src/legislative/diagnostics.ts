// Compiler diagnostics are data, not exceptions: every stage appends to a
// DiagnosticBag; the CLI renders them with the source line and a caret.
// INVARIANT: codes are stable; never renumber or reuse one. Messages are
// lower-case, one line, no trailing period, user names in backticks.

export type Severity = "error" | "warning";

export interface Span {
  file: string;
  /** 1-based line and column of the first character. */
  line: number;
  col: number;
  /** 0-based offsets into the file's text, [start, end). */
  start: number;
  end: number;
}

export interface Diagnostic {
  code: DiagnosticCode;
  severity: Severity;
  span: Span;
  message: string;
  help?: string;
  /** A second location, e.g. the earlier definition of a duplicate. */
  related?: { span: Span; message: string };
}

/** The diagnostic catalogue. docs/policy-language.md lists every entry. */
export const DIAGNOSTICS = {
  E100: { severity: "error", title: "unexpected character" },
  E101: { severity: "error", title: "unterminated string" },
  E102: { severity: "error", title: "invalid escape sequence" },
  E103: { severity: "error", title: "syntax error" },
  E104: { severity: "error", title: "invalid number" },
  E201: { severity: "error", title: "unknown attribute" },
  E202: { severity: "error", title: "duplicate attribute declaration" },
  E203: { severity: "error", title: "invalid attribute source" },
  E204: { severity: "error", title: "duplicate policy name" },
  E205: { severity: "error", title: "scope subject needs `resource.type`" },
  E206: { severity: "error", title: "invalid attribute name" },
  E301: { severity: "error", title: "type mismatch" },
  E302: { severity: "error", title: "operator not applicable to type" },
  E303: { severity: "error", title: "mixed types in list" },
  E401: { severity: "error", title: "missing ENFORCEMENT" },
  E402: { severity: "error", title: "unknown ENFORCEMENT mode" },
  E403: { severity: "error", title: "APPROVAL without REQUIRE_APPROVAL" },
  E404: { severity: "error", title: "REQUIRE_APPROVAL without APPROVAL" },
  E405: { severity: "error", title: "duplicate clause" },
  E406: { severity: "error", title: "missing SCOPE" },
  E407: { severity: "error", title: "invalid duration" },
  E408: { severity: "error", title: "invalid glob pattern" },
  E409: { severity: "error", title: "invalid QUORUM" },
  E410: { severity: "error", title: "unknown AUDIT value" },
  E411: { severity: "error", title: "invalid DEFAULT" },
  E412: { severity: "error", title: "unknown clause" },
  E413: { severity: "error", title: "incomplete APPROVAL block" },
  E414: { severity: "error", title: "invalid attribute type" },
  E999: { severity: "error", title: "too many errors" },
  W501: { severity: "warning", title: "scope can never match" },
  W502: { severity: "warning", title: "empty bundle" },
} as const satisfies Record<string, { severity: Severity; title: string }>;

export type DiagnosticCode = keyof typeof DIAGNOSTICS;

/** Errors beyond this many are summarized as one E999. */
export const MAX_ERRORS = 100;

export class DiagnosticBag {
  private readonly items: Diagnostic[] = [];
  private errors = 0;
  private capped = false;

  add(code: DiagnosticCode, span: Span, message: string, extra?: { help?: string; related?: Diagnostic["related"] }): void {
    const severity = DIAGNOSTICS[code].severity;
    if (severity === "error") {
      if (this.errors >= MAX_ERRORS) {
        if (!this.capped) {
          this.capped = true;
          this.items.push({ code: "E999", severity: "error", span, message: `too many errors; stopped after ${MAX_ERRORS}` });
        }
        return;
      }
      this.errors++;
    }
    const d: Diagnostic = { code, severity, span, message };
    if (extra?.help !== undefined) d.help = extra.help;
    if (extra?.related !== undefined) d.related = extra.related;
    this.items.push(d);
  }

  get hasErrors(): boolean {
    return this.errors > 0;
  }

  /** Sorted by file, then position, then code: stable output for goldens. */
  sorted(): Diagnostic[] {
    return [...this.items].sort(
      (a, b) =>
        (a.span.file < b.span.file ? -1 : a.span.file > b.span.file ? 1 : 0) ||
        a.span.start - b.span.start ||
        (a.code < b.code ? -1 : a.code > b.code ? 1 : 0),
    );
  }
}

/**
 * Render like rustc/Cedar:
 *   error[E201]: unknown attribute `customer.regoin`
 *     --> policies/eu.policy:3:30
 *      |
 *    3 | SCOPE: customer_data WHERE customer.regoin = "EU"
 *      |                            ^^^^^^^^^^^^^^^
 *      = help: did you mean `customer.region`?
 */
export function renderDiagnostic(d: Diagnostic, sourceText: string | undefined): string {
  const out: string[] = [];
  out.push(`${d.severity}[${d.code}]: ${d.message}`);
  out.push(`  --> ${d.span.file}:${d.span.line}:${d.span.col}`);
  if (sourceText !== undefined) {
    const lines = sourceText.split(/\r?\n/);
    const lineText = lines[d.span.line - 1];
    if (lineText !== undefined) {
      const num = String(d.span.line);
      const pad = " ".repeat(num.length);
      const caretLen = Math.max(1, Math.min(d.span.end - d.span.start, lineText.length - (d.span.col - 1)));
      out.push(`${pad} |`);
      out.push(`${num} | ${lineText.replace(/\t/g, " ")}`);
      out.push(`${pad} | ${" ".repeat(Math.max(0, d.span.col - 1))}${"^".repeat(caretLen)}`);
    }
  }
  if (d.related) out.push(`  note: ${d.related.message} at ${d.related.span.file}:${d.related.span.line}:${d.related.span.col}`);
  if (d.help !== undefined) out.push(`  = help: ${d.help}`);
  return out.join("\n");
}

/** Levenshtein distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

export function suggest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestD || (d === bestD && best !== undefined && c < best)) {
      best = c;
      bestD = d;
    }
  }
  const limit = Math.max(1, Math.floor(name.length / 3));
  return best !== undefined && bestD <= limit ? best : undefined;
}
