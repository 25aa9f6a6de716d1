// The sidecar's seam to the approvals service (issue 5). The sidecar only
// needs three operations; `ApprovalsClient` is the interface (tests use an
// in-memory double), `HttpApprovalsClient` the implementation over HTTP with
// undici and a keep-alive pool.
//
// Protocol (JSON; bearer token when configured) — the approvals service
// implements it in issue 5; docs/sidecar.md documents it:
//   POST /v1/executions                      PauseRequest → 200/201 ExecutionRef  (idempotent per open fingerprint)
//   POST /v1/executions/{id}/consume         {fingerprint} → 200 {outcome:"consumed", execution}
//                                            | 409 {outcome: pending|rejected|expired|cancelled|already_consumed|mismatch, execution?}
//                                            | 404 {outcome:"not_found"}
//   GET  /v1/executions/{id}?wait=<seconds>  → 200 ExecutionRef (long poll until decided or timeout)
// Any transport error, timeout or unexpected status is AECP_APPROVALS_UNAVAILABLE:
// the sidecar then fails closed for that paused request only.

import type { Agent } from "undici";
import { loadUndici } from "./lazy-undici.js";
import { AecpError } from "../common/index.js";

export type ExecutionState = "pending" | "approved" | "rejected" | "overridden" | "expired" | "cancelled" | "executed";

export interface ExecutionRef {
  id: string;
  state: ExecutionState;
  /** URL of the approval page for humans (sent to the client as `location`). */
  location: string;
}

/**
 * What the sidecar tells the service when it pauses a request: the
 * authoritative execution record's immutable part. Fields marked optional
 * were added for the record (issue 5) and are omitted by older sidecars; the
 * service accepts both.
 */
export interface PauseRequest {
  fingerprint: string;
  decision_id: string;
  bundle: { name: string; digest: string; revision: number | null };
  /** The REQUIRE_APPROVAL policies with their APPROVAL settings (and EXCEPTION names, when known). */
  policies: Array<{ policy: string; approvers: string[]; quorum: number; timeout_ms: number; exceptions?: string[] }>;
  /** Every violated policy with its enforcement (the policy signals). */
  violations?: Array<{ policy: string; enforcement: string }>;
  request: {
    method: string | null;
    authority: string | null;
    path: string | null;
    query: Record<string, string>;
    body_sha256: string | null;
    scheme?: string | null;
    /** Non-volatile headers (the ones the fingerprint covers), secrets masked as in the decision log. */
    headers?: Record<string, string>;
    /** The body when small: parsed JSON, or text. */
    body?: unknown;
  };
  requester: string | null;
  trace_id: string | null;
  /** The request attributes as recorded for replay: the decision log's `attributes` shape (masked). */
  input?: unknown;
}

export type ConsumeOutcome = "consumed" | "pending" | "rejected" | "expired" | "cancelled" | "already_consumed" | "mismatch" | "not_found";

export interface ConsumeResult {
  outcome: ConsumeOutcome;
  execution?: ExecutionRef;
}

export interface ApprovalsClient {
  create(req: PauseRequest): Promise<ExecutionRef>;
  consume(id: string, fingerprint: string): Promise<ConsumeResult>;
  wait(id: string, timeoutMs: number): Promise<ExecutionRef>;
  close(): Promise<void>;
}

const STATES = new Set<ExecutionState>(["pending", "approved", "rejected", "overridden", "expired", "cancelled", "executed"]);
const OUTCOMES = new Set<ConsumeOutcome>(["consumed", "pending", "rejected", "expired", "cancelled", "already_consumed", "mismatch", "not_found"]);
const ID = /^[A-Za-z0-9._-]{1,128}$/;

function unavailable(message: string, cause?: unknown): AecpError {
  return new AecpError("AECP_APPROVALS_UNAVAILABLE", message, cause === undefined ? undefined : { cause });
}

function executionRef(v: unknown): ExecutionRef {
  const o = v as Record<string, unknown> | null;
  if (!o || typeof o["id"] !== "string" || !ID.test(o["id"]) || !STATES.has(o["state"] as ExecutionState) || typeof o["location"] !== "string") {
    throw unavailable("approvals service answered with an invalid execution");
  }
  return { id: o["id"], state: o["state"] as ExecutionState, location: o["location"] };
}

export interface HttpApprovalsClientOptions {
  /** Base URL, e.g. http://127.0.0.1:8282 */
  url: string;
  token?: string;
  /** Per-request timeout for create/consume, ms. Default 2,000. */
  timeoutMs?: number;
}

export class HttpApprovalsClient implements ApprovalsClient {
  private readonly base: string;
  /** Keep-alive pool, created with the first call (undici is loaded lazily). */
  private agent: Agent | undefined;
  private readonly timeoutMs: number;

  constructor(private readonly opts: HttpApprovalsClientOptions) {
    this.base = opts.url.replace(/\/+$/, "");
    this.timeoutMs = opts.timeoutMs ?? 2000;
  }

  private async call(method: "GET" | "POST", path: string, body: unknown, timeoutMs: number): Promise<{ status: number; json: unknown }> {
    try {
      const { Agent, request } = await loadUndici();
      this.agent ??= new Agent({ keepAliveTimeout: 30_000, connections: 16 });
      const res = await request(this.base + path, {
        method,
        dispatcher: this.agent,
        headers: { "content-type": "application/json", ...(this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {}) },
        body: body === undefined ? null : JSON.stringify(body),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const text = await res.body.text();
      let json: unknown = undefined;
      try {
        json = text === "" ? undefined : JSON.parse(text);
      } catch {
        throw unavailable(`approvals service answered ${res.statusCode} with a non-JSON body`);
      }
      return { status: res.statusCode, json };
    } catch (e) {
      if (e instanceof AecpError) throw e;
      throw unavailable(`approvals service unreachable (${(e as Error).message})`, e);
    }
  }

  async create(req: PauseRequest): Promise<ExecutionRef> {
    const r = await this.call("POST", "/v1/executions", req, this.timeoutMs);
    if (r.status !== 200 && r.status !== 201) throw unavailable(`approvals service answered ${r.status} to create`);
    return executionRef(r.json);
  }

  async consume(id: string, fingerprint: string): Promise<ConsumeResult> {
    if (!ID.test(id)) return { outcome: "not_found" };
    const r = await this.call("POST", `/v1/executions/${encodeURIComponent(id)}/consume`, { fingerprint }, this.timeoutMs);
    const o = (r.json ?? {}) as { outcome?: unknown; execution?: unknown };
    if (r.status === 404) return { outcome: "not_found" };
    if ((r.status !== 200 && r.status !== 409) || !OUTCOMES.has(o.outcome as ConsumeOutcome)) throw unavailable(`approvals service answered ${r.status} to consume`);
    if (r.status === 200 && o.outcome !== "consumed") throw unavailable("approvals service answered 200 without consuming");
    return o.execution === undefined ? { outcome: o.outcome as ConsumeOutcome } : { outcome: o.outcome as ConsumeOutcome, execution: executionRef(o.execution) };
  }

  async wait(id: string, timeoutMs: number): Promise<ExecutionRef> {
    const seconds = Math.max(0, Math.floor(timeoutMs / 1000));
    const r = await this.call("GET", `/v1/executions/${encodeURIComponent(id)}?wait=${seconds}`, undefined, timeoutMs + this.timeoutMs);
    if (r.status !== 200) throw unavailable(`approvals service answered ${r.status} to wait`);
    return executionRef(r.json);
  }

  async close(): Promise<void> {
    await this.agent?.close();
  }
}
