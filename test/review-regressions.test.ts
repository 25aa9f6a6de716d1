// Regression tests for the findings of the code review of issue 2 (each
// named after what broke). Path parameters are covered in
// test/executive/path.test.ts.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import {
  LoadedBundle,
  TrustedKeys,
  emptyRequestAttributes,
  generateKeyPairPem,
  parsePrivateKeyPem,
  parsePublicKeyPem,
  writeBundle,
  type BundleMetadata,
  type PrivateKey,
} from "../src/bundle/index.js";
import { AecpError } from "../src/common/index.js";
import { compile, frontEnd } from "../src/judicial/index.js";
import { Code, ModuleBuilder, ValType } from "../src/judicial/wasm/encoder.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
let key: PrivateKey;
let trusted: TrustedKeys;
let metadata: BundleMetadata;
let component: Uint8Array;

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return "no error";
  } catch (e) {
    if (e instanceof AecpError) return e.code;
    return `raw ${(e as Error).name}`;
  }
}

/** A fake component: the component preamble plus one core-module section. */
function componentOf(core: Uint8Array): Uint8Array {
  const size: number[] = [];
  let n = core.length;
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    size.push(b);
  } while (n);
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00, 0x01, ...size, ...core]);
}

beforeAll(async () => {
  const kp = generateKeyPairPem();
  key = parsePrivateKeyPem(kp.privatePem);
  trusted = new TrustedKeys([parsePublicKeyPem(kp.publicPem)]);
  const r = await compile([{ path: "p.policy", text: 'POLICY p { SCOPE: requests CONSTRAINT: request.method == "GET" ENFORCEMENT: BLOCKING }' }], { name: "r", key });
  metadata = r.metadata!;
  component = r.component!;
});

describe("loader hardening", () => {
  it("a module that traps in aecp_abi_version is AECP_BUNDLE_WASM_INVALID, not a raw RuntimeError", () => {
    const m = new ModuleBuilder();
    m.memory(1);
    m.export("memory", "memory", 0);
    const f = m.declareFunction({ params: [], results: [ValType.I32] });
    m.defineFunction(f, [], new Code().unreachable());
    m.export("aecp_abi_version", "func", f);
    m.export("aecp_eval", "func", f);
    const bundle = writeBundle(metadata, componentOf(m.encode()), key);
    expect(codeOf(() => LoadedBundle.load(bundle, { trustedKeys: trusted }))).toBe("AECP_BUNDLE_WASM_INVALID");
  });

  it("a module that imports host functions is refused", () => {
    // (module (type (func)) (import "env" "f" (func (type 0))))
    const core = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 2, 9, 1, 3, 0x65, 0x6e, 0x76, 1, 0x66, 0, 0]);
    const bundle = writeBundle(metadata, componentOf(core), key);
    expect(codeOf(() => LoadedBundle.load(bundle, { trustedKeys: trusted }))).toBe("AECP_BUNDLE_WASM_INVALID");
  });

  it("a misaligned or out-of-range memory layout is refused instead of silently losing violations", () => {
    const layout = metadata.layout!;
    for (const bad of [
      { ...layout, outputPtr: layout.outputPtr + 2 },
      { ...layout, inputPtr: layout.inputPtr + 4 },
      { ...layout, outputPtr: 1 << 30 },
      { ...layout, scratchPtr: 1 << 30 },
    ]) {
      const bundle = writeBundle({ ...metadata, layout: bad }, component, key);
      expect(codeOf(() => LoadedBundle.load(bundle, { trustedKeys: trusted }))).toBe("AECP_BUNDLE_MALFORMED");
    }
    const ok = LoadedBundle.load(writeBundle(metadata, component, key), { trustedKeys: trusted });
    const a = emptyRequestAttributes();
    a.method = "POST";
    expect(ok.evaluate(a).violations).toEqual([{ policy: "p", enforcement: "BLOCKING" }]);
  });
});

describe("compiler limits", () => {
  it("compiles an IN list of 140,000 strings (spread into Math.max overflowed the stack)", async () => {
    const values = Array.from({ length: 140_000 }, (_, i) => `"v${i}"`).join(", ");
    const r = await compile([{ path: "big.policy", text: `POLICY big { SCOPE: requests WHERE request.headers["x"] IN [${values}] ENFORCEMENT: BLOCKING }` }], { name: "big" });
    expect(r.ok).toBe(true);
  });

  it("compiles a nested AND whose flattening yields 150,000 terms (push(...items) overflowed the stack)", async () => {
    const terms = Array.from({ length: 150_000 }, () => "EXISTS request.method").join(" AND ");
    const r = await compile([{ path: "and.policy", text: `POLICY p { SCOPE: requests CONSTRAINT: (${terms}) AND EXISTS request.path ENFORCEMENT: BLOCKING }` }], { name: "and" });
    expect(r.ok).toBe(true);
  });
});

describe("strings", () => {
  it("a raw lone surrogate in a string literal is E102 (interpreter and module would disagree on it)", () => {
    const { diagnostics } = frontEnd([{ path: "s.policy", text: 'POLICY p { SCOPE: requests CONSTRAINT: request.path STARTS_WITH "\uD800" ENFORCEMENT: BLOCKING }' }]);
    expect(diagnostics.map((d) => d.code)).toEqual(["E102"]);
  });
});

describe("determinism across working directories", () => {
  it("the same policy folder compiled from different working directories gives identical bundles", () => {
    const dir = mkdtempSync(join(tmpdir(), "aecp-cwd-"));
    const keyFile = join(dir, "aecp.key");
    spawnSync(process.execPath, [join(ROOT, "dist/cli/main.js"), "keygen", "--out", dir]);
    const outA = join(dir, "a.bundle");
    const outB = join(dir, "b.bundle");
    const a = spawnSync(process.execPath, [join(ROOT, "dist/cli/main.js"), "compile", "policies/hipaa", "-o", outA, "--key", keyFile], { cwd: ROOT, encoding: "utf8" });
    const b = spawnSync(process.execPath, [join(ROOT, "dist/cli/main.js"), "compile", join(ROOT, "policies/hipaa"), "-o", outB, "--key", keyFile], { cwd: tmpdir(), encoding: "utf8" });
    expect(a.status, a.stderr).toBe(0);
    expect(b.status, b.stderr).toBe(0);
    expect(readFileSync(outA).equals(readFileSync(outB))).toBe(true);
  });
});
