// Import surface of the Judicial layer: the compiler pipeline (plan,
// optimize, codegen, package, sign) and the reference interpreter.
export { compile, frontEnd, STAGES } from "./compile.js";
export type { CompileOptions, CompileResult, SourceInput, StageName, StageTiming } from "./compile.js";
export { interpret } from "./interpreter.js";
export type { InterpretedDecision } from "./interpreter.js";
export { plan, optimize, simplify } from "./ir.js";
export type { Ir, IrCond, IrPolicy, IrSlot, IndexGroup } from "./ir.js";
export { codegen } from "./codegen.js";
export { wrapComponent, printWasm, policyWit, loadJco } from "./component.js";
