// Decision → Envoy CheckResponse (envoy.service.auth.v3), following Envoy's
// ext_authz semantics. One pure function per outcome, no transport: the gRPC
// server sends these objects as they are; the HTTP mode maps the same
// outcome onto an HTTP response.
//
//   allow → status OK + ok_response (x-aecp-decision-id and advisory notes
//           added to the upstream request; `append` set explicitly to false)
//   deny  → status PERMISSION_DENIED + denied_response (403, JSON body naming
//           the violated policies and the decision id)
//   pause → 503 fail-closed (AECP_APPROVALS_UNAVAILABLE) marked `pending`;
//           with an approvals service, Sidecar.settle turns it into a defer
//           (428 + execution id), an allow-once, or a deny (see pause.ts)
//   error → fail closed (deny with the error's reason code) unless fail-open
// Every response carries dynamic_metadata (decision id, effect, policies,
// bundle) so Envoy access logs can join on it. A policy decision is never a
// gRPC error.

import type { BundleRef, Decision, RequestAttributes } from "../bundle/index.js";
import { jsonToStruct, type JsonValue } from "./envoy.js";

/** gRPC status codes used in CheckResponse.status. */
export const GRPC_OK = 0;
export const GRPC_PERMISSION_DENIED = 7;
export const GRPC_UNAVAILABLE = 14;

export const HEADER_DECISION_ID = "x-aecp-decision-id";
export const HEADER_ADVISORY = "x-aecp-advisory";
export const HEADER_FAIL_OPEN = "x-aecp-fail-open";

/** The outcome of one check, independent of the wire format. */
export interface CheckOutcome {
  decisionId: string;
  allowed: boolean;
  /** HTTP status for a denied request. */
  httpStatus: number;
  /** Headers for the upstream request (allow) or the client response (deny). */
  headers: Array<[string, string]>;
  /** JSON body for a denied request. */
  body: string | undefined;
  metadata: Record<string, JsonValue>;
  /** CheckResponse.status code and message. */
  grpcCode: number;
  message: string;
  /**
   * Set on a `pause` decision: the approvals path (async, off the allow/deny
   * path) may still turn this outcome into a defer, an allow-once or a deny.
   */
  pending?: {
    decision: Decision;
    attrs?: RequestAttributes;
    /** APPROVAL settings of a violated policy, from the bundle that decided. */
    approvalOf?: (policy: string) => { approvers: string[]; quorum: number; timeoutMs: number; exceptions?: readonly string[] } | undefined;
  };
  /** What telemetry needs to describe the Check (set only when OpenTelemetry is on). */
  observed?: { attrs: RequestAttributes | undefined; decision: Decision | undefined; reason: string | undefined };
  /**
   * Set on a plain allow (no violations, no waivers): the bundle that
   * decided. Such an outcome's wire form depends only on the bundle, the
   * decision id and the evaluation time, so the gRPC encoder writes it from
   * a per-bundle template (check-response-wire.ts). Outcomes are not changed
   * after they are made (only `observed` and `pending` are set later).
   */
  plainAllow: BundleRef | undefined;
}

export interface ResponseOptions {
  /** HTTP status for fail-closed internal errors (default 403). */
  failStatus: number;
  failOpen: boolean;
}

/** "a,b,c": the policy names of a list (most decisions have none: no array, no join). */
function policyList(xs: readonly { policy: string }[]): string {
  if (xs.length === 0) return "";
  let out = xs[0]!.policy;
  for (let i = 1; i < xs.length; i++) out += "," + xs[i]!.policy;
  return out;
}

function metadataFor(decisionId: string, effect: string, d: Decision | undefined, reason?: string): Record<string, JsonValue> {
  const m: Record<string, JsonValue> = { aecp_decision_id: decisionId, aecp_effect: effect };
  if (d) {
    m["aecp_policies"] = policyList(d.violations);
    m["aecp_waived"] = policyList(d.waived);
    m["aecp_bundle"] = d.bundle.name;
    m["aecp_bundle_digest"] = d.bundle.digest;
    if (d.bundle.revision !== null) m["aecp_bundle_revision"] = d.bundle.revision;
    m["aecp_eval_ns"] = d.evalNs;
  }
  if (reason !== undefined) m["aecp_reason"] = reason;
  return m;
}

/** Every allow outcome has this shape: the decision id header (plus extras), no body, status OK. */
function allowed(decisionId: string, metadata: Record<string, JsonValue>, extraHeaders: Array<[string, string]> = [], plainAllow?: BundleRef): CheckOutcome {
  return {
    decisionId,
    allowed: true,
    httpStatus: 200,
    headers: extraHeaders.length === 0 ? [[HEADER_DECISION_ID, decisionId]] : [[HEADER_DECISION_ID, decisionId], ...extraHeaders],
    body: undefined,
    metadata,
    grpcCode: GRPC_OK,
    message: "",
    plainAllow,
  };
}

/** Every non-allow outcome has this shape: a JSON body, the decision id header, PERMISSION_DENIED. */
function denied(
  decisionId: string,
  httpStatus: number,
  body: Record<string, unknown>,
  metadata: Record<string, JsonValue>,
  message: string,
  extraHeaders: Array<[string, string]> = [],
): CheckOutcome {
  return {
    decisionId,
    allowed: false,
    httpStatus,
    headers: [["content-type", "application/json"], [HEADER_DECISION_ID, decisionId], ...extraHeaders],
    body: JSON.stringify(body),
    metadata,
    grpcCode: GRPC_PERMISSION_DENIED,
    message,
    plainAllow: undefined,
  };
}

