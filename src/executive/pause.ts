// Pause (REQUIRE_APPROVAL) handling, off the allow/deny path: only requests
// whose decision is `pause` come here, asynchronously.
//
//   retry with x-aecp-execution-id → consume(id, fingerprint) at the approvals
//     service: consumed → allow once; pending → defer again; anything else → 403
//   first request → create the execution (idempotent per fingerprint), then
//     defer mode: answer at once (428 + execution id + location + retry-after)
//     hold mode:  wait up to holdMs for a decision; approved → consume → allow,
//                 rejected/expired → 403, still pending → the defer answer
//   approvals service unreachable or misbehaving → 503 fail closed
//     (AECP_APPROVALS_UNAVAILABLE) for this request only.

import type { Decision, RequestAttributes } from "../bundle/index.js";
import { isAecpError } from "../common/index.js";
import type { ApprovalsClient, ConsumeOutcome, ExecutionRef, PauseRequest } from "./approvals-client.js";
import { buildDecisionRecord } from "./decision-log.js";
import { bodyDigest, HEADER_EXECUTION_ID, isVolatile, requestFingerprint } from "./fingerprint.js";
import type { LoadedPolicyLookup } from "./pause-types.js";
import {
  outcomeForApproved,
  outcomeForDecision,
  outcomeForDeferred,
  outcomeForExecutionDenied,
  type CheckOutcome,
  type PauseResponseOptions,
} from "./response.js";

export interface PauseOptions extends PauseResponseOptions {
  /** "defer" answers at once; "hold" waits up to holdMs first. Default "defer". */
  mode: "defer" | "hold";
  /** Hold mode: longest wait, ms (keep below Envoy's ext_authz timeout). Default 0. */
  holdMs: number;
}

export const PAUSE_DEFAULTS: Readonly<PauseOptions> = Object.freeze({ mode: "defer", holdMs: 0, deferStatus: 428, retryAfterS: 5 });

const DENIED_REASON: Record<Exclude<ConsumeOutcome, "consumed" | "pending">, string> = {
  rejected: "AECP_EXECUTION_REJECTED",
  expired: "AECP_EXECUTION_EXPIRED",
  cancelled: "AECP_EXECUTION_CANCELLED",
  already_consumed: "AECP_EXECUTION_CONSUMED",
  mismatch: "AECP_EXECUTION_MISMATCH",
  not_found: "AECP_EXECUTION_NOT_FOUND",
};

export class PauseHandler {
  constructor(
    private readonly client: ApprovalsClient | undefined,
    private readonly opts: PauseOptions,
    private readonly policies: LoadedPolicyLookup,
  ) {}

  async settle(d: Decision, attrs: RequestAttributes, decisionId: string): Promise<CheckOutcome> {
    const client = this.client;
    if (!client) return outcomeForDecision(d, decisionId); // no approvals service: 503 fail closed
    try {
      const fingerprint = requestFingerprint(attrs);
      const presented = attrs.headers[HEADER_EXECUTION_ID];
      if (presented !== undefined && presented !== "") {
        return await this.consume(client, d, decisionId, presented, fingerprint);
      }
      let exec = await client.create(this.pauseRequest(d, attrs, decisionId, fingerprint));
      if (this.opts.mode === "hold" && this.opts.holdMs > 0 && exec.state === "pending") {
        exec = await client.wait(exec.id, this.opts.holdMs);
      }
      if (exec.state === "approved" || exec.state === "overridden") return await this.consume(client, d, decisionId, exec.id, fingerprint);
      if (exec.state === "pending") return outcomeForDeferred(d, decisionId, exec, this.opts);
      return outcomeForExecutionDenied(d, decisionId, exec.id, stateReason(exec));
    } catch (e) {
      if (isAecpError(e, "AECP_APPROVALS_UNAVAILABLE")) return outcomeForDecision(d, decisionId);
      throw e;
    }
  }

  private async consume(client: ApprovalsClient, d: Decision, decisionId: string, id: string, fingerprint: string): Promise<CheckOutcome> {
    const r = await client.consume(id, fingerprint);
    if (r.outcome === "consumed") return outcomeForApproved(d, decisionId, id);
    if (r.outcome === "pending") return outcomeForDeferred(d, decisionId, r.execution ?? { id, state: "pending", location: "" }, this.opts);
    return outcomeForExecutionDenied(d, decisionId, id, DENIED_REASON[r.outcome]);
  }

  private pauseRequest(d: Decision, a: RequestAttributes, decisionId: string, fingerprint: string): PauseRequest {
    // The record's input: the decision log's attribute serialization (masked
    // headers, JSON body up to 4 KiB), so replay sees what the log would show.
    const input = buildDecisionRecord(outcomeForDecision(d, decisionId), a, d).attributes;
    const headers: Record<string, string> = {};
    if (input) for (const k of Object.keys(input.headers)) if (!isVolatile(k)) headers[k] = input.headers[k]!;
    const body = input?.body !== undefined ? input.body : smallText(a.rawBody);
    return {
      fingerprint,
      decision_id: decisionId,
      bundle: { name: d.bundle.name, digest: d.bundle.digest, revision: d.bundle.revision },
      policies: d.violations
        .filter((v) => v.enforcement === "REQUIRE_APPROVAL")
        .map((v) => {
          const a = this.policies(v.policy);
          return { policy: v.policy, approvers: a?.approvers ?? [], quorum: a?.quorum ?? 1, timeout_ms: a?.timeoutMs ?? 0, exceptions: [...(a?.exceptions ?? [])] };
        }),
      violations: d.violations.map((v) => ({ policy: v.policy, enforcement: v.enforcement })),
      request: {
        method: a.method ?? null,
        authority: a.host ?? null,
        path: a.path ?? null,
        query: { ...a.query },
        body_sha256: bodyDigest(a.rawBody),
        scheme: a.scheme ?? null,
        headers,
        ...(body === undefined ? {} : { body }),
      },
      requester: a.source.principal ?? null,
      trace_id: a.headers["traceparent"] ?? a.headers["x-b3-traceid"] ?? null,
      input,
    };
  }
}

/** A non-JSON body kept in the record when it is text of at most 4 KiB. */
const SMALL_BODY_BYTES = 4096;
function smallText(raw: string | Uint8Array | undefined): string | undefined {
  if (typeof raw !== "string" || raw.length > SMALL_BODY_BYTES || Buffer.byteLength(raw, "utf8") > SMALL_BODY_BYTES) return undefined;
  return raw;
}

function stateReason(e: ExecutionRef): string {
  switch (e.state) {
    case "rejected":
      return "AECP_EXECUTION_REJECTED";
    case "expired":
      return "AECP_EXECUTION_EXPIRED";
    case "cancelled":
      return "AECP_EXECUTION_CANCELLED";
    default:
      return "AECP_EXECUTION_CONSUMED";
  }
}
