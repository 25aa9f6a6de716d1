// `aecp fmt [--check] [--write] <paths>`: canonical formatting of policy files.

import { writeFileSync } from "node:fs";
import { AecpError } from "../../common/index.js";
import { formatSource } from "../../legislative/index.js";
import { collectFiles, displayPath, readText, renderDiagnostics, EXIT_FAIL, EXIT_OK } from "../io.js";

export function fmtCommand(paths: string[], opts: { check?: boolean; write?: boolean }): number {
  const files = collectFiles(paths, ".policy");
  if (files.length === 0) throw new AecpError("AECP_NO_SOURCES", `no .policy files found in ${paths.map((p) => `\`${p}\``).join(", ")}`);
  let bad = 0;
  for (const f of files) {
    const shown = displayPath(f);
    const text = readText(f);
    const { formatted, diagnostics } = formatSource(shown, text);
    if (formatted === undefined) {
      process.stderr.write(renderDiagnostics(diagnostics, [{ path: shown, text }]) + "\n");
      bad++;
      continue;
    }
    if (opts.check) {
      if (formatted !== text) {
        process.stdout.write(`${shown}: not formatted (run \`aecp fmt --write ${shown}\`)\n`);
        bad++;
      }
    } else if (opts.write) {
      if (formatted !== text) {
        try {
          writeFileSync(f, formatted);
        } catch (cause) {
          throw new AecpError("AECP_IO", `cannot write \`${shown}\``, { cause });
        }
        process.stderr.write(`formatted ${shown}\n`);
      }
    } else {
      process.stdout.write(files.length > 1 ? `# ${shown}\n${formatted}` : formatted);
    }
  }
  return bad === 0 ? EXIT_OK : EXIT_FAIL;
}
