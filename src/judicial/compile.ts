// The compiler pipeline: parse → check → plan → optimize → codegen → package
// → sign. Each stage is named and timed, and its output can be dumped
// (`aecp compile --dump-after <stage>`). Problems in the sources come back as
// diagnostics; an exception out of here is a compiler bug or an I/O error.

import { create, toJsonString } from "@bufbuild/protobuf";
import { COMPILER_ID } from "../common/index.js";
import {
  DiagnosticBag,
  checkProgram,
  parsePolicyFile,
  type CheckedProgram,
  type Diagnostic,
  type PolicyFile,
} from "../legislative/index.js";
import {
  ABI_VERSION,
  ENFORCEMENT_CODE,
  ApprovalSchema,
  AttributeSlotSchema,
  BundleMetadataSchema,
  DefaultEffect,
  Enforcement as PbEnforcement,
  LayoutSchema,
  PolicyInfoSchema,
  SourceFileSchema,
  SourceLocationSchema,
  sha256,
  slotTypeToProto,
  sourceToProto,
  writeBundle,
  type BundleMetadata,
  type PrivateKey,
} from "../bundle/index.js";
import { codegen, type CodegenResult } from "./codegen.js";
import { printWasm, wrapComponent } from "./component.js";
import { optimize, plan, type Ir } from "./ir.js";

export const STAGES = ["parse", "check", "plan", "optimize", "codegen", "package", "sign"] as const;
export type StageName = (typeof STAGES)[number];

export interface SourceInput {
  /** Path as shown in diagnostics and recorded in the bundle (relative, `/`-separated). */
  path: string;
  text: string;
}

export interface CompileOptions {
  /** Bundle name (metadata `name`). */
  name: string;
  /** Signing key; without it the pipeline stops after `package` (no bundle file). */
  key?: PrivateKey;
  /** Stop after this stage and return its dump. */
  dumpAfter?: StageName;
}

export interface StageTiming {
  stage: StageName;
  ms: number;
}

export interface CompileResult {
  ok: boolean;
  diagnostics: Diagnostic[];
  timings: StageTiming[];
  /** The signed bundle file (when ok, a key was given and no dump stopped the pipeline). */
  bundle?: Uint8Array;
  /** Text of the requested stage dump. */
  dump?: string;
  program?: CheckedProgram;
  ir?: Ir;
  metadata?: BundleMetadata;
  component?: Uint8Array;
  stats?: CodegenResult["stats"] & { policies: number; slots: number; strings: number; moduleBytes: number; componentBytes: number };
}


function jsonDump(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (x instanceof Map ? Object.fromEntries([...x].map(([k, y]) => [String(k), y])) : x), 2);
}

