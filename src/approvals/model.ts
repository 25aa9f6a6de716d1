// The execution instance and its state machine, as data (no storage, no
// transport). An execution is created when a sidecar pauses a request (or
// automation asks for a break-glass override) and never changes identity: the
// proposal is immutable; only `state` moves, through the transitions below,
// each one appended (never updated) with its time and actor.
//
//   pending ──► approved ───► executed      (consumed once, fingerprint-checked)
//      │    ──► overridden ─► executed
//      │    ──► rejected                    (terminal; any rejection rejects by default)
//      │    ──► expired                     (terminal; the sweeper, always means deny)
//      └──────► cancelled                   (terminal; the requester's automation)
//
// Pure functions here decide what a vote does (`tally`); the service applies
// the result with compare-and-set in a database transaction.

export type ExecutionState = "pending" | "approved" | "rejected" | "overridden" | "expired" | "cancelled" | "executed";
export const EXECUTION_STATES: readonly ExecutionState[] = Object.freeze(["pending", "approved", "rejected", "overridden", "expired", "cancelled", "executed"]);

/** States from which a decision can no longer be made. */
export const DECIDED_STATES: ReadonlySet<ExecutionState> = new Set(["approved", "rejected", "overridden", "expired", "cancelled", "executed"]);
/** States in which an execution is "open" for its fingerprint: creating the same request again joins it. */
export const OPEN_STATES: readonly ExecutionState[] = Object.freeze(["pending", "approved", "overridden"]);

/** INVARIANT: the only allowed state changes. */
export const TRANSITIONS: Readonly<Record<ExecutionState, readonly ExecutionState[]>> = Object.freeze({
  pending: ["approved", "rejected", "overridden", "expired", "cancelled"],
  approved: ["executed"],
  overridden: ["executed"],
  rejected: [],
  expired: [],
  cancelled: [],
  executed: [],
});

export function canTransition(from: ExecutionState, to: ExecutionState): boolean {
  return TRANSITIONS[from].includes(to);
}

export type DecisionKind = "approve" | "reject" | "override";
/** How an approver reached the service. */
export type DecisionChannel = "api" | "link" | "slack";

/** A policy signal: one violated policy and its APPROVAL settings, from the bundle that decided. */
export interface PolicySignal {
  policy: string;
  enforcement: string;
  /** Approver groups; empty = any configured approver. */
  approvers: string[];
  /** Distinct approvers needed. */
  quorum: number;
  /** Pending time before expiry, ms; 0 = the service default. */
  timeout_ms: number;
  /** EXCEPTION names of the policy (what an override grant waives). */
  exceptions: string[];
}

/** The proposed action (what the human is asked to authorize). */
export interface ProposedAction {
  method: string | null;
  authority: string | null;
  path: string | null;
  scheme: string | null;
  query: Record<string, string>;
  /** Selected headers (non-volatile, secrets masked). */
  headers: Record<string, string>;
  body_sha256: string | null;
  /** The body when small (parsed JSON or text); absent otherwise. */
  body?: unknown;
}

/** Everything fixed at creation: the immutable part of the execution record. */
export interface ExecutionProposal {
  /** `sha256:<hex>`, RFC 8785 canonical JSON of the request's fingerprint fields. */
  fingerprint: string;
  /** Context references: the sidecar's decision id and the trace id. */
  decision_id: string;
  trace_id: string | null;
  bundle: { name: string; digest: string; revision: number | null };
  /** REQUIRE_APPROVAL (or, for automation-created executions, blocking) policies that need a decision. */
  policies: PolicySignal[];
  /** Every policy the request violated, with its enforcement. */
  violations: Array<{ policy: string; enforcement: string }>;
  request: ProposedAction;
  /** Source principal of the request (the agent / automation). */
  requester: string | null;
  /** The request attributes as recorded for replay (decision-log attribute shape), or null. */
  input: unknown;
}

export interface Transition {
  state: ExecutionState;
  /** RFC 3339 UTC. */
  at: string;
  /** `approver:<id>`, `service:<token name>`, `sweeper`, `sidecar`. */
  actor: string;
  justification?: string;
}

export interface DecisionAttempt {
  approver: string;
  decision: DecisionKind;
  justification: string | null;
  at: string;
  channel: DecisionChannel;
  /** Counted toward the outcome, or refused (with the error code). */
  accepted: boolean;
  reason: string | null;
}

/** The short-lived exception grant issued by an override (see src/executive/exception-grant.ts). */
export interface IssuedGrant {
  token: string;
  key_id: string;
  exceptions: string[];
  policies: string[];
  expires_at: string;
}

export interface Execution {
  id: string;
  state: ExecutionState;
  /** Bumped on every state change (compare-and-set). */
  version: number;
  created_at: string;
  /** When a pending execution expires. */
  expires_at: string;
  consumed_at: string | null;
  proposal: ExecutionProposal;
  transitions: Transition[];
  decisions: DecisionAttempt[];
  grant: IssuedGrant | null;
}

/** An approver as configured (`approvers:` in approvals.yaml). */
export interface Approver {
  id: string;
  groups: readonly string[];
  roles: readonly string[];
  slack_user_id: string | null;
  /** Principals (e.g. SPIFFE ids) that act for this approver: they are the approver for self-approval. */
  principals: readonly string[];
}

/**
 * Self-approval: the requester principal is the approver's `id` or one of
 * its `principals`. An approver never decides an execution it requested.
 */
export function isSelf(approver: Approver, requester: string | null): boolean {
  if (requester === null) return false;
  return requester === approver.id || approver.principals.includes(requester);
}

/** May this approver vote on this policy (member of one of its groups; any approver when the policy names none)? */
export function inGroups(approver: Approver, p: PolicySignal): boolean {
  return p.approvers.length === 0 || p.approvers.some((g) => approver.groups.includes(g));
}

/**
 * The state the accepted votes lead to, or "pending". Approval needs, for
 * EVERY policy, `quorum` distinct approvers from that policy's groups (an
 * approver may count for several). Rejection: one rejection rejects when
 * `anyRejectionRejects`; otherwise rejections need the same quorums.
 */
export function tally(
  policies: readonly PolicySignal[],
  votes: ReadonlyArray<{ approver: Approver; decision: DecisionKind }>,
  anyRejectionRejects: boolean,
): ExecutionState {
  if (votes.some((v) => v.decision === "override")) return "overridden";
  const met = (kind: DecisionKind): boolean =>
    policies.every((p) => new Set(votes.filter((v) => v.decision === kind && inGroups(v.approver, p)).map((v) => v.approver.id)).size >= Math.max(1, p.quorum));
  if (votes.some((v) => v.decision === "reject") && (anyRejectionRejects || met("reject"))) return "rejected";
  if (policies.length > 0 && met("approve")) return "approved";
  return "pending";
}
