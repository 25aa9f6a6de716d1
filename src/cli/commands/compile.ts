// `aecp compile <file-or-dir>... -o <bundle> --key <private.pem> [--name <n>]
//  [--dump-after <stage>] [--timings]`: policy sources → signed bundle file.

import { renameSync, writeFileSync } from "node:fs";
import { dirname, relative, sep } from "node:path";
import { AecpError } from "../../common/index.js";
import { parsePrivateKeyPem } from "../../bundle/index.js";
import { compile, STAGES, type SourceInput, type StageName } from "../../judicial/index.js";
import { collectFiles, defaultBundleName, displayPath, readText, renderDiagnostics, EXIT_FAIL, EXIT_OK } from "../io.js";

export interface CompileCliOptions {
  output?: string;
  key?: string;
  name?: string;
  dumpAfter?: string;
  timings?: boolean;
}

export interface LoadedSources {
  /** Paths recorded in the bundle: relative to the files' common folder, `/`-separated. */
  sources: SourceInput[];
  /** Recorded path → path relative to the working directory (for messages). */
  display: Map<string, string>;
}

/**
 * Reads the policy files under `paths`. The recorded paths do not depend on
 * the working directory or on where the tree lives on disk, so the same
 * sources always give the same bundle bytes (determinism across machines).
 */
export function loadSources(paths: readonly string[]): LoadedSources {
  const files = collectFiles(paths, ".policy");
  if (files.length === 0) throw new AecpError("AECP_NO_SOURCES", `no .policy files found in ${paths.map((p) => `\`${p}\``).join(", ")}`);
  const root = commonFolder(files);
  const sources: SourceInput[] = [];
  const display = new Map<string, string>();
  for (const f of files) {
    const recorded = relative(root, f).split(sep).join("/");
    sources.push({ path: recorded, text: readText(f) });
    display.set(recorded, displayPath(f));
  }
  return { sources, display };
}

function commonFolder(files: readonly string[]): string {
  let common = dirname(files[0]!).split(sep);
  for (const f of files) {
    const parts = dirname(f).split(sep);
    let k = 0;
    while (k < common.length && k < parts.length && common[k] === parts[k]) k++;
    common = common.slice(0, k);
  }
  return common.join(sep) || sep;
}

export async function compileCommand(paths: string[], opts: CompileCliOptions): Promise<number> {
  let dumpAfter: StageName | undefined;
  if (opts.dumpAfter !== undefined) {
    if (!(STAGES as readonly string[]).includes(opts.dumpAfter)) {
      throw new AecpError("AECP_USAGE", `unknown stage \`${opts.dumpAfter}\`; stages are ${STAGES.join(", ")}`);
    }
    dumpAfter = opts.dumpAfter as StageName;
  }
  if (!dumpAfter && (!opts.output || !opts.key)) throw new AecpError("AECP_USAGE", "compile needs -o <bundle> and --key <private.pem>");
  const key = opts.key ? parsePrivateKeyPem(readText(opts.key), `\`${opts.key}\``) : undefined;
  const { sources, display } = loadSources(paths);
  const name = opts.name ?? defaultBundleName(paths[0]!);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(name)) {
    throw new AecpError("AECP_USAGE", `invalid bundle name \`${name}\`: use letters, digits, '.', '_' and '-' (at most 128 characters)`);
  }
  const result = await compile(sources, key ? { name, key, ...(dumpAfter ? { dumpAfter } : {}) } : { name, ...(dumpAfter ? { dumpAfter } : {}) });
  if (result.diagnostics.length > 0) process.stderr.write(renderDiagnostics(result.diagnostics, sources, display) + "\n");
  if (opts.timings) {
    const total = result.timings.reduce((a, t) => a + t.ms, 0);
    process.stderr.write(result.timings.map((t) => `${t.stage.padEnd(9)} ${t.ms.toFixed(2).padStart(9)} ms`).join("\n") + `\n${"total".padEnd(9)} ${total.toFixed(2).padStart(9)} ms\n`);
  }
  if (result.dump !== undefined) {
    process.stdout.write(result.dump.endsWith("\n") ? result.dump : result.dump + "\n");
    return result.ok ? EXIT_OK : EXIT_FAIL;
  }
  if (!result.ok || !result.bundle) return EXIT_FAIL;
  const out = opts.output!;
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, result.bundle);
    renameSync(tmp, out); // atomic replace: a reader never sees half a bundle
  } catch (cause) {
    throw new AecpError("AECP_IO", `cannot write \`${displayPath(out)}\``, { cause });
  }
  const s = result.stats!;
  process.stderr.write(
    `compiled ${s.policies} polic${s.policies === 1 ? "y" : "ies"} from ${sources.length} file${sources.length === 1 ? "" : "s"} into ${displayPath(out)} ` +
      `(bundle \`${name}\`, ${result.bundle.length} bytes, key ${key!.keyId})\n`,
  );
  return EXIT_OK;
}
