// `aecp demo --offline`: the Legislative → Judicial → evaluation pipeline on
// the bundled policies, without starting any service (CI and docs rely on
// it). Creates (once) a signing key in <state>/keys, compiles every bundle
// folder under <dir> (each sub-folder holding *.policy files) into
// <state>/bundles/<name>.bundle, verifies each against the public key, runs
// the bundles' policy tests, evaluates the sample CheckRequests shipped in
// each bundle's examples/ folder, and prints commands to try next.
// `buildBundles` (key + compile + verify) is also the first phase of the
// full demo stack (demo-stack.ts).

import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { LoadedBundle, TrustedKeys } from "../../bundle/index.js";
import { AecpError } from "../../common/index.js";
import { attributesFromCheckRequestJson } from "../../executive/index.js";
import { collectFiles, displayPath, readBytes, readText, EXIT_FAIL, EXIT_OK } from "../io.js";
import { compileCommand } from "./compile.js";
import { keygen } from "./keygen.js";
import { testCommand } from "./test.js";

export interface BuiltBundle {
  name: string;
  /** The signed bundle file. */
  file: string;
  /** The policy folder it was compiled from. */
  folder: string;
  bundle: LoadedBundle;
}

export interface BuildResult {
  keyDir: string;
  bundleDir: string;
  built: BuiltBundle[];
  /** Folders that did not compile (their diagnostics were printed). */
  failed: number;
}

/**
 * Creates the development signing key once (`<state>/keys/aecp.key`, reused
 * afterwards), compiles every bundle folder of `dir` into
 * `<state>/bundles/<name>.bundle` and verifies each signature. Throws
 * AECP_IO for a missing folder, AECP_NO_SOURCES when no folder holds policies.
 */
export async function buildBundles(dir: string, state: string, log: (s: string) => void): Promise<BuildResult> {
  const keyDir = ensureSigningKey(state, log);
  return compileAll(dir, keyDir, join(state, "bundles"));
}

/**
 * Compiles every bundle folder of `dir` with `<keyDir>/aecp.key` into
 * `bundleDir`, verifying each; the folder named `first` goes first, and
 * `onBuilt` sees each bundle as soon as it is verified; `stopped` is asked
 * before each folder (a Ctrl-C during the demo's start skips the rest).
 */
export async function compileAll(dir: string, keyDir: string, bundleDir: string, opts: { first?: string; onBuilt?: (b: BuiltBundle) => void; stopped?: () => boolean } = {}): Promise<BuildResult> {
  mkdirSync(bundleDir, { recursive: true });
  if (!existsSync(dir)) throw new AecpError("AECP_IO", `policy folder \`${dir}\` does not exist`);
  const folders = readdirSync(dir)
    .sort()
    .map((d) => join(dir, d))
    .filter((d) => statSync(d).isDirectory() && collectFiles([d], ".policy").length > 0)
    .sort((a, b) => Number(b === join(dir, opts.first ?? "")) - Number(a === join(dir, opts.first ?? "")));
  if (folders.length === 0) throw new AecpError("AECP_NO_SOURCES", `no bundle folders with .policy files under \`${dir}\``);
  const trustedKeys = TrustedKeys.fromPems([readText(join(keyDir, "aecp.pub"))]);
  let failed = 0;
  const built: BuiltBundle[] = [];
  for (const folder of folders) {
    if (opts.stopped?.()) break;
    const name = folder.split(/[\\/]/).pop()!;
    const file = join(bundleDir, `${name}.bundle`);
    if ((await compileCommand([folder], { output: file, key: join(keyDir, "aecp.key"), name })) !== EXIT_OK) {
      failed++;
      continue;
    }
    const b = { name, file, folder, bundle: LoadedBundle.load(readBytes(file), { trustedKeys }) };
    built.push(b);
    opts.onBuilt?.(b);
  }
  return { keyDir, bundleDir, built, failed };
}

/** The development signing key folder of `state` (`keys/`), created with a new key pair when it has none. */
export function ensureSigningKey(state: string, log: (s: string) => void): string {
  const keyDir = join(state, "keys");
  if (!existsSync(join(keyDir, "aecp.key"))) {
    log(`• creating a development signing key in ${displayPath(keyDir)}`);
    keygen({ out: keyDir });
  } else log(`• using the signing key in ${displayPath(keyDir)}`);
  return keyDir;
}

export async function offlineDemo(opts: { dir: string; state: string }): Promise<number> {
  const t0 = performance.now();
  const log = (s: string): void => void process.stdout.write(s + "\n");
  const { keyDir, bundleDir, built, failed: compileFailures } = await buildBundles(opts.dir, opts.state, log);
  let failed = compileFailures;
  for (const { bundle: b, folder } of built) {
    log(`\n• ${b.name}: verified ${b.ref.digest.slice(0, 23)}… signed by ${b.ref.keyId}, ${b.policies.length} policies, default ${b.defaultEffect}`);
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
    const pub = displayPath(join(keyDir, "aecp.pub"));
    log("\ntry:");
    log(`  node dist/cli/main.js inspect ${displayPath(first.file)} --pub ${pub}`);
    if (ex) log(`  node dist/cli/main.js eval ${displayPath(first.file)} --input ${displayPath(ex)} --pub ${pub}`);
    log(`  node dist/cli/main.js compile ${displayPath(first.folder)} -o ${displayPath(first.file)} --key ${displayPath(join(keyDir, "aecp.key"))} --timings`);
    log(`  node dist/cli/main.js test ${displayPath(opts.dir)}`);
    log(`  npm start    # the whole stack: distribution, approvals and a sidecar, with requests to try`);
  }
  return failed === 0 ? EXIT_OK : EXIT_FAIL;
}