/** Sources in path order: argument order never changes a bundle. */
function sortedSources(sources: readonly SourceInput[]): SourceInput[] {
  return [...sources].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Parse and check only (used by tooling and tests that need the checked program without a bundle). */
export function frontEnd(sources: readonly SourceInput[]): { files: PolicyFile[]; program: CheckedProgram; diagnostics: Diagnostic[]; ok: boolean } {
  const diags = new DiagnosticBag();
  const files = sortedSources(sources).map((s) => parsePolicyFile(s.path, s.text, diags));
  const program = checkProgram(files, diags);
  return { files, program, diagnostics: diags.sorted(), ok: !diags.hasErrors };
}

export async function compile(sources: readonly SourceInput[], opts: CompileOptions): Promise<CompileResult> {
  const timings: StageTiming[] = [];
  const diags = new DiagnosticBag();
  let t = performance.now();
  const lap = (stage: StageName): void => {
    const now = performance.now();
    timings.push({ stage, ms: now - t });
    t = now;
  };

  // INVARIANT: sources are processed in path order, so argument order never changes the bundle.
  const sorted = sortedSources(sources);
  const files = sorted.map((s) => parsePolicyFile(s.path, s.text, diags));
  lap("parse");
  if (opts.dumpAfter === "parse") return { ok: !diags.hasErrors, diagnostics: diags.sorted(), timings, dump: jsonDump(files) };
  // Check runs even after syntax errors, so one run reports every error it can
  // find (files that parsed, other policies); the parser marks broken clauses
  // so the checker does not cascade.

  const program = checkProgram(files, diags);
  lap("check");
  if (program.policies.length === 0 && !diags.hasErrors && sorted.length > 0) {
    const first = sorted[0]!;
    diags.add("W502", { file: first.path, line: 1, col: 1, start: 0, end: 0 }, "the bundle contains no policies; every request gets the DEFAULT effect");
  }
  if (opts.dumpAfter === "check") return { ok: !diags.hasErrors, diagnostics: diags.sorted(), timings, dump: jsonDump(program), program };
  if (diags.hasErrors) return { ok: false, diagnostics: diags.sorted(), timings, program };

  const planned = plan(program);
  lap("plan");
  if (opts.dumpAfter === "plan") return { ok: true, diagnostics: diags.sorted(), timings, dump: jsonDump(planned), program, ir: planned };

  const ir = optimize(planned);
  lap("optimize");
  if (opts.dumpAfter === "optimize") return { ok: true, diagnostics: diags.sorted(), timings, dump: jsonDump(ir), program, ir };

  const gen = codegen(ir);
  lap("codegen");
  if (opts.dumpAfter === "codegen") return { ok: true, diagnostics: diags.sorted(), timings, dump: await printWasm(gen.module), program, ir };

  const component = await wrapComponent(gen.module);
  const metadata = create(BundleMetadataSchema, {
    name: opts.name,
    compilerVersion: COMPILER_ID,
    abiVersion: ABI_VERSION,
    defaultEffect: ir.defaultEffect === "deny" ? DefaultEffect.DENY : DefaultEffect.ALLOW,
    slots: ir.slots.map((s) =>
      create(AttributeSlotSchema, { name: s.name, source: sourceToProto(s.source), type: slotTypeToProto(s.type), needsBytes: s.needsBytes }),
    ),
    strings: ir.strings,
    policies: program.policies.map((p) =>
      create(PolicyInfoSchema, {
        name: p.name,
        description: p.description,
        enforcement: ENFORCEMENT_CODE[p.enforcement] as PbEnforcement,
        auditRequired: p.audit === "REQUIRED",
        exceptions: p.exceptions,
        approval: p.approval
          ? create(ApprovalSchema, { approvers: p.approval.approvers, quorum: p.approval.quorum, timeoutMs: BigInt(p.approval.timeoutMs) })
          : undefined,
        location: create(SourceLocationSchema, p.location),
      }),
    ),
    exceptions: ir.exceptions,
    sources: sorted.map((s) => create(SourceFileSchema, { path: s.path, sha256: Buffer.from(sha256(new TextEncoder().encode(s.text))).toString("hex") })),
    layout: create(LayoutSchema, gen.layout),
  });
  lap("package");
  const stats = {
    ...gen.stats,
    policies: program.policies.length,
    slots: ir.slots.length,
    strings: ir.strings.length,
    moduleBytes: gen.module.length,
    componentBytes: component.length,
  };
  const base = { ok: true, diagnostics: diags.sorted(), timings, program, ir, metadata, component, stats };
  if (opts.dumpAfter === "package") return { ...base, dump: toJsonString(BundleMetadataSchema, metadata, { prettySpaces: 2 }) };
  if (!opts.key) return base;

  const bundle = writeBundle(metadata, component, opts.key);
  lap("sign");
  if (opts.dumpAfter === "sign") {
    return { ...base, bundle, dump: jsonDump({ keyId: opts.key.keyId, algorithm: "ed25519", bundleBytes: bundle.length, digestOf: "SignedContent" }) };
  }
  return { ...base, bundle };
}
