// Runs a bundle's WebAssembly component through a real component host: jco
// transpiles the component to JS glue + core wasm, the glue is imported from a
// temp directory and instantiated, and `evaluator.evaluate` is called with WIT
// values (the canonical-ABI path, independent of the AECP host's fast path that
// writes slot records into module memory directly).

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import type { SlotValue } from "../../src/bundle/resolve.js";
import type { SlotType } from "../../src/legislative/index.js";
import { loadJco } from "../../src/judicial/component.js";

/** WIT `value` variant (proto/policy.wit). */
export type WitValue =
  | { tag: "missing" }
  | { tag: "str"; val: string }
  | { tag: "num"; val: number }
  | { tag: "boolean"; val: boolean };

/** WIT `decision` record as the jco glue returns it. */
export interface WitDecision {
  effect: "allow" | "deny" | "pause";
  violated: Uint32Array | number[];
  waived: Uint32Array | number[];
  defaulted: boolean;
}

export interface ComponentEvaluator {
  abiVersion(): number;
  evaluate(slots: WitValue[], waivers: Uint32Array | number[]): WitDecision;
}

interface TranspiledModule {
  instantiate(
    getCoreModule: (path: string) => Promise<WebAssembly.Module>,
    imports: Record<string, unknown>,
  ): Promise<{ evaluator: ComponentEvaluator }>;
}

let root: string | undefined;
let counter = 0;

function workDir(): string {
  root ??= mkdtempSync(join(tmpdir(), "aecp-component-"));
  return root;
}

/** Remove every directory this helper created (call from afterAll). */
export function cleanupComponentHost(): void {
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
  root = undefined;
}

/** Transpile a component with jco, import its glue and instantiate it. */
export async function instantiateComponent(component: Uint8Array): Promise<ComponentEvaluator> {
  const jco = await loadJco();
  const out = await jco.transpile(component, { name: "bundle", instantiation: "async", noTypescript: true });
  const dir = join(workDir(), `c${counter++}`);
  for (const [name, bytes] of Object.entries(out.files)) {
    const file = join(dir, name);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, bytes);
  }
  const mod = (await import(/* @vite-ignore */ pathToFileURL(join(dir, "bundle.js")).href)) as TranspiledModule;
  const root_ = await mod.instantiate(async (path) => WebAssembly.compile(readFileSync(join(dir, path))), {});
  const evaluator = root_.evaluator;
  if (!evaluator || typeof evaluator.evaluate !== "function") throw new Error("transpiled component has no `evaluator` export");
  return evaluator;
}

/** Build the WIT slot list from resolved slot values (per the bundle's slot types). */
export function witSlots(slots: ReadonlyArray<{ type: SlotType }>, values: readonly SlotValue[]): WitValue[] {
  if (slots.length !== values.length) throw new Error(`expected ${slots.length} slot values, got ${values.length}`);
  return slots.map((s, i): WitValue => {
    const v = values[i];
    if (v === undefined) return { tag: "missing" };
    switch (s.type) {
      case "string":
        if (typeof v !== "string") throw new Error(`slot ${i} is a string slot but holds ${typeof v}`);
        return { tag: "str", val: v };
      case "number":
        if (typeof v !== "number") throw new Error(`slot ${i} is a number slot but holds ${typeof v}`);
        return { tag: "num", val: v };
      case "bool":
        if (typeof v !== "boolean") throw new Error(`slot ${i} is a bool slot but holds ${typeof v}`);
        return { tag: "boolean", val: v };
      case "any":
        // presence only: any non-missing variant means "present"
        return { tag: "boolean", val: true };
    }
  });
}
