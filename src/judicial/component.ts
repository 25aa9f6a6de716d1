// Stage "package" (part): wrap the core module into a WebAssembly component
// with the WIT interface from proto/policy.wit, using jco's JS API
// (componentEmbed with witSource, then componentNew). The `jco embed` CLI is
// known to panic, so only the API is used. jco is imported lazily: loading it
// costs ~0.3 s, paid only by processes that compile.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { AecpError } from "../common/index.js";
import { WIT_WORLD } from "../bundle/index.js";

let witCache: string | undefined;

/** The WIT source shipped in proto/policy.wit (resolved relative to this file in src/ or dist/). */
export function policyWit(): string {
  witCache ??= readFileSync(fileURLToPath(new URL("../../proto/policy.wit", import.meta.url)), "utf8");
  return witCache;
}

type Jco = typeof import("@bytecodealliance/jco");
let jcoPromise: Promise<Jco> | undefined;

export function loadJco(): Promise<Jco> {
  jcoPromise ??= import("@bytecodealliance/jco");
  return jcoPromise;
}

export async function wrapComponent(core: Uint8Array): Promise<Uint8Array> {
  const jco = await loadJco();
  try {
    const embedded = await jco.componentEmbed({ binary: core, witSource: policyWit(), world: WIT_WORLD });
    return await jco.componentNew(embedded);
  } catch (cause) {
    throw new AecpError("AECP_INTERNAL", "compiler bug: the generated module does not satisfy the WIT world", { cause });
  }
}

/** WebAssembly text of a core module or component (for --dump-after codegen). */
export async function printWasm(bytes: Uint8Array): Promise<string> {
  const jco = await loadJco();
  return jco.print(bytes);
}
