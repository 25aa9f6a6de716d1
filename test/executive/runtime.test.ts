// The V8 flags `aecp sidecar` sets for its own process (src/executive/runtime.ts).

import { describe, expect, it } from "vitest";
import { applySidecarV8Flags, SIDECAR_V8_FLAGS } from "../../src/executive/runtime.js";

describe("applySidecarV8Flags", () => {
  it("turns off V8's allocation-site pretenuring and fixes the old generation's growth factor at 1.25", () => {
    expect(SIDECAR_V8_FLAGS).toEqual(["--no-allocation-site-pretenuring", "--heap-growing-percent=25"]);
    const set: string[] = [];
    expect(applySidecarV8Flags([], (f) => set.push(f))).toEqual(["--no-allocation-site-pretenuring", "--heap-growing-percent=25"]);
    expect(set).toEqual(["--no-allocation-site-pretenuring", "--heap-growing-percent=25"]);
  });

  it("leaves the growth factor to an operator who sets it, including 0 (V8's dynamic factor)", () => {
    for (const argv of [["--heap-growing-percent=0"], ["--heap_growing_percent=50"], ["--expose-gc", "--heap-growing-percent=100"]]) {
      const set: string[] = [];
      expect(applySidecarV8Flags(argv, (f) => set.push(f))).toEqual(["--no-allocation-site-pretenuring"]);
      expect(set).toEqual(["--no-allocation-site-pretenuring"]);
    }
  });

  it("leaves a flag the node command line sets, in either polarity and spelling, to the operator", () => {
    for (const argv of [
      ["--allocation-site-pretenuring"],
      ["--no-allocation-site-pretenuring"],
      ["--allocation_site_pretenuring"],
      ["--noallocation-site-pretenuring"],
      ["--max-old-space-size=256", "--allocation-site-pretenuring=true"],
    ]) {
      const set: string[] = [];
      expect(applySidecarV8Flags(argv, (f) => set.push(f))).toEqual(["--heap-growing-percent=25"]);
      expect(set).toEqual(["--heap-growing-percent=25"]);
    }
  });

  it("is not fooled by unrelated flags or arguments", () => {
    const set: string[] = [];
    applySidecarV8Flags(["--expose-gc", "--import", "allocation-site-pretenuring.mjs", "--max-semi-space-size=16"], (f) => set.push(f));
    expect(set).toEqual(["--no-allocation-site-pretenuring", "--heap-growing-percent=25"]);
  });
});
