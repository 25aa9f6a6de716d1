// Lexer for `*.policy` files. Keywords are not distinguished here: they are
// identifiers that the parser compares case-insensitively, so attribute path
// segments may reuse words like `type` or `region`. Comments (`#`, `//`) are
// collected separately so the formatter can keep them.

import type { Comment } from "./ast.js";
import type { DiagnosticBag, Span } from "./diagnostics.js";

export type TokenKind =
  | "ident"
  | "string"
  | "number"
  | "duration"
  | "{" | "}" | "(" | ")" | "[" | "]" | "," | ":" | "."
  | "=" | "==" | "!=" | "<" | "<=" | ">" | ">="
  | "eof";

export interface Token {
  kind: TokenKind;
  /** Identifier/number text, or the decoded value of a string. */
  text: string;
  span: Span;
}

const MAX_STRING_CHARS = 64 * 1024;

function isIdentStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}
function isIdentPart(c: number): boolean {
  return isIdentStart(c) || (c >= 48 && c <= 57);
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

export function tokenize(file: string, src: string, diags: DiagnosticBag): { tokens: Token[]; comments: Comment[] } {
  const tokens: Token[] = [];
  const comments: Comment[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const n = src.length;

  const span = (start: number, end: number, l = line, ls = lineStart): Span => ({ file, line: l, col: start - ls + 1, start, end });

  while (i < n) {
    const c = src.charCodeAt(i);
    if (c === 10) {
      i++;
      line++;
      lineStart = i;
      continue;
    }
    if (c === 32 || c === 9 || c === 13 || c === 0xfeff) {
      i++;
      continue;
    }
    // comments
    if (c === 35 /* # */ || (c === 47 /* / */ && src.charCodeAt(i + 1) === 47)) {
      let j = i;
      while (j < n && src.charCodeAt(j) !== 10) j++;
      comments.push({ text: src.slice(i, j).replace(/\s+$/, ""), line });
      i = j;
      continue;
    }
    const start = i;
    if (isIdentStart(c)) {
      while (i < n && isIdentPart(src.charCodeAt(i))) i++;
      tokens.push({ kind: "ident", text: src.slice(start, i), span: span(start, i) });
      continue;
    }
    if (isDigit(c) || (c === 45 /* - */ && isDigit(src.charCodeAt(i + 1)))) {
      i++;
      while (i < n && isDigit(src.charCodeAt(i))) i++;
      if (src.charCodeAt(i) === 46 && isDigit(src.charCodeAt(i + 1))) {
        i++;
        while (i < n && isDigit(src.charCodeAt(i))) i++;
      }
      // A number immediately followed by letters is a duration (`15m`, `1h30m`).
      if (i < n && isIdentStart(src.charCodeAt(i))) {
        while (i < n && isIdentPart(src.charCodeAt(i))) i++;
        tokens.push({ kind: "duration", text: src.slice(start, i), span: span(start, i) });
        continue;
      }
      const text = src.slice(start, i);
      if (!Number.isFinite(Number(text))) diags.add("E104", span(start, i), `invalid number \`${text}\``);
      tokens.push({ kind: "number", text, span: span(start, i) });
      continue;
    }
    if (c === 34 /* " */) {
      const startLine = line;
      const startLineStart = lineStart;
      i++;
      let value = "";
      let closed = false;
      while (i < n) {
        const d = src.charCodeAt(i);
        if (d === 34) {
          i++;
          closed = true;
          break;
        }
        if (d === 10) break; // strings do not span lines
        if (d === 92 /* \ */) {
          const e = src[i + 1];
          const escStart = i;
          if (e === undefined || e === "\n" || e === "\r") {
            // a backslash cannot escape the end of the line (or file): report once, stop here
            diags.add("E102", span(escStart, i + 1), "a `\\` at the end of a line does not continue the string", {
              help: 'strings end on the line they start; write `\\n` for a newline',
            });
            i++;
            break;
          }
          i += 2;
          switch (e) {
            case '"': value += '"'; break;
            case "\\": value += "\\"; break;
            case "n": value += "\n"; break;
            case "t": value += "\t"; break;
            case "r": value += "\r"; break;
            case "u": {
              const hex = src.slice(i, i + 4);
              if (/^[0-9a-fA-F]{4}$/.test(hex)) {
                const cu = parseInt(hex, 16);
                i += 4;
                if (cu >= 0xd800 && cu <= 0xdbff && src[i] === "\\" && src[i + 1] === "u" && /^[dD][c-fC-F][0-9a-fA-F]{2}$/.test(src.slice(i + 2, i + 6))) {
                  value += String.fromCharCode(cu, parseInt(src.slice(i + 2, i + 6), 16)); // surrogate pair
                  i += 6;
                } else if (cu >= 0xd800 && cu <= 0xdfff) {
                  diags.add("E102", span(escStart, i), `\`\\u${hex}\` is half of a surrogate pair; strings must be valid Unicode`, {
                    help: "write the character itself, or both halves (e.g. `\\ud83d\\ude00`)",
                  });
                } else value += String.fromCharCode(cu);
              } else {
                diags.add("E102", span(escStart, Math.min(n, i)), "invalid unicode escape; expected `\\u` and four hex digits");
              }
              break;
            }
            default:
              diags.add("E102", span(escStart, Math.min(n, i)), `invalid escape sequence \`\\${e ?? ""}\``, {
                help: 'valid escapes are \\" \\\\ \\n \\t \\r \\uXXXX',
              });
          }
          continue;
        }
        value += src[i];
        i++;
      }
      if (closed && !value.isWellFormed()) {
        diags.add("E102", span(start, i, startLine, startLineStart), "string contains half of a surrogate pair; strings must be valid Unicode");
      }
      if (!closed) {
        diags.add("E101", span(start, i, startLine, startLineStart), "unterminated string", { help: 'close the string with `"` on the same line' });
      } else if (value.length > MAX_STRING_CHARS) {
        diags.add("E101", span(start, i, startLine, startLineStart), `string longer than ${MAX_STRING_CHARS} characters`);
      }
      tokens.push({ kind: "string", text: value, span: span(start, i, startLine, startLineStart) });
      continue;
    }
    const two = src.slice(i, i + 2);
    if (two === "==" || two === "!=" || two === "<=" || two === ">=") {
      i += 2;
      tokens.push({ kind: two, text: two, span: span(start, i) });
      continue;
    }
    // Common habits from other languages: report once, then recover as the
    // token the author meant, so nothing cascades from them.
    if (two === "&&" || two === "||") {
      const word = two === "&&" ? "AND" : "OR";
      diags.add("E100", span(i, i + 2), `unexpected \`${two}\``, { help: `write \`${word}\`` });
      i += 2;
      tokens.push({ kind: "ident", text: word, span: span(start, i) });
      continue;
    }
    if (c === 39 /* ' */) {
      const end = src.indexOf("'", i + 1);
      const nl = src.indexOf("\n", i + 1);
      if (end !== -1 && (nl === -1 || end < nl)) {
        diags.add("E100", span(i, end + 1), "strings use double quotes", { help: `write ${JSON.stringify(src.slice(i + 1, end))}` });
        tokens.push({ kind: "string", text: src.slice(i + 1, end), span: span(i, end + 1) });
        i = end + 1;
        continue;
      }
    }
    const ch = src[i]!;
    if ("{}()[],:.=<>".includes(ch)) {
      i++;
      tokens.push({ kind: ch as TokenKind, text: ch, span: span(start, i) });
      continue;
    }
    // unexpected character: report once per run of bad characters
    let j = i + 1;
    while (j < n && !/[\s{}()[\],:.=<>"#/A-Za-z0-9_]/.test(src[j]!)) j++;
    const cp = src.codePointAt(i)!;
    const bad = src.slice(i, j);
    const help = bad.startsWith("!")
      ? "write `NOT`, or `!=` for not-equal"
      : bad.startsWith("&") || bad.startsWith("|")
        ? "write `AND` or `OR`"
        : bad.startsWith(";")
          ? "clauses are separated by line breaks or spaces, not `;`"
          : undefined;
    diags.add("E100", span(i, j), `unexpected character \`${String.fromCodePoint(cp)}\` (U+${cp.toString(16).toUpperCase().padStart(4, "0")})`, help === undefined ? undefined : { help });
    i = j;
  }
  tokens.push({ kind: "eof", text: "", span: span(n, n) });
  return { tokens, comments };
}