export function outcomeForDecision(d: Decision, decisionId: string): CheckOutcome {
  if (d.effect === "allow") {
    if (d.violations.length === 0 && d.waived.length === 0) return allowed(decisionId, metadataFor(decisionId, "allow", d), [], d.bundle);
    const advisory = d.violations.filter((v) => v.enforcement === "ADVISORY").map((v) => v.policy);
    return allowed(decisionId, metadataFor(decisionId, "allow", d), advisory.length > 0 ? [[HEADER_ADVISORY, advisory.join(",")]] : []);
  }
  if (d.effect === "deny") {
    const blocking = d.violations.filter((v) => v.enforcement === "BLOCKING");
    const reason = d.defaulted && blocking.length === 0 ? "AECP_DEFAULT_DENY" : "AECP_POLICY_VIOLATION";
    return denied(decisionId, 403, { effect: "deny", decision_id: decisionId, reason, violations: blocking }, metadataFor(decisionId, "deny", d, reason), "denied by policy");
  }
  // pause, before (or without) the approvals service: 503 fail closed; `pending`
  // lets the approvals path (Sidecar.settle) turn it into defer / allow-once / deny
  const pending = d.violations.filter((v) => v.enforcement === "REQUIRE_APPROVAL");
  const o = denied(
    decisionId,
    503,
    { effect: "pause", decision_id: decisionId, reason: "AECP_APPROVALS_UNAVAILABLE", requires_approval: pending },
    metadataFor(decisionId, "pause", d, "AECP_APPROVALS_UNAVAILABLE"),
    "approval required but the approvals service is not configured or not reachable",
    [["retry-after", "30"]],
  );
  o.pending = { decision: d };
  return o;
}

/** An internal failure or a request that cannot be decided: fail closed unless configured otherwise. */
export function outcomeForError(code: string, httpStatus: number, decisionId: string, opts: ResponseOptions): CheckOutcome {
  if (opts.failOpen) {
    return allowed(decisionId, metadataFor(decisionId, "allow", undefined, code), [[HEADER_FAIL_OPEN, code]]);
  }
  return denied(decisionId, httpStatus, { effect: "deny", decision_id: decisionId, reason: code }, metadataFor(decisionId, "deny", undefined, code), `fail closed: ${code}`);
}

const headerOption = ([key, value]: [string, string]) => ({ header: { key, value }, append: { value: false } });

/**
 * Headers only AECP may put on an upstream request. A client could send them
 * itself (e.g. a forged `x-aecp-fail-open`), so an allow removes every one the
 * sidecar did not set.
 */
export const OWN_HEADERS = [HEADER_DECISION_ID, HEADER_ADVISORY, HEADER_FAIL_OPEN] as const;

/** CheckResponse in protobufjs object form (LOADER_OPTIONS). */
export function toCheckResponse(o: CheckOutcome): Record<string, unknown> {
  const res: Record<string, unknown> = {
    status: { code: o.grpcCode, message: o.message },
    dynamic_metadata: jsonToStruct(o.metadata),
  };
  if (o.allowed) {
    const set = new Set(o.headers.map(([k]) => k));
    res["ok_response"] = { headers: o.headers.map(headerOption), headers_to_remove: OWN_HEADERS.filter((h) => !set.has(h)) };
  }
  else res["denied_response"] = { status: { code: o.httpStatus }, headers: o.headers.map(headerOption), body: o.body ?? "" };
  return res;
}

// --- pause (REQUIRE_APPROVAL) with an approvals service ------------------------------

export interface PauseResponseOptions {
  /** HTTP status of the deferred ("come back with the execution id") response. Default 428. */
  deferStatus: number;
  /** `retry-after` seconds suggested to the client. Default 5. */
  retryAfterS: number;
}

/** Defer: the request is held by the approvals service; the client retries with x-aecp-execution-id. */
export function outcomeForDeferred(d: Decision, decisionId: string, execution: { id: string; state: string; location: string }, o: PauseResponseOptions): CheckOutcome {
  const pending = d.violations.filter((v) => v.enforcement === "REQUIRE_APPROVAL");
  return denied(
    decisionId,
    o.deferStatus,
    {
      effect: "pause",
      decision_id: decisionId,
      execution_id: execution.id,
      state: execution.state,
      location: execution.location,
      requires_approval: pending,
      retry: "repeat the identical request with header x-aecp-execution-id once approved",
    },
    { ...metadataFor(decisionId, "pause", d, "AECP_APPROVAL_PENDING"), aecp_execution_id: execution.id },
    "approval pending",
    [
      ["x-aecp-execution-id", execution.id],
      ["location", execution.location],
      ["retry-after", String(o.retryAfterS)],
    ],
  );
}

/** The retried request matched an approved execution, which was consumed (single use). */
export function outcomeForApproved(d: Decision, decisionId: string, executionId: string): CheckOutcome {
  return allowed(decisionId, { ...metadataFor(decisionId, "allow", d, "AECP_APPROVED_EXECUTION"), aecp_execution_id: executionId }, [["x-aecp-execution-id", executionId]]);
}

/** A presented execution that does not authorize this request (rejected, expired, used, other request, unknown). */
export function outcomeForExecutionDenied(d: Decision, decisionId: string, executionId: string, reason: string): CheckOutcome {
  return denied(
    decisionId,
    403,
    { effect: "deny", decision_id: decisionId, execution_id: executionId, reason },
    { ...metadataFor(decisionId, "deny", d, reason), aecp_execution_id: executionId },
    `execution ${executionId}: ${reason}`,
  );
}
