// Shared plumbing for the fuzz tests: a compile+load helper with a throwaway
// signing key, slot lookup by canonical source, and failure collection that
// reports the seed of every failing case.

import { compile, type SourceInput } from "../../src/judicial/compile.js";
import { generateKeyPairPem, parsePrivateKeyPem, parsePublicKeyPem, TrustedKeys, type PrivateKey } from "../../src/bundle/keys.js";
import { LoadedBundle } from "../../src/bundle/host.js";
import { sourceText } from "../../src/legislative/sources.js";
import type { CheckedProgram } from "../../src/legislative/checker.js";
import type { Diagnostic } from "../../src/legislative/diagnostics.js";
import type { SlotKey } from "./gen.js";

let keys: { key: PrivateKey; trusted: TrustedKeys } | undefined;

function signingKeys(): { key: PrivateKey; trusted: TrustedKeys } {
  if (!keys) {
    const kp = generateKeyPairPem();
    keys = { key: parsePrivateKeyPem(kp.privatePem), trusted: new TrustedKeys([parsePublicKeyPem(kp.publicPem)]) };
  }
  return keys;
}

export interface Built {
  program: CheckedProgram;
  bundle: LoadedBundle;
  /** The WebAssembly component inside the bundle. */
  component: Uint8Array;
  diagnostics: Diagnostic[];
}

/** Compile with a key and load the signed bundle; throws with the diagnostics when the sources do not compile. */
export async function build(sources: readonly SourceInput[]): Promise<Built> {
  const { key, trusted } = signingKeys();
  const r = await compile(sources, { name: "fuzz", key });
  if (!r.ok || !r.bundle || !r.program || !r.component) {
    throw new Error(`expected the program to compile:\n${r.diagnostics.map((d) => `${d.code} ${d.span.line}:${d.span.col} ${d.message}`).join("\n")}`);
  }
  return { program: r.program, bundle: LoadedBundle.load(r.bundle, { trustedKeys: trusted }), component: r.component, diagnostics: r.diagnostics };
}

/** SlotKey → slot index for a checked program. */
export function slotIndex(program: CheckedProgram): Map<SlotKey, number> {
  return new Map(program.slots.map((s) => [`${sourceText(s.source)}:${s.type}` as SlotKey, s.index]));
}

/** Collects failures; `check()` throws one message listing the first few. */
export class Failures {
  readonly items: string[] = [];
  count = 0;

  constructor(
    private readonly what: string,
    private readonly base: number,
    private readonly keep = 5,
  ) {}

  add(caseSeed: number, message: string): void {
    this.count++;
    if (this.items.length < this.keep) this.items.push(`--- case seed ${caseSeed} ---\n${message}`);
  }

  check(): void {
    if (this.count === 0) return;
    const env = process.env["FUZZ_SEED"];
    throw new Error(
      `${this.what}: ${this.count} failing case(s); base seed ${this.base} (FUZZ_SEED=${env ?? "unset"})\n${this.items.join("\n\n")}`,
    );
  }
}

/** JSON with `undefined` shown as "<missing>" and -0 kept. */
export function showValues(values: readonly unknown[]): string {
  return `[${values.map((v) => (v === undefined ? "<missing>" : Object.is(v, -0) ? "-0" : JSON.stringify(v))).join(", ")}]`;
}
