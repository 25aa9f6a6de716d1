// Syntax tree of `*.policy` files, as the parser produces it. The checker
// resolves attribute references and types on top of it; the formatter prints
// it back canonically. Plain data: serializable for golden tests.

import type { Span } from "./diagnostics.js";

export type PathSegment =
  | { kind: "name"; name: string }
  | { kind: "key"; key: string }
  | { kind: "index"; index: number };

/** A reference like `customer.region`, `request.headers["x-id"]`, `metadata["jwt"].claims.role`. */
export interface AttrRef {
  kind: "attr";
  segments: PathSegment[];
  /** Canonical text, e.g. `request.headers["x-id"]` (keys re-quoted as JSON strings). */
  text: string;
  span: Span;
}

export type Literal =
  | { kind: "str"; value: string; span: Span }
  | { kind: "num"; value: number; span: Span; raw: string }
  | { kind: "bool"; value: boolean; span: Span };

export type CompareOp = "==" | "!=" | "<" | "<=" | ">" | ">=";
export type StringOp = "starts_with" | "ends_with" | "matches";

export type Cond =
  | { kind: "and"; items: Cond[]; span: Span; braces?: boolean }
  | { kind: "or"; items: Cond[]; span: Span; braces?: boolean }
  | { kind: "not"; operand: Cond; span: Span }
  | { kind: "cmp"; op: CompareOp; left: AttrRef; right: AttrRef | Literal; span: Span }
  | { kind: "in"; negated: boolean; attr: AttrRef; values: Literal[]; span: Span }
  | { kind: "strop"; op: StringOp; attr: AttrRef; value: Literal; span: Span }
  | { kind: "exists"; attr: AttrRef; span: Span }
  | { kind: "const"; value: boolean; span: Span };

export type Enforcement = "BLOCKING" | "ADVISORY" | "AUDIT_ONLY" | "REQUIRE_APPROVAL";
export const ENFORCEMENTS: readonly Enforcement[] = ["BLOCKING", "ADVISORY", "AUDIT_ONLY", "REQUIRE_APPROVAL"];

export interface ApprovalBlock {
  approvers: string[];
  /** Span of each approver string, parallel to `approvers`. */
  approverSpans: Span[];
  quorum: number | undefined;
  quorumSpan: Span | undefined;
  /** Raw duration text as written (e.g. `15m`); the checker validates it. */
  timeout: { text: string; span: Span } | undefined;
  /** Entry keywords that appeared, even if their value had a syntax error. */
  attempted: string[];
  span: Span;
}

export interface PolicyDecl {
  kind: "policy";
  name: string;
  nameSpan: Span;
  description: string | undefined;
  scope: { subject: string; subjectSpan: Span; where: Cond | undefined; span: Span } | undefined;
  constraint: Cond | undefined;
  /** As written; the checker validates the mode. */
  enforcement: { value: string; span: Span } | undefined;
  audit: { value: string; span: Span } | undefined;
  exceptions: Array<{ name: string; span: Span }>;
  approval: ApprovalBlock | undefined;
  /** Clause keywords that appeared, even if their value had a syntax error (no "missing" cascades). */
  attempted: string[];
  span: Span;
}

export type AttrType = "string" | "number" | "bool";

export interface AttributeDecl {
  kind: "attribute";
  name: string;
  nameSpan: Span;
  source: AttrRef;
  type: { value: string; span: Span } | undefined;
  span: Span;
}

export interface DefaultDecl {
  kind: "default";
  value: string;
  span: Span;
}

/** A comment line kept for the formatter (attached to the next item). */
export interface Comment {
  text: string;
  line: number;
}

export type TopItem = PolicyDecl | AttributeDecl | DefaultDecl;

export interface PolicyFile {
  path: string;
  items: TopItem[];
  comments: Comment[];
}
