// Reproducible builds: the same sources and key must give bit-identical
// bundles, in one process and across processes (the child processes run the
// built JavaScript in dist/, which test/global-setup.ts builds when stale), independent of the order sources are passed in;
// and any change to a policy must change the bundle digest.

import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { parse as parseYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKeyPairPem, parsePrivateKeyPem } from "../src/bundle/keys.js";
import { compile, type SourceInput } from "../src/judicial/compile.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const run = promisify(execFile);

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

// ---------------------------------------------------------------------------
// Source sets: the seed examples and a few feature-rich conformance files
// ---------------------------------------------------------------------------

function seedExamples(): SourceInput[] {
  const dir = join(ROOT, "policies/seed-examples");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".policy"))
    .sort()
    .map((f) => ({ path: f, text: readFileSync(join(dir, f), "utf8") }));
}

function corpusSources(file: string): SourceInput[] {
  const doc = parseYaml(readFileSync(join(ROOT, "test/conformance", file), "utf8")) as { policies: Record<string, string> };
  return Object.entries(doc.policies).map(([path, text]) => ({ path, text }));
}

const SETS: Record<string, SourceInput[]> = {
  "seed-examples": seedExamples(),
  "dispatch-subjects": corpusSources("28-dispatch-subjects.yaml"),
  "in-large": corpusSources("13-in-large.yaml"),
  "glob-globstar": corpusSources("16-glob-globstar.yaml"),
  "dictionary-many-strings": corpusSources("35-dictionary-many-strings.yaml"),
};

// ---------------------------------------------------------------------------
// Child-process compilation (built JS, key PEM and sources via temp files)
// ---------------------------------------------------------------------------

const CHILD_SCRIPT = `
import { readFileSync, writeFileSync } from "node:fs";
const [root, inputFile, keyFile, outFile] = process.argv.slice(1);
const { compile } = await import(new URL("dist/judicial/index.js", root).href);
const { parsePrivateKeyPem } = await import(new URL("dist/bundle/index.js", root).href);
const input = JSON.parse(readFileSync(inputFile, "utf8"));
const key = parsePrivateKeyPem(readFileSync(keyFile, "utf8"));
const r = await compile(input.sources, { name: input.name, key });
if (!r.ok || !r.bundle) {
  process.stderr.write(JSON.stringify(r.diagnostics));
  process.exit(2);
}
writeFileSync(outFile, r.bundle);
`;

let tmp: string;
let keyFile: string;
let key: ReturnType<typeof parsePrivateKeyPem>;
let counter = 0;

async function compileInChild(name: string, sources: SourceInput[]): Promise<Uint8Array> {
  const id = counter++;
  const inputFile = join(tmp, `input-${id}.json`);
  const outFile = join(tmp, `bundle-${id}.aecp`);
  writeFileSync(inputFile, JSON.stringify({ name, sources }));
  await run(process.execPath, ["--input-type=module", "-e", CHILD_SCRIPT, pathToFileURL(ROOT.endsWith("/") ? ROOT : ROOT + "/").href, inputFile, keyFile, outFile], {
    cwd: tmp,
    timeout: 60_000,
  });
  return new Uint8Array(readFileSync(outFile));
}

async function compileHere(name: string, sources: SourceInput[]): Promise<Uint8Array> {
  const r = await compile(sources, { name, key });
  if (!r.ok || !r.bundle) throw new Error(`${name} does not compile: ${r.diagnostics.map((d) => d.message).join("; ")}`);
  return r.bundle;
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "aecp-determinism-"));
  const pair = generateKeyPairPem();
  keyFile = join(tmp, "aecp.key");
  writeFileSync(keyFile, pair.privatePem, { mode: 0o600 });
  key = parsePrivateKeyPem(pair.privatePem);
});

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("deterministic bundles", () => {
  for (const [name, sources] of Object.entries(SETS)) {
    describe(name, () => {
      it("compiles bit-identically twice in one process", async () => {
        const a = await compileHere(name, sources);
        const b = await compileHere(name, sources);
        expect(a.length).toBeGreaterThan(0);
        expect(sha256(b)).toBe(sha256(a));
        expect(Buffer.compare(Buffer.from(a), Buffer.from(b))).toBe(0);
      });

      it("does not depend on the order of the source list", async () => {
        const forward = await compileHere(name, sources);
        const reversed = await compileHere(name, [...sources].reverse());
        const rotated = await compileHere(name, [...sources.slice(1), ...sources.slice(0, 1)]);
        expect(sha256(reversed)).toBe(sha256(forward));
        expect(sha256(rotated)).toBe(sha256(forward));
      });

      it("changes the digest when one character of a policy changes", async () => {
        const base = await compileHere(name, sources);
        // Flip one character inside the first policy's name (the policy stays valid).
        const i = sources.findIndex((s) => /POLICY\s+[A-Za-z_]/.test(s.text));
        expect(i, "a source file with a policy").toBeGreaterThanOrEqual(0);
        const src = sources[i]!;
        const m = /POLICY\s+([A-Za-z_])/.exec(src.text)!;
        const at = m.index + m[0].length - 1;
        const ch = src.text[at] === "x" ? "y" : "x";
        const changed = sources.map((s, k) => (k === i ? { ...s, text: src.text.slice(0, at) + ch + src.text.slice(at + 1) } : s));
        expect(changed[i]!.text).not.toBe(src.text);
        const other = await compileHere(name, changed);
        expect(sha256(other)).not.toBe(sha256(base));
      });
    });
  }

  it("changes the digest when one character of a constraint literal changes", async () => {
    const sources = SETS["seed-examples"]!;
    const base = await compileHere("seed-examples", sources);
    const changed = sources.map((s) => ({ ...s, text: s.text.replace('"eu-central-1"', '"eu-central-2"') }));
    expect(changed.map((s) => s.text)).not.toEqual(sources.map((s) => s.text));
    expect(sha256(await compileHere("seed-examples", changed))).not.toBe(sha256(base));
  });

  it("compiles bit-identically in separate processes (built dist/, same key PEM)", async () => {
    const names = Object.keys(SETS);
    const jobs = names.flatMap((name) => [compileInChild(name, SETS[name]!), compileInChild(name, [...SETS[name]!].reverse())]);
    const results = await Promise.all(jobs);
    for (let k = 0; k < names.length; k++) {
      const name = names[k]!;
      const first = results[2 * k]!;
      const second = results[2 * k + 1]!;
      expect(sha256(second), `${name}: two child processes`).toBe(sha256(first));
      // The in-process compiler (src/ via vitest) agrees with the built one.
      expect(sha256(await compileHere(name, SETS[name]!)), `${name}: child vs in-process`).toBe(sha256(first));
    }
  });
});
