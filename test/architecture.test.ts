// Architecture rules, checked on every test run (STYLE.md "Shape of the tree"):
//  1. no import cycles anywhere under src/ (madge, as grpc-js runs it);
//  2. dependencies point one way: each layer may import only the layers
//     listed below, and only through their index.ts (generated code in
//     src/gen is imported directly; it has no index);
//  3. the decision core (legislative, bundle, judicial) has no transport:
//     no node:http/net/http2, grpc or undici imports.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import madge from "madge";
import { describe, expect, it } from "vitest";

const SRC = fileURLToPath(new URL("../src/", import.meta.url));

/** layer → layers it may import (besides itself). */
const ALLOWED: Record<string, readonly string[]> = {
  common: [],
  gen: [],
  legislative: ["common"],
  bundle: ["common", "legislative", "gen"],
  judicial: ["common", "legislative", "bundle"],
  executive: ["common", "legislative", "bundle"],
  distribution: ["common", "legislative", "bundle", "executive"],
  approvals: ["common", "legislative", "bundle", "executive", "audit"],
  audit: ["common", "bundle", "gen"],
  cli: ["common", "legislative", "bundle", "judicial", "executive", "distribution", "approvals", "audit"],
};
const CORE = ["legislative", "bundle", "judicial"];
const TRANSPORT = /from\s+["'](node:)?(http|https|http2|net|tls|dgram)["']|@grpc\/|from\s+["']undici["']/;

const layerOf = (file: string): string => file.split("/")[0]!;

describe("architecture", async () => {
  const res = await madge(SRC, { fileExtensions: ["ts"], tsConfig: fileURLToPath(new URL("../tsconfig.json", import.meta.url)) });
  const graph = res.obj();

  it("finds the source tree", () => {
    expect(Object.keys(graph).length).toBeGreaterThan(20);
    expect(graph["cli/main.ts"]).toBeDefined();
  });

  it("has no import cycles", () => {
    expect(res.circular()).toEqual([]);
  });

  it("imports other layers only through their index.ts, in the allowed direction", () => {
    const violations: string[] = [];
    for (const [file, deps] of Object.entries(graph)) {
      const from = layerOf(file);
      const allowed = ALLOWED[from];
      if (!allowed) {
        violations.push(`${file}: folder \`${from}\` is not a known layer (add it to ALLOWED)`);
        continue;
      }
      for (const dep of deps) {
        const to = layerOf(dep);
        if (to === from) continue;
        if (!allowed.includes(to)) violations.push(`${file} imports ${dep}: \`${from}\` may not depend on \`${to}\``);
        else if (to !== "gen" && dep !== `${to}/index.ts`) violations.push(`${file} imports ${dep}: import \`${to}\` through ${to}/index.ts`);
      }
    }
    expect(violations).toEqual([]);
  });

  it("keeps transports out of the decision core", () => {
    const offenders = Object.keys(graph)
      .filter((f) => CORE.includes(layerOf(f)))
      .filter((f) => TRANSPORT.test(readFileSync(SRC + f, "utf8")));
    expect(offenders).toEqual([]);
  });
});
