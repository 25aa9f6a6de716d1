// The approvals service core: creates executions, applies decisions with
// compare-and-set, consumes approvals once, expires pending executions, and
// takes in the sidecars' decision-log batches — each as ONE store
// transaction that also appends the audit entries and the outbox rows, so a
// state change, its audit trail and its notifications commit together.
// Transport-free: http.ts, slack.ts and the link pages call it.
//
// Lifecycle: start() subscribes to other instances' changes (PostgreSQL
// NOTIFY) and starts the expiry sweeper; stop() ends both and releases every
// long poll.

import { randomBytes } from "node:crypto";
import { AecpError } from "../common/index.js";
import { encodeExceptionGrant } from "../executive/index.js";
import {
  DECIDED_STATES,
  canTransition,
  inGroups,
  isSelf,
  tally,
  type Approver,
  type DecisionAttempt,
  type DecisionChannel,
  type DecisionKind,
  type Execution,
  type ExecutionState,
  type IssuedGrant,
} from "./model.js";
import type { ApprovalsOptions } from "./options.js";
import { parseProposal } from "./proposal.js";
import { createdMessages, decidedMessages, executionUrl, slackUpdate } from "./messages.js";
import type { ApprovalsStore, AuditEntryInput, ExecutionRow, OutboxItem, StoreTx } from "./store.js";

export type ConsumeOutcome = "consumed" | "pending" | "rejected" | "expired" | "cancelled" | "already_consumed" | "mismatch" | "not_found";

/** Most long polls held at once; beyond it `wait` answers at once (the sidecar then defers). */
export const MAX_WAITERS = 20_000;
/** Batched re-check period of held long polls, ms: the fallback when a change notification is missed (SQLite shared by processes). */
const WAIT_RECHECK_MS = 1000;
/** How long accepted Slack signatures are remembered (replay protection; Slack's window is 5 minutes). */
const SLACK_REPLAY_MEMORY_MS = 10 * 60_000;
/** Most records in one decision-log batch. */
export const MAX_DECISION_LOG_BATCH = 10_000;

const iso = (ms: number): string => new Date(ms).toISOString();

export interface DecideInput {
  decision: DecisionKind;
  justification: string | null;
  channel: DecisionChannel;
  /** Slack interaction response_url: the message is updated when this decision settles the execution. */
  slackResponseUrl?: string;
  /** Decision link nonce: recorded as used in the same transaction (single use). */
  linkNonce?: string;
}

export interface ServiceCounters {
  created: number;
  joined: number;
  decisions: Record<string, number>;
  consumes: Record<string, number>;
  expired: number;
  decisionLogRecords: number;
}

export class ApprovalsService {
  readonly counters: ServiceCounters = { created: 0, joined: 0, decisions: {}, consumes: {}, expired: 0, decisionLogRecords: 0 };
  private readonly waiters = new Map<string, Set<() => void>>();
  private waiterCount = 0;
  private sweeper: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private sweeping = false;
  private sweeps = 0;
  private recheckTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Called after a commit that enqueued outbox rows (the notifier delivers at once). */
  onOutbox: () => void = () => undefined;

