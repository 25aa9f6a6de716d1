// CLI plumbing shared by the commands: file discovery, reading, diagnostics
// rendering and the exit-code convention (0 ok, 1 failed check, 2 usage/IO).

import { readFileSync, readdirSync, statSync } from "node:fs";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { AecpError } from "../common/index.js";
import { renderDiagnostic, type Diagnostic } from "../legislative/index.js";

export const EXIT_OK = 0;
export const EXIT_FAIL = 1;
export const EXIT_USAGE = 2;

/** A CLI failure with a stable code; main prints `error[CODE]: message` and exits. */
export class CliExit extends Error {
  constructor(
    readonly exitCode: number,
    message?: string,
  ) {
    super(message ?? "");
  }
}

/** Display path: relative to the working directory, `/`-separated. */
export function displayPath(p: string): string {
  const rel = relative(process.cwd(), resolve(p));
  return (rel === "" ? "." : rel).split(sep).join("/");
}

/** Files under the given paths whose names end with `suffix`, sorted, de-duplicated. */
export function collectFiles(paths: readonly string[], suffix: string): string[] {
  const out = new Set<string>();
  const walk = (p: string, explicit: boolean): void => {
    let st;
    try {
      st = statSync(p);
    } catch (cause) {
      throw new AecpError("AECP_IO", `cannot read \`${p}\`: no such file or directory`, { cause });
    }
    if (st.isDirectory()) {
      for (const e of readdirSync(p).sort()) {
        if (e.startsWith(".") || e === "node_modules") continue;
        walk(join(p, e), false);
      }
    } else if (explicit || p.endsWith(suffix)) out.add(resolve(p));
  };
  for (const p of paths) walk(p, true);
  return [...out].sort();
}

/** Upper bound for any text file the CLI reads (policies, tests, keys, requests): no unbounded memory. */
export const MAX_TEXT_FILE_BYTES = 16 * 1024 * 1024;
/** Upper bound for a bundle file read by the CLI (the loader enforces its own limit too). */
export const MAX_BUNDLE_FILE_BYTES = 256 * 1024 * 1024;

function checkedSize(p: string, limit: number): void {
  let size: number;
  try {
    size = statSync(p).size;
  } catch (cause) {
    throw new AecpError("AECP_IO", `cannot read \`${displayPath(p)}\``, { cause });
  }
  if (size > limit) throw new AecpError("AECP_IO", `\`${displayPath(p)}\` is ${size} bytes; the limit is ${limit}`);
}

export function readText(p: string): string {
  checkedSize(p, MAX_TEXT_FILE_BYTES);
  try {
    return readFileSync(p, "utf8");
  } catch (cause) {
    throw new AecpError("AECP_IO", `cannot read \`${displayPath(p)}\``, { cause });
  }
}

export function readBytes(p: string): Uint8Array {
  checkedSize(p, MAX_BUNDLE_FILE_BYTES);
  try {
    return new Uint8Array(readFileSync(p));
  } catch (cause) {
    throw new AecpError("AECP_IO", `cannot read \`${displayPath(p)}\``, { cause });
  }
}

/** All of standard input as text, refusing more than MAX_TEXT_FILE_BYTES. */
export async function readStdinText(): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const c of process.stdin) {
    total += (c as Buffer).length;
    if (total > MAX_TEXT_FILE_BYTES) throw new AecpError("AECP_REQUEST_TOO_LARGE", `standard input exceeds ${MAX_TEXT_FILE_BYTES} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Render diagnostics with source excerpts. `sources` are the compiled inputs
 * (by recorded path); `display` maps a recorded path to the path shown to the
 * user (relative to the working directory).
 */
export function renderDiagnostics(
  diags: readonly Diagnostic[],
  sources: ReadonlyArray<{ path: string; text: string }>,
  display?: ReadonlyMap<string, string>,
): string {
  const texts = new Map(sources.map((s) => [s.path, s.text]));
  const shown = (file: string): string => display?.get(file) ?? file;
  const parts = diags.map((d) =>
    renderDiagnostic(
      {
        ...d,
        span: { ...d.span, file: shown(d.span.file) },
        ...(d.related ? { related: { ...d.related, span: { ...d.related.span, file: shown(d.related.span.file) } } } : {}),
      },
      texts.get(d.span.file),
    ),
  );
  const errors = diags.filter((d) => d.severity === "error").length;
  const warnings = diags.length - errors;
  if (diags.length > 0) parts.push(`${errors} error${errors === 1 ? "" : "s"}, ${warnings} warning${warnings === 1 ? "" : "s"}`);
  return parts.join("\n\n");
}

/** Default bundle name: the first argument's folder name. */
export function defaultBundleName(firstArg: string): string {
  const abs = resolve(firstArg);
  let st;
  try {
    st = statSync(abs);
  } catch {
    return basename(dirname(abs));
  }
  return basename(st.isDirectory() ? abs : dirname(abs));
}
