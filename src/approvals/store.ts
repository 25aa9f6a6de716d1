// The approvals store: ONE interface, two implementations (store-sqlite.ts,
// store-pg.ts), one shared test suite (test/approvals-store.test.ts).
//
// Every state change runs in `tx()`: the service reads what it needs with
// row locks, changes state with compare-and-set on `version`, appends the
// transition, the decision attempt, the audit entries and the outbox rows —
// all in the same database transaction, so they commit together or not at
// all. SQLite serializes writers with BEGIN IMMEDIATE (and one in-process
// queue per connection); PostgreSQL with SELECT … FOR UPDATE on the execution
// row and a transaction-scoped advisory lock on the fingerprint for creation.

import type { DecisionAttempt, ExecutionProposal, ExecutionState, Transition } from "./model.js";

/** What the audit log receives (src/audit): `body` is stored as RFC 8785 canonical JSON bytes. */
export interface AuditEntryInput {
  kind: string;
  subject: string | null;
  body: unknown;
}

export interface ExecutionRow {
  id: string;
  fingerprint: string;
  state: ExecutionState;
  version: number;
  requester: string | null;
  createdAtMs: number;
  expiresAtMs: number;
  updatedAtMs: number;
  consumedAtMs: number | null;
  proposal: ExecutionProposal;
  /** JSON of IssuedGrant, or null. */
  grant: string | null;
}

export interface NewExecution {
  id: string;
  fingerprint: string;
  requester: string | null;
  createdAtMs: number;
  expiresAtMs: number;
  proposal: ExecutionProposal;
}

export type OutboxChannel = "slack" | "webhook" | "slack_response";

export interface OutboxItem {
  executionId: string | null;
  channel: OutboxChannel;
  /** Delivery URL. */
  target: string;
  /** Event name (`execution.created`, `execution.decided`, …). */
  event: string;
  /** Serialized JSON body, exactly as it will be sent. */
  payload: string;
}

export interface OutboxRow extends OutboxItem {
  id: number;
  attempts: number;
  createdAtMs: number;
}

export interface ListFilter {
  state?: ExecutionState;
  /** Most rows, 1..1000. */
  limit: number;
  /** Rows created before this id's row (keyset pagination by (created_at, id) descending). */
  before?: { createdAtMs: number; id: string };
}

/** Operations available inside one transaction. */
export interface StoreTx {
  /** Read an execution and lock its row until commit (PostgreSQL FOR UPDATE). */
  lockExecution(id: string): Promise<ExecutionRow | undefined>;
  /** Serialize creation per fingerprint until commit. */
  lockFingerprint(fingerprint: string): Promise<void>;
  /** The open (pending/approved/overridden) execution with this fingerprint, if any. */
  findOpen(fingerprint: string): Promise<ExecutionRow | undefined>;
  insertExecution(e: NewExecution): Promise<void>;
  /**
   * Compare-and-set: move `id` from `fromVersion` to `state`, version + 1.
   * False (and no change) when the version moved meanwhile.
   */
  casState(id: string, fromVersion: number, state: ExecutionState, atMs: number, extra?: { consumedAtMs?: number; grant?: string }): Promise<boolean>;
  appendTransition(id: string, t: Transition): Promise<void>;
  appendDecision(id: string, d: DecisionAttempt): Promise<void>;
  decisions(id: string): Promise<DecisionAttempt[]>;
  /** Record a single-use value (link nonce, Slack signature); false when it was used before. */
  useOnce(kind: string, value: string, atMs: number): Promise<boolean>;
  enqueue(items: readonly OutboxItem[], atMs: number): Promise<void>;
  /** Append to the tamper-evident audit log in this transaction. */
  audit(entries: readonly AuditEntryInput[]): Promise<void>;
  /** Tell other service instances that `id` changed (PostgreSQL NOTIFY at commit). */
  notifyChanged(id: string): Promise<void>;
}

export interface StoreStatus {
  ok: boolean;
  message: string;
}

export interface ApprovalsStore {
  readonly kind: "sqlite" | "postgres";
  /** Run versioned migrations (idempotent; safe to call from several instances at once). */
  migrate(): Promise<void>;
  /** Applied migration versions, ascending. */
  migrations(): Promise<number[]>;
  /** Run `fn` in one transaction; commit when it resolves, roll back when it throws. */
  tx<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  get(id: string): Promise<ExecutionRow | undefined>;
  transitions(id: string): Promise<Transition[]>;
  decisions(id: string): Promise<DecisionAttempt[]>;
  list(filter: ListFilter): Promise<ExecutionRow[]>;
  /** Current states of these executions (unknown ids are absent); at most 1,000 ids. */
  states(ids: readonly string[]): Promise<Map<string, ExecutionState>>;
  countByState(): Promise<Record<string, number>>;
  /** Pending executions whose expiry has passed, oldest first. */
  expiredPending(nowMs: number, limit: number): Promise<ExecutionRow[]>;
  /** Claim due outbox rows for `leaseMs` (attempts + 1); rows leased by another worker are skipped. */
  claimOutbox(nowMs: number, limit: number, leaseMs: number): Promise<OutboxRow[]>;
  outboxDelivered(id: number, atMs: number): Promise<void>;
  /** Failed delivery: retry at `nextAtMs`, or give up (`dead`). */
  outboxFailed(id: number, error: string, nextAtMs: number, dead: boolean): Promise<void>;
  outboxStats(): Promise<{ pending: number; dead: number; delivered: number }>;
  /** Forget single-use values older than `beforeMs` (Slack signatures outlive their 5-minute window). */
  pruneOnce(kind: string, beforeMs: number): Promise<void>;
  /** Changes made by other instances (PostgreSQL LISTEN); returns an unsubscribe function. SQLite: never called. */
  onChange(listener: (id: string) => void): () => void;
  /** Sign an audit checkpoint of the current tree, when an audit log with a signing key is attached. */
  auditCheckpoint(): Promise<void>;
  ping(): Promise<StoreStatus>;
  close(): Promise<void>;
}

/** A 128-bit random id, base64url: unguessable. */
export const EXECUTION_ID = /^ex_[A-Za-z0-9_-]{22}$/;
