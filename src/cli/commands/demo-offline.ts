// `aecp demo [--dir <policies>] [--state <dir>]` — what `npm start` runs: the
// Legislative → Judicial → evaluation pipeline on the embedded defaults.
// Creates (once) a signing key in <state>/keys, compiles every bundle folder
// under <dir> (each sub-folder holding *.policy files) into
// <state>/bundles/<name>.bundle, verifies each against the public key, runs
// the bundles' policy tests, evaluates the sample CheckRequests shipped in
// each bundle's examples/ folder, and prints commands to try next.

import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { LoadedBundle, TrustedKeys } from "../../bundle/index.js";
import { AecpError } from "../../common/index.js";
import { attributesFromCheckRequestJson } from "../../executive/index.js";
import { collectFiles, displayPath, readBytes, readText, EXIT_FAIL, EXIT_OK } from "../io.js";
import { compileCommand } from "./compile.js";
import { keygen } from "./keygen.js";
import { testCommand } from "./test.js";

export async function demoCommand(opts: { dir: string; state: string }): Promise<number> {
  const t0 = performance.now();
  const log = (s: string): void => void process.stdout.write(s + "\n");
  const keyDir = join(opts.state, "keys");
  const bundleDir = join(opts.state, "bundles");
  if (!existsSync(join(keyDir, "aecp.key"))) {
    log(`• creating a signing key in ${displayPath(keyDir)}`);
    keygen({ out: keyDir });
  } else log(`• using the signing key in ${displayPath(keyDir)}`);
  mkdirSync(bundleDir, { recursive: true });
  if (!existsSync(opts.dir)) throw new AecpError("AECP_IO", `policy folder \`${opts.dir}\` does not exist`);
  const folders = readdirSync(opts.dir)
    .sort()
    .map((d) => join(opts.dir, d))
    .filter((d) => statSync(d).isDirectory() && collectFiles([d], ".policy").length > 0);
  if (folders.length === 0) throw new AecpError("AECP_NO_SOURCES", `no bundle folders with .policy files under \`${opts.dir}\``);
  const trustedKeys = TrustedKeys.fromPems([readText(join(keyDir, "aecp.pub"))]);
  let failed = 0;
  const built: Array<{ name: string; file: string; folder: string }> = [];
  for (const folder of folders) {
    const name = folder.split(/[\\/]/).pop()!;
    const file = join(bundleDir, `${name}.bundle`);
    log(`\n• compiling ${displayPath(folder)} → ${displayPath(file)}`);
    const code = await compileCommand([folder], { output: file, key: join(keyDir, "aecp.key"), name });
    if (code !== EXIT_OK) {
      failed++;
      continue;
    }
    const b = LoadedBundle.load(readBytes(file), { trustedKeys });
    log(`  verified: ${b.ref.digest.slice(0, 23)}… signed by ${b.ref.keyId}, ${b.policies.length} policies, default ${b.defaultEffect}`);
    built.push({ name, file, folder });
    const examples = join(folder, "examples");
    if (existsSync(examples)) {
      for (const ex of collectFiles([examples], ".json")) {
        const d = b.evaluate(attributesFromCheckRequestJson(JSON.parse(readText(ex)) as unknown));
        const v = d.violations.map((x) => `${x.policy} (${x.enforcement})`).join(", ");
        const why = v ? ` — ${v}` : d.defaulted ? ` — no policy in scope, bundle DEFAULT is ${b.defaultEffect}` : "";
        log(`  ${displayPath(ex)}: ${d.effect.toUpperCase()}${why} in ${(d.evalNs / 1000).toFixed(1)} µs`);
      }
    }
  }
  const tests = collectFiles([opts.dir], ".test.yaml");
  if (tests.length > 0) {
    log(`\n• running ${tests.length} policy test file${tests.length === 1 ? "" : "s"}`);
    if ((await testCommand([opts.dir], { verbose: false })) !== EXIT_OK) failed++;
  }
  const first = built[0];
  log(`\nready in ${((performance.now() - t0) / 1000).toFixed(1)} s — ${built.length} bundle${built.length === 1 ? "" : "s"} in ${displayPath(bundleDir)}`);
  if (first) {
    const ex = existsSync(join(first.folder, "examples")) ? collectFiles([join(first.folder, "examples")], ".json")[0] : undefined;
    log("\ntry:");
    log(`  npx aecp inspect ${displayPath(first.file)} --pub ${displayPath(join(keyDir, "aecp.pub"))}`);
    if (ex) log(`  npx aecp eval ${displayPath(first.file)} --input ${displayPath(ex)} --pub ${displayPath(join(keyDir, "aecp.pub"))}`);
    log(`  npx aecp compile ${displayPath(first.folder)} -o ${displayPath(first.file)} --key ${displayPath(join(keyDir, "aecp.key"))} --timings`);
    log(`  npx aecp test ${displayPath(opts.dir)}`);
  }
  return failed === 0 ? EXIT_OK : EXIT_FAIL;
}
