// Invariants every diagnostic list must satisfy, whatever the input: spans
// inside the file they name, known codes with the catalogue's severity,
// one-line messages, the error cap, and sorted order.

import { DIAGNOSTICS, MAX_ERRORS, renderDiagnostic, type Diagnostic, type Span } from "../../src/legislative/diagnostics.js";
import type { SourceInput } from "../../src/judicial/compile.js";

/** Problems found (empty when all invariants hold). */
export function diagnosticProblems(diags: readonly Diagnostic[], sources: readonly SourceInput[]): string[] {
  const problems: string[] = [];
  const texts = new Map(sources.map((s) => [s.path, s.text]));
  const checkSpan = (what: string, span: Span): void => {
    const text = texts.get(span.file);
    if (text === undefined) {
      problems.push(`${what}: span names unknown file ${JSON.stringify(span.file)}`);
      return;
    }
    const ints = [span.line, span.col, span.start, span.end].every((x) => Number.isSafeInteger(x));
    if (!ints) problems.push(`${what}: non-integer span ${JSON.stringify(span)}`);
    if (span.line < 1 || span.col < 1) problems.push(`${what}: line/col below 1 in ${JSON.stringify(span)}`);
    if (!(span.start >= 0 && span.start <= span.end && span.end <= text.length)) {
      problems.push(`${what}: span [${span.start}, ${span.end}) outside the text (length ${text.length})`);
    }
    // line/col must agree with the offset: count the newlines before `start`.
    if (span.start >= 0 && span.start <= text.length) {
      const before = text.slice(0, span.start);
      const line = before.split("\n").length;
      const col = span.start - (before.lastIndexOf("\n") + 1) + 1;
      if (line !== span.line || col !== span.col) {
        problems.push(`${what}: span says ${span.line}:${span.col} but offset ${span.start} is at ${line}:${col}`);
      }
    }
  };
  let errors = 0;
  diags.forEach((d, i) => {
    const what = `diagnostic #${i} ${d.code} ${JSON.stringify(d.message)}`;
    const spec = (DIAGNOSTICS as Record<string, { severity: string } | undefined>)[d.code];
    if (!spec) problems.push(`${what}: unknown code`);
    else if (spec.severity !== d.severity) problems.push(`${what}: severity ${d.severity}, catalogue says ${spec.severity}`);
    if (d.severity === "error") errors++;
    if (typeof d.message !== "string" || d.message === "" || /[\n\r]/.test(d.message)) problems.push(`${what}: message is empty or not one line`);
    if (d.help !== undefined && /[\n\r]/.test(d.help)) problems.push(`${what}: help is not one line`);
    checkSpan(what, d.span);
    if (d.related) checkSpan(`${what} (related)`, d.related.span);
    try {
      renderDiagnostic(d, texts.get(d.span.file));
    } catch (e) {
      problems.push(`${what}: renderDiagnostic threw ${String(e)}`);
    }
  });
  if (errors > MAX_ERRORS + 1) problems.push(`${errors} errors reported; the cap is ${MAX_ERRORS} + one E999`);
  const e999 = diags.filter((d) => d.code === "E999").length;
  if (e999 > 1) problems.push(`${e999} E999 diagnostics`);
  if (e999 === 1 && errors !== MAX_ERRORS + 1) problems.push(`E999 reported after ${errors - 1} errors`);
  for (let i = 1; i < diags.length; i++) {
    const a = diags[i - 1]!;
    const b = diags[i]!;
    const cmp = a.span.file < b.span.file ? -1 : a.span.file > b.span.file ? 1 : a.span.start - b.span.start || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0);
    if (cmp > 0) problems.push(`diagnostics #${i - 1} and #${i} are out of order`);
  }
  return problems;
}

/** Shorten a fuzz input for a failure message. */
export function preview(text: string, max = 2000): string {
  const shown = text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;
  return JSON.stringify(shown);
}
