// The `aecp` command line, run as users run it: the built dist/cli/main.js in
// a child process (built once by test/global-setup.ts). Command names, flags,
// output shapes and exit codes are a contract: 0 ok, 1 failed check, 2 usage/IO.

import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MAIN = join(ROOT, "dist/cli/main.js");
const FIXTURES = join(ROOT, "test/fixtures/checkrequests");

function aecp(args: string[], opts: { input?: string; cwd?: string } = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd: opts.cwd ?? ROOT, input: opts.input, encoding: "utf8", timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

let dir: string;
let policies: string;
let bundle: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "aecp-cli-"));
  policies = join(dir, "residency");
  mkdirSync(policies);
  for (const f of readdirSync(join(ROOT, "policies/seed-examples")).filter((f) => f.endsWith(".policy"))) {
    copyFileSync(join(ROOT, "policies/seed-examples", f), join(policies, f));
  }
  bundle = join(dir, "residency.bundle");
});

describe("aecp keygen", () => {
  it("writes a PKCS#8 private key (0600) and an SPKI public key, and refuses to overwrite", () => {
    const r = aecp(["keygen", "--out", join(dir, "keys")]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/key id [0-9a-f]{32}/);
    expect(readFileSync(join(dir, "keys/aecp.key"), "utf8")).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(readFileSync(join(dir, "keys/aecp.pub"), "utf8")).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(statSync(join(dir, "keys/aecp.key")).mode & 0o777).toBe(0o600);
    const again = aecp(["keygen", "--out", join(dir, "keys")]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain("AECP_USAGE");
    expect(aecp(["keygen", "--out", join(dir, "keys2")]).code).toBe(0);
  });
});

describe("aecp compile / verify / inspect / eval", () => {
  it("compiles the seed examples into a signed bundle named after the folder", () => {
    const r = aecp(["compile", policies, "-o", bundle, "--key", join(dir, "keys/aecp.key"), "--timings"]);
    expect(r.stderr).toContain("compiled 2 policies");
    expect(r.stderr).toMatch(/parse\s+\d/);
    expect(r.code).toBe(0);
    const info = JSON.parse(aecp(["inspect", bundle, "--pub", join(dir, "keys/aecp.pub")]).stdout);
    expect(info.metadata.name).toBe("residency");
    expect(info.signature_verified).toBe(true);
    expect(info.metadata.policies.map((p: { name: string }) => p.name).sort()).toEqual(["customer_data_residency", "data_residency_eu"]);
  });

  it("verifies with the right key, fails with a wrong key or a tampered file, accepts several --pub", () => {
    expect(aecp(["verify", bundle, "--pub", join(dir, "keys/aecp.pub")]).code).toBe(0);
    const wrong = aecp(["verify", bundle, "--pub", join(dir, "keys2/aecp.pub")]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("AECP_BUNDLE_UNTRUSTED_KEY");
    expect(aecp(["verify", bundle, "--pub", join(dir, "keys2/aecp.pub"), "--pub", join(dir, "keys/aecp.pub")]).code).toBe(0);
    const bytes = readFileSync(bundle);
    bytes[bytes.length - 200]! ^= 0xff;
    const tampered = join(dir, "tampered.bundle");
    writeFileSync(tampered, bytes);
    const t = aecp(["verify", tampered, "--pub", join(dir, "keys/aecp.pub")]);
    expect(t.code).toBe(1);
    expect(t.stderr).toMatch(/AECP_BUNDLE_(DIGEST_MISMATCH|MALFORMED)/);
    expect(aecp(["verify", join(dir, "missing.bundle"), "--pub", join(dir, "keys/aecp.pub")]).code).toBe(2);
  });

  it("evaluates every captured CheckRequest shape and prints one JSON decision", () => {
    for (const f of readdirSync(FIXTURES).filter((f) => f.endsWith(".json"))) {
      const r = aecp(["eval", bundle, "--input", join(FIXTURES, f), "--pub", join(dir, "keys/aecp.pub")]);
      expect(r.code, `${f}: ${r.stderr}`).toBe(0);
      const d = JSON.parse(r.stdout);
      expect(d.effect).toBe("allow");
      expect(d.violations).toEqual([]);
      expect(d.bundle).toMatchObject({ name: "residency", verified: true, revision: null });
      expect(d.bundle.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(typeof d.eval_ns).toBe("number");
    }
  });

  it("denies a violating request read from stdin, and waives with --waiver", () => {
    const req = JSON.stringify({
      attributes: {
        request: {
          http: {
            method: "PUT",
            path: "/customers/42",
            headers: { "x-resource-type": "customer_data", "x-customer-region": "EU", "x-storage-location": "us-east-1", "x-compute-location": "eu-west-1" },
          },
        },
      },
    });
    const d = JSON.parse(aecp(["eval", bundle, "--input", "-", "--pub", join(dir, "keys/aecp.pub")], { input: req }).stdout);
    expect(d.effect).toBe("deny");
    expect(d.violations).toEqual([
      { policy: "customer_data_residency", enforcement: "BLOCKING" },
      { policy: "data_residency_eu", enforcement: "BLOCKING" },
    ]);
    const w = JSON.parse(aecp(["eval", bundle, "--input", "-", "--pub", join(dir, "keys/aecp.pub"), "--waiver", "break_glass_token_required"], { input: req }).stdout);
    expect(w.waived).toEqual([{ policy: "customer_data_residency", enforcement: "BLOCKING" }]);
    expect(w.violations).toEqual([{ policy: "data_residency_eu", enforcement: "BLOCKING" }]);
  });

  it("rejects malformed input with a code, and warns when the signature is not checked", () => {
    const bad = aecp(["eval", bundle, "--input", "-", "--pub", join(dir, "keys/aecp.pub")], { input: "{not json" });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("AECP_REQUEST_MALFORMED");
    const shape = aecp(["eval", bundle, "--input", "-"], { input: '{"hello": 1}' });
    expect(shape.code).toBe(1);
    expect(shape.stderr).toContain("AECP_REQUEST_MALFORMED");
    expect(shape.stderr).toContain("NOT verified");
    // bounded input: more than 16 MiB on stdin is refused, not buffered
    const huge = aecp(["eval", bundle, "--input", "-"], { input: "x".repeat(17 * 1024 * 1024) });
    expect(huge.code).toBe(1);
    expect(huge.stderr).toContain("AECP_REQUEST_TOO_LARGE");
  });
});

describe("aecp compile diagnostics and stages", () => {
  it("reports every error with code, location, caret and help, and exits 1", () => {
    const bad = join(dir, "bad");
    mkdirSync(bad);
    writeFileSync(join(bad, "attrs.policy"), 'ATTRIBUTE customer.region = request.headers["x-region"]\n');
    writeFileSync(
      join(bad, "p.policy"),
      'POLICY p {\n  SCOPE: requests WHERE customer.regoin == "EU"\n  ENFORCEMENT: BLOKING\n}\nPOLICY q {\n  SCOPE: requests\n  CONSTRAINT: customer.region == 5\n  ENFORCEMENT: BLOCKING\n}\n',
    );
    const r = aecp(["compile", bad, "-o", join(dir, "bad.bundle"), "--key", join(dir, "keys/aecp.key")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("error[E201]: unknown attribute `customer.regoin`");
    expect(r.stderr).toContain("did you mean `customer.region`?");
    expect(r.stderr).toMatch(/--> .*p\.policy:2:25/);
    expect(r.stderr).toMatch(/\n\s+\|\s+\^{15}/);
    expect(r.stderr).toContain("error[E402]");
    expect(r.stderr).toContain("did you mean `BLOCKING`?");
    expect(r.stderr).toContain("error[E301]");
    expect(r.stderr).toContain("3 errors, 0 warnings");
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/); // never a stack trace
  });

  it("dumps every stage with --dump-after", () => {
    const parse = aecp(["compile", policies, "--dump-after", "parse"]);
    expect(parse.code).toBe(0);
    expect(JSON.parse(parse.stdout)[0].items.length).toBeGreaterThan(0);
    for (const stage of ["check", "plan", "optimize", "package"]) {
      const r = aecp(["compile", policies, "--dump-after", stage]);
      expect(r.code, stage).toBe(0);
      expect(() => JSON.parse(r.stdout), stage).not.toThrow();
    }
    const wat = aecp(["compile", policies, "--dump-after", "codegen"]);
    expect(wat.stdout).toContain("(module");
    expect(wat.stdout).toContain('(export "aecp_eval"');
    const sign = aecp(["compile", policies, "--key", join(dir, "keys/aecp.key"), "--dump-after", "sign"]);
    expect(JSON.parse(sign.stdout).algorithm).toBe("ed25519");
    expect(aecp(["compile", policies, "--dump-after", "nonsense"]).code).toBe(2);
  });
});

describe("aecp test, fmt and usage errors", () => {
  it("runs policy test files and reports failures like a test runner", () => {
    const t = join(policies, "residency.test.yaml");
    writeFileSync(
      t,
      `cases:
  - name: EU data in the US is denied
    request: { headers: { x-resource-type: customer_data, x-customer-region: EU, x-storage-location: us-east-1, x-compute-location: eu-west-1 } }
    expect: { effect: deny, violations: [customer_data_residency, data_residency_eu] }
  - name: a deliberately wrong expectation
    request: { headers: { x-resource-type: customer_data, x-customer-region: EU, x-storage-location: eu-west-1, x-compute-location: eu-west-1 } }
    expect: { effect: deny }
`,
    );
    const r = aecp(["test", policies]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("✓ EU data in the US is denied");
    expect(r.stdout).toContain("✗ a deliberately wrong expectation");
    expect(r.stdout).toContain("expected effect deny, got allow");
    expect(r.stdout).toMatch(/\n1 passed, 1 failed\n$/);
    writeFileSync(t, "cases:\n  - name: x\n    request: {}\n    expect: { effect: maybe }\n");
    const invalid = aecp(["test", t]);
    expect(invalid.code).toBe(1);
    expect(invalid.stdout).toContain("AECP_TEST_FILE_INVALID");
  });

  it("fmt --check fails on an unformatted file and --write fixes it", () => {
    const f = join(dir, "messy.policy");
    writeFileSync(f, 'policy   messy{scope:requests enforcement:blocking constraint: request.method="GET"}');
    const check = aecp(["fmt", "--check", f]);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain("not formatted");
    expect(aecp(["fmt", "--write", f]).code).toBe(0);
    expect(aecp(["fmt", "--check", f]).code).toBe(0);
    expect(readFileSync(f, "utf8")).toContain('CONSTRAINT: request.method == "GET"');
  });

  it("exits 2 on usage errors and prints help for --help", () => {
    expect(aecp(["frobnicate"]).code).toBe(2);
    expect(aecp(["compile"]).code).toBe(2);
    expect(aecp(["verify", bundle]).code).toBe(2); // --pub is required
    expect(aecp(["compile", join(dir, "nowhere")]).code).toBe(2);
    const help = aecp(["--help"]);
    expect(help.code).toBe(0);
    for (const cmd of ["keygen", "compile", "verify", "eval", "test", "fmt", "inspect"]) expect(help.stdout).toContain(cmd);
  });

  it("is reachable as `npx aecp` after install", () => {
    // A fresh npm cache: npx links the local package into its cache, and a
    // stale entry from an earlier broken build must not decide this test.
    const cache = mkdtempSync(join(tmpdir(), "aecp-npm-cache-"));
    const r = spawnSync("npx", ["aecp", "--version"], { cwd: ROOT, encoding: "utf8", env: { ...process.env, npm_config_cache: cache } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version);
  });
});
