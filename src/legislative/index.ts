// Import surface of the Legislative layer: the policy language (lexer,
// parser, checker, formatter, diagnostics, built-in attribute sources).
export * from "./ast.js";
export * from "./diagnostics.js";
export { parsePolicyFile, attrText } from "./parser.js";
export { checkProgram, parseDuration } from "./checker.js";
export type { CheckedCond, CheckedPolicy, CheckedProgram, Slot, SlotType, Scalar, ApprovalSettings } from "./checker.js";
export { lookupBuiltin, sourceText, BUILTIN_NAMES } from "./sources.js";
export type { AttributeSource, JsonPath, PeerField, RequestField, SourceType } from "./sources.js";
export { globMatch, globExpansions, validateGlob, MAX_GLOBSTARS } from "./glob.js";
export { formatPolicyFile, formatSource } from "./format.js";