  constructor(
    readonly store: ApprovalsStore,
    readonly options: ApprovalsOptions,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.unsubscribe = this.store.onChange((id) => this.wake(id));
    this.sweeper = setInterval(() => {
      void this.expireDue().catch(() => undefined);
      // Slack signatures are refused after 5 minutes anyway; remembering them 10 is enough to stop replays
      if (++this.sweeps % 60 === 0) void this.store.pruneOnce("slack", this.now() - SLACK_REPLAY_MEMORY_MS).catch(() => undefined);
    }, this.options.expirySweepMs);
    this.sweeper.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.sweeper);
    clearTimeout(this.recheckTimer);
    this.unsubscribe?.();
    for (const id of [...this.waiters.keys()]) this.wake(id);
  }

  get activeWaiters(): number {
    return this.waiterCount;
  }

  // -------------------------------------------------------------------------
  // reads

  async get(id: string): Promise<Execution | undefined> {
    const row = await this.store.get(id);
    if (!row) return undefined;
    const [transitions, decisions] = await Promise.all([this.store.transitions(id), this.store.decisions(id)]);
    return toExecution(row, transitions, decisions);
  }

  async list(filter: { state?: ExecutionState; limit: number; before?: string }): Promise<Execution[]> {
    let before: { createdAtMs: number; id: string } | undefined;
    if (filter.before) {
      const b = await this.store.get(filter.before);
      if (b) before = { createdAtMs: b.createdAtMs, id: b.id };
    }
    const rows = await this.store.list({ limit: filter.limit, ...(filter.state ? { state: filter.state } : {}), ...(before ? { before } : {}) });
    return Promise.all(rows.map(async (r) => toExecution(r, await this.store.transitions(r.id), [])));
  }

  location(id: string): string {
    return executionUrl(this.options, id);
  }

  /**
   * Long poll: the execution once it is no longer pending, or as it is after
   * `timeoutMs`. Undefined for an unknown id.
   */
  async wait(id: string, timeoutMs: number): Promise<Execution | undefined> {
    // a monotonic clock: the injected `now` is business time (expiry), not a timer
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      // INVARIANT: register for the wake-up BEFORE reading the state, so a
      // change committed between the read and the sleep is never missed.
      const waiter = this.waiterCount < MAX_WAITERS ? this.registerWaiter(id) : undefined;
      const e = await this.get(id);
      const left = deadline - performance.now();
      if (!waiter || !e || e.state !== "pending" || left <= 0) {
        waiter?.cancel();
        return e;
      }
      await waiter.sleep(left);
    }
  }

  private registerWaiter(id: string): { sleep: (ms: number) => Promise<void>; cancel: () => void } {
    let set = this.waiters.get(id);
    if (!set) this.waiters.set(id, (set = new Set()));
    let woken = false;
    let resolveSleep: (() => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    const done = (): void => {
      woken = true;
      clearTimeout(timer);
      if (set!.delete(done)) this.waiterCount--;
      if (set!.size === 0 && this.waiters.get(id) === set) this.waiters.delete(id);
      resolveSleep?.();
    };
    set.add(done);
    this.waiterCount++;
    this.ensureRecheck();
    return {
      cancel: done,
      sleep: (ms) =>
        new Promise<void>((resolve) => {
          if (woken) return resolve();
          resolveSleep = resolve;
          timer = setTimeout(done, Math.max(0, ms));
        }),
    };
  }

  /**
   * The safety net under change notifications (another process on the same
   * SQLite file has none; a PostgreSQL NOTIFY can be lost with its
   * connection): while long polls are held, one batched state query per
   * WAIT_RECHECK_MS wakes those whose execution is no longer pending. Cost:
   * one query per 500 held polls per period, not one per poll.
   */
  private ensureRecheck(): void {
    if (this.recheckTimer || this.stopped) return;
    this.recheckTimer = setTimeout(() => {
      this.recheckTimer = undefined;
      const ids = [...this.waiters.keys()];
      if (ids.length === 0) return;
      void (async () => {
        for (let i = 0; i < ids.length; i += 500) {
          const states = await this.store.states(ids.slice(i, i + 500));
          for (const [id, st] of states) if (st !== "pending") this.wake(id);
        }
      })()
        .catch(() => undefined)
        .finally(() => {
          if (this.waiters.size > 0) this.ensureRecheck();
        });
    }, WAIT_RECHECK_MS);
    this.recheckTimer.unref();
  }

  private wake(id: string): void {
    const set = this.waiters.get(id);
    if (set) for (const w of [...set]) w();
  }

  // -------------------------------------------------------------------------
  // create

  /**
   * Create the execution for a paused request, or join the open one with the
   * same fingerprint (idempotent while pending/approved/overridden). Throws
   * AECP_EXECUTION_INVALID for a malformed body.
   */
  async create(body: unknown, actor: string): Promise<{ execution: Execution; created: boolean }> {
    const proposal = parseProposal(body);
    const r = await this.store.tx(async (tx) => {
      await tx.lockFingerprint(proposal.fingerprint);
      const open = await tx.findOpen(proposal.fingerprint);
      if (open) return { id: open.id, created: false, items: [] as OutboxItem[] };
      const now = this.now();
      const timeouts = proposal.policies.map((p) => p.timeout_ms).filter((t) => t > 0);
      const expiresAtMs = now + (timeouts.length ? Math.min(...timeouts) : this.options.defaultTimeoutS * 1000);
      const id = `ex_${randomBytes(16).toString("base64url")}`;
      await tx.insertExecution({ id, fingerprint: proposal.fingerprint, requester: proposal.requester, createdAtMs: now, expiresAtMs, proposal });
      const t = { state: "pending" as const, at: iso(now), actor };
      await tx.appendTransition(id, t);
      const e: Execution = { id, state: "pending", version: 1, created_at: iso(now), expires_at: iso(expiresAtMs), consumed_at: null, proposal, transitions: [t], decisions: [], grant: null };
      await tx.audit([{ kind: "execution.created", subject: id, body: { id, actor, created_at: e.created_at, expires_at: e.expires_at, proposal } }]);
      const items = createdMessages(this.options, e);
      await tx.enqueue(items, now);
      return { id, created: true, items };
    });
    if (r.created) this.counters.created++;
    else this.counters.joined++;
    if (r.items.length) this.onOutbox();
    return { execution: (await this.get(r.id))!, created: r.created };
  }

  // -------------------------------------------------------------------------
  // decide

  /**
   * Apply one approver's decision. Every attempt (refused ones too) is
   * recorded and audited in the same transaction. Throws:
   * AECP_EXECUTION_NOT_FOUND (404), AECP_EXECUTION_NOT_PENDING (409),
   * AECP_SELF_APPROVAL / AECP_APPROVER_FORBIDDEN (403),
   * AECP_JUSTIFICATION_REQUIRED (400), AECP_LINK_INVALID (403, link reused),
   * AECP_GRANT_KEY_MISSING (503).
   */
  async decide(id: string, approver: Approver, input: DecideInput): Promise<Execution> {
    const justification = input.justification?.trim() ? input.justification.trim().slice(0, 4000) : null;
    const r = await this.store.tx(async (tx) => {
      const row = await tx.lockExecution(id);
      if (!row) return { error: new AecpError("AECP_EXECUTION_NOT_FOUND", `no execution \`${id.slice(0, 64)}\``), items: [] as OutboxItem[], changed: false };
      const now = this.now();
      const attempt: DecisionAttempt = { approver: approver.id, decision: input.decision, justification, at: iso(now), channel: input.channel, accepted: false, reason: null };
      const refuse = async (error: AecpError) => {
        attempt.reason = error.code;
        await tx.appendDecision(id, attempt);
        await tx.audit([{ kind: "decision.attempt", subject: id, body: { id, ...attempt, message: error.message } }]);
        return { error, items: [] as OutboxItem[], changed: false };
      };
      let items: OutboxItem[] = [];
      let state = row.state;
      if (state === "pending" && row.expiresAtMs <= now) {
        items = await this.transition(tx, row, "expired", "sweeper", null, now);
        state = "expired";
      }
      if (state !== "pending") {
        const res = await refuse(new AecpError("AECP_EXECUTION_NOT_PENDING", `execution is ${state}; decisions are closed`, { detail: { state } }));
        return { ...res, items, changed: state !== row.state };
      }
      if (isSelf(approver, row.requester)) return refuse(new AecpError("AECP_SELF_APPROVAL", `approver \`${approver.id}\` requested this execution and may not decide it`));
      if (input.decision === "override") {
        if (!approver.roles.includes("override")) return refuse(new AecpError("AECP_APPROVER_FORBIDDEN", `approver \`${approver.id}\` lacks the \`override\` role`));
      } else if (!row.proposal.policies.some((p) => inGroups(approver, p))) {
        return refuse(new AecpError("AECP_APPROVER_FORBIDDEN", `approver \`${approver.id}\` is in none of the approver groups of this execution's policies`));
      }
      if (input.decision !== "approve" && justification === null) return refuse(new AecpError("AECP_JUSTIFICATION_REQUIRED", `a justification is required to ${input.decision}`));
      if (input.decision === "override" && !this.options.grantKey) return refuse(new AecpError("AECP_GRANT_KEY_MISSING", "override needs `grant_key` in the approvals config"));
      const previous = await tx.decisions(id);
      if (previous.some((d) => d.accepted && d.approver === approver.id)) return refuse(new AecpError("AECP_APPROVER_FORBIDDEN", `approver \`${approver.id}\` has already decided this execution`));
      if (input.linkNonce !== undefined && !(await tx.useOnce("link", input.linkNonce, now))) return refuse(new AecpError("AECP_LINK_INVALID", "decision link refused: already used"));
      attempt.accepted = true;
      await tx.appendDecision(id, attempt);
      await tx.audit([{ kind: "decision.attempt", subject: id, body: { id, ...attempt } }]);
      const votes = [...previous.filter((d) => d.accepted), attempt]
        .map((d) => ({ approver: this.options.approvers.get(d.approver), decision: d.decision }))
        .filter((v): v is { approver: Approver; decision: DecisionKind } => v.approver !== undefined);
      const next = tally(row.proposal.policies, votes, this.options.anyRejectionRejects);
      if (next === "pending") return { error: undefined, items, changed: false };
      const grant = next === "overridden" ? this.issueGrant(row, approver.id, now) : undefined;
      items = await this.transition(tx, row, next, `approver:${approver.id}`, justification, now, grant, input.slackResponseUrl);
      return { error: undefined, items, changed: true };
    });
    this.counters.decisions[r.error ? r.error.code : "accepted"] = (this.counters.decisions[r.error ? r.error.code : "accepted"] ?? 0) + 1;
    if (r.changed) this.wake(id);
    if (r.items.length) this.onOutbox();
    if (r.error) throw r.error;
    return (await this.get(id))!;
  }

  private issueGrant(row: ExecutionRow, approver: string, nowMs: number): IssuedGrant {
    const key = this.options.grantKey!;
    const exp = Math.floor(nowMs / 1000) + this.options.grantTtlS;
    const exceptions = [...new Set(row.proposal.policies.flatMap((p) => p.exceptions))].sort();
    const policies = row.proposal.policies.map((p) => p.policy);
    const token = encodeExceptionGrant({ execution_id: row.id, fingerprint: row.fingerprint, exceptions, policies, approver, iat: Math.floor(nowMs / 1000), exp }, key);
    return { token, key_id: key.keyId, exceptions, policies, expires_at: iso(exp * 1000) };
  }

  /**
   * One state change inside `tx`: compare-and-set, transition row, audit,
   * change notification, outbox rows (returned).
   */
  private async transition(
    tx: StoreTx,
    row: ExecutionRow,
    to: ExecutionState,
    actor: string,
    justification: string | null,
    nowMs: number,
    grant?: IssuedGrant,
    slackResponseUrl?: string,
  ): Promise<OutboxItem[]> {
    if (!canTransition(row.state, to)) throw new AecpError("AECP_INTERNAL", `state machine: ${row.state} → ${to} is not a transition`);
    const extra = { ...(to === "executed" ? { consumedAtMs: nowMs } : {}), ...(grant ? { grant: JSON.stringify(grant) } : {}) };
    // INVARIANT: every state change is a compare-and-set on the version read under the row lock.
    if (!(await tx.casState(row.id, row.version, to, nowMs, extra))) throw new AecpError("AECP_EXECUTION_NOT_PENDING", "execution changed concurrently");
    const t = { state: to, at: iso(nowMs), actor, ...(justification ? { justification } : {}) };
    await tx.appendTransition(row.id, t);
    const entries: AuditEntryInput[] = [{ kind: "execution.transition", subject: row.id, body: { id: row.id, from: row.state, to, at: t.at, actor, justification, version: row.version + 1 } }];
    if (grant) entries.push({ kind: "grant.issued", subject: row.id, body: { id: row.id, key_id: grant.key_id, exceptions: grant.exceptions, policies: grant.policies, expires_at: grant.expires_at, token: grant.token } });
    await tx.audit(entries);
    await tx.notifyChanged(row.id);
    if (to === "executed") return []; // consumption is not announced: the caller is the sidecar itself
    const e = toExecution({ ...row, state: to, version: row.version + 1 }, [t], []);
    const items = decidedMessages(this.options, e, slackResponseUrl);
    await tx.enqueue(items, nowMs);
    return items;
  }

  // -------------------------------------------------------------------------
  // consume, cancel, expire

  /** Consume an approved/overridden execution once, fingerprint-checked (the sidecar's retry). */
  async consume(id: string, fingerprint: string, actor: string): Promise<{ outcome: ConsumeOutcome; execution?: Execution }> {
    const r = await this.store.tx(async (tx) => {
      const row = await tx.lockExecution(id);
      if (!row) return { outcome: "not_found" as ConsumeOutcome, changed: false };
      const now = this.now();
      if (row.fingerprint !== fingerprint) {
        await tx.audit([{ kind: "execution.consumed", subject: id, body: { id, outcome: "mismatch", fingerprint, at: iso(now), actor } }]);
        return { outcome: "mismatch" as ConsumeOutcome, changed: false };
      }
      if (row.state === "pending" && row.expiresAtMs <= now) {
        await this.transition(tx, row, "expired", "sweeper", null, now);
        return { outcome: "expired" as ConsumeOutcome, changed: true };
      }
      if (row.state === "approved" || row.state === "overridden") {
        await this.transition(tx, row, "executed", actor, null, now);
        await tx.audit([{ kind: "execution.consumed", subject: id, body: { id, outcome: "consumed", fingerprint, at: iso(now), actor } }]);
        return { outcome: "consumed" as ConsumeOutcome, changed: true };
      }
      const outcome: ConsumeOutcome = row.state === "executed" ? "already_consumed" : (row.state as ConsumeOutcome);
      if (outcome !== "pending") await tx.audit([{ kind: "execution.consumed", subject: id, body: { id, outcome, fingerprint, at: iso(now), actor } }]);
      return { outcome, changed: false };
    });
    this.counters.consumes[r.outcome] = (this.counters.consumes[r.outcome] ?? 0) + 1;
    if (r.changed) this.wake(id);
    if (r.outcome === "not_found") return { outcome: "not_found" };
    return { outcome: r.outcome, execution: (await this.get(id))! };
  }

  /** Cancel a pending execution (the requester's automation). Throws NOT_FOUND / NOT_PENDING. */
  async cancel(id: string, actor: string, justification: string | null): Promise<Execution> {
    const r = await this.store.tx(async (tx) => {
      const row = await tx.lockExecution(id);
      if (!row) throw new AecpError("AECP_EXECUTION_NOT_FOUND", `no execution \`${id.slice(0, 64)}\``);
      if (row.state !== "pending") throw new AecpError("AECP_EXECUTION_NOT_PENDING", `execution is ${row.state}`, { detail: { state: row.state } });
      return this.transition(tx, row, "cancelled", actor, justification, this.now());
    });
    this.wake(id);
    if (r.length) this.onOutbox();
    return (await this.get(id))!;
  }

  /** Expire pending executions past their expiry (the sweeper; safe on several instances). Returns how many it expired. */
  async expireDue(limit = 500): Promise<number> {
    if (this.sweeping) return 0;
    this.sweeping = true;
    let n = 0;
    try {
      for (const candidate of await this.store.expiredPending(this.now(), limit)) {
        const changed = await this.store.tx(async (tx) => {
          const row = await tx.lockExecution(candidate.id);
          const now = this.now();
          if (!row || row.state !== "pending" || row.expiresAtMs > now) return false;
          await this.transition(tx, row, "expired", "sweeper", null, now);
          return true;
        });
        if (changed) {
          n++;
          this.wake(candidate.id);
        }
      }
    } finally {
      this.sweeping = false;
    }
    this.counters.expired += n;
    if (n) this.onOutbox();
    return n;
  }

  /** Replace a Slack message with the execution's current outcome (stale buttons pressed after a decision). */
  async enqueueSlackUpdate(id: string, responseUrl: string): Promise<void> {
    const e = await this.get(id);
    if (!e) return;
    await this.store.tx((tx) => tx.enqueue([slackUpdate(this.options, e, responseUrl)], this.now()));
    this.onOutbox();
  }

  // -------------------------------------------------------------------------
  // audit intake

  /** Record an attempt that failed authentication against a known execution (audit only). */
  async auditUnauthenticated(id: string, channel: DecisionChannel, why: string): Promise<void> {
    await this.store.tx(async (tx) => {
      if (!(await tx.lockExecution(id))) return;
      await tx.audit([{ kind: "decision.attempt", subject: id, body: { id, approver: null, channel, accepted: false, reason: "AECP_APPROVALS_UNAUTHENTICATED", message: why, at: iso(this.now()) } }]);
    });
  }

  /**
   * Append a sidecar decision-log batch (`{"records":[…]}`) to the audit log,
   * one `decision_log.record` entry per record, in one transaction. Throws
   * AECP_APPROVALS_BAD_REQUEST for a malformed batch (nothing is appended).
   */
  async ingestDecisionLog(body: unknown, actor: string): Promise<number> {
    const records = (body as { records?: unknown } | null)?.records;
    if (body === null || typeof body !== "object" || !Array.isArray(records)) throw new AecpError("AECP_APPROVALS_BAD_REQUEST", 'decision-log batch must be {"records": [...]}');
    if (records.length > MAX_DECISION_LOG_BATCH) throw new AecpError("AECP_APPROVALS_BAD_REQUEST", `decision-log batch has more than ${MAX_DECISION_LOG_BATCH} records`);
    const entries: AuditEntryInput[] = records.map((rec, i) => {
      if (rec === null || typeof rec !== "object" || Array.isArray(rec) || typeof (rec as { decision_id?: unknown }).decision_id !== "string") {
        throw new AecpError("AECP_APPROVALS_BAD_REQUEST", `decision-log record ${i} is not a decision record (needs \`decision_id\`)`);
      }
      const ex = (rec as { execution_id?: unknown }).execution_id;
      return { kind: "decision_log.record", subject: typeof ex === "string" ? ex.slice(0, 128) : null, body: { actor, record: rec } };
    });
    if (entries.length) await this.store.tx((tx) => tx.audit(entries));
    this.counters.decisionLogRecords += entries.length;
    return entries.length;
  }

  /** Audit a delivered notification (the notifier). */
  async auditNotification(row: { id: number; executionId: string | null; channel: string; target: string; event: string; attempts: number }): Promise<void> {
    let origin = "";
    try {
      origin = new URL(row.target).origin; // the path of a Slack webhook URL is a secret
    } catch {
      origin = "invalid-url";
    }
    await this.store.tx((tx) =>
      tx.audit([{ kind: "notification.sent", subject: row.executionId, body: { outbox_id: row.id, channel: row.channel, target: origin, event: row.event, attempts: row.attempts, at: iso(this.now()) } }]),
    );
  }
}

export function toExecution(row: ExecutionRow, transitions: Execution["transitions"], decisions: DecisionAttempt[]): Execution {
  return {
    id: row.id,
    state: row.state,
    version: row.version,
    created_at: iso(row.createdAtMs),
    expires_at: iso(row.expiresAtMs),
    consumed_at: row.consumedAtMs === null ? null : iso(row.consumedAtMs),
    proposal: row.proposal,
    transitions,
    decisions,
    grant: row.grant ? (JSON.parse(row.grant) as IssuedGrant) : null,
  };
}

export const isDecided = (s: ExecutionState): boolean => DECIDED_STATES.has(s);
