// Validation of the create request (the sidecar's PauseRequest, see
// src/executive/approvals-client.ts) into an ExecutionProposal. Every field
// is checked and bounded; a bad request is AECP_EXECUTION_INVALID naming the
// field. Unknown top-level fields are refused (a typo must not silently drop
// part of the record).

import { AecpError } from "../common/index.js";
import type { ExecutionProposal, PolicySignal, ProposedAction } from "./model.js";

const bad = (field: string, why: string): never => {
  throw new AecpError("AECP_EXECUTION_INVALID", `execution request field \`${field}\` ${why}`);
};

const TOP = ["fingerprint", "decision_id", "bundle", "policies", "violations", "request", "requester", "trace_id", "input"];
const REQUEST = ["method", "authority", "path", "query", "body_sha256", "scheme", "headers", "body"];
const MAX_STR = 8192;

function obj(field: string, v: unknown): Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) bad(field, "must be an object");
  return v as Record<string, unknown>;
}

function str(field: string, v: unknown, max = MAX_STR): string {
  if (typeof v !== "string" || v.length > max) bad(field, `must be a string of at most ${max} characters`);
  return v as string;
}

function strOrNull(field: string, v: unknown, max = MAX_STR): string | null {
  return v === null || v === undefined ? null : str(field, v, max);
}

function strMap(field: string, v: unknown, maxKeys = 256): Record<string, string> {
  if (v === undefined || v === null) return {};
  const o = obj(field, v);
  const keys = Object.keys(o);
  if (keys.length > maxKeys) bad(field, `has more than ${maxKeys} entries`);
  const out: Record<string, string> = {};
  for (const k of keys) {
    if (k.length > 256) bad(field, "has a key longer than 256 characters");
    out[k] = str(`${field}.${k}`, o[k]);
  }
  return out;
}

function names(field: string, v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.length > 64) bad(field, "must be a list of at most 64 names");
  return (v as unknown[]).map((x, i) => str(`${field}[${i}]`, x, 256));
}

function policy(field: string, v: unknown): PolicySignal {
  const o = obj(field, v);
  const quorum = o["quorum"] ?? 1;
  if (typeof quorum !== "number" || !Number.isInteger(quorum) || quorum < 1 || quorum > 100) bad(`${field}.quorum`, "must be a whole number from 1 to 100");
  const timeout = o["timeout_ms"] ?? 0;
  if (typeof timeout !== "number" || !Number.isInteger(timeout) || timeout < 0 || timeout > 366 * 86_400_000) bad(`${field}.timeout_ms`, "must be a whole number of milliseconds (0 = default)");
  return {
    policy: str(`${field}.policy`, o["policy"], 256),
    enforcement: o["enforcement"] === undefined ? "REQUIRE_APPROVAL" : str(`${field}.enforcement`, o["enforcement"], 64),
    approvers: names(`${field}.approvers`, o["approvers"]),
    quorum: quorum as number,
    timeout_ms: timeout as number,
    exceptions: names(`${field}.exceptions`, o["exceptions"]),
  };
}

/** Validate a create request body. Throws AECP_EXECUTION_INVALID naming the first bad field. */
export function parseProposal(body: unknown): ExecutionProposal {
  const o = obj("(body)", body);
  for (const k of Object.keys(o)) if (!TOP.includes(k)) bad(k, `is not a known field (known: ${TOP.join(", ")})`);
  const fingerprint = str("fingerprint", o["fingerprint"], 100);
  if (!/^sha256:[0-9a-f]{64}$/.test(fingerprint)) bad("fingerprint", "must be `sha256:` followed by 64 lower-case hex digits");
  const b = obj("bundle", o["bundle"]);
  const revision = b["revision"] ?? null;
  if (revision !== null && (typeof revision !== "number" || !Number.isInteger(revision) || revision < 0)) bad("bundle.revision", "must be a whole number or null");
  const bundle = { name: str("bundle.name", b["name"], 256), digest: str("bundle.digest", b["digest"], 100), revision: revision as number | null };
  if (!/^sha256:[0-9a-f]{64}$/.test(bundle.digest)) bad("bundle.digest", "must be `sha256:` followed by 64 lower-case hex digits");
  const ps = o["policies"];
  if (!Array.isArray(ps) || ps.length === 0 || ps.length > 64) bad("policies", "must be a list of 1 to 64 policies");
  const policies = (ps as unknown[]).map((p, i) => policy(`policies[${i}]`, p));
  const vs = o["violations"] ?? policies.map((p) => ({ policy: p.policy, enforcement: p.enforcement }));
  if (!Array.isArray(vs) || vs.length > 1024) bad("violations", "must be a list of at most 1024 policies");
  const violations = (vs as unknown[]).map((v, i) => {
    const x = obj(`violations[${i}]`, v);
    return { policy: str(`violations[${i}].policy`, x["policy"], 256), enforcement: str(`violations[${i}].enforcement`, x["enforcement"], 64) };
  });
  const r = obj("request", o["request"]);
  for (const k of Object.keys(r)) if (!REQUEST.includes(k)) bad(`request.${k}`, "is not a known field");
  const bodySha = strOrNull("request.body_sha256", r["body_sha256"], 64);
  if (bodySha !== null && !/^[0-9a-f]{64}$/.test(bodySha)) bad("request.body_sha256", "must be 64 lower-case hex digits or null");
  const request: ProposedAction = {
    method: strOrNull("request.method", r["method"], 32),
    authority: strOrNull("request.authority", r["authority"], 1024),
    path: strOrNull("request.path", r["path"]),
    scheme: strOrNull("request.scheme", r["scheme"], 16),
    query: strMap("request.query", r["query"]),
    headers: strMap("request.headers", r["headers"]),
    body_sha256: bodySha,
  };
  if (r["body"] !== undefined) request.body = r["body"];
  return {
    fingerprint,
    decision_id: str("decision_id", o["decision_id"], 128),
    trace_id: strOrNull("trace_id", o["trace_id"], 512),
    bundle,
    policies,
    violations,
    request,
    requester: strOrNull("requester", o["requester"], 2048),
    input: o["input"] ?? null,
  };
}
