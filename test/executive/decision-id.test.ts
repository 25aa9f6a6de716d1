// Decision ids (src/executive/decision-id.ts): RFC 9562 version 4 UUIDs from
// node:crypto's CSPRNG, made without randomUUID()'s string concatenations.

import { describe, expect, it } from "vitest";
import { newDecisionId } from "../../src/executive/decision-id.js";

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("newDecisionId", () => {
  it("gives version 4, RFC 9562 variant UUIDs, lower-case, across many pool refills", () => {
    // 256 ids per 4 KiB refill: 20,000 ids cross ~78 refills
    for (let i = 0; i < 20_000; i++) expect(newDecisionId()).toMatch(V4);
  });

  it("does not repeat, and every random hex digit takes every value", () => {
    const ids = new Set<string>();
    const seen = Array.from({ length: 36 }, () => new Set<string>());
    for (let i = 0; i < 50_000; i++) {
      const id = newDecisionId();
      ids.add(id);
      for (let c = 0; c < 36; c++) seen[c]!.add(id[c]!);
    }
    expect(ids.size).toBe(50_000);
    for (let c = 0; c < 36; c++) {
      if (c === 8 || c === 13 || c === 18 || c === 23) expect([...seen[c]!]).toEqual(["-"]);
      else if (c === 14) expect([...seen[c]!]).toEqual(["4"]);
      else if (c === 19) expect([...seen[c]!].sort()).toEqual(["8", "9", "a", "b"]);
      else expect(seen[c]!.size).toBe(16);
    }
  });

  it("returns independent strings (the scratch buffer is not shared with earlier ids)", () => {
    const a = newDecisionId();
    const copy = `${a}`;
    for (let i = 0; i < 1000; i++) newDecisionId();
    expect(a).toBe(copy);
  });
});
