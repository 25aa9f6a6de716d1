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

export function readText(p: string): string {
  try {
    return readFileSync(p, "utf8");
  } catch (cause) {
    throw new AecpError("AECP_IO", `cannot read \`${displayPath(p)}\``, { cause });
  }
}

export function readBytes(p: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(p));
  } catch (cause) {
    throw new AecpError("AECP_IO", `cannot read \`${displayPath(p)}\``, { cause });
  }
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
