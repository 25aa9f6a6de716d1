// `aecp replay <execution-id> --approvals <url> [--bundle <file> | --distribution <url>] [--pub <bundle key>]... [--audit-pub <checkpoint key>]...`
//
// Reconstructs one execution from the approvals service's authoritative
// record (GET /v1/executions/{id}/record) and checks it three ways:
//   1. bundle: the bundle given (file, or fetched from the distribution
//      service by the recorded name and revision) has exactly the recorded
//      digest (and, with --pub, a trusted signature);
//   2. decision: the recorded input re-evaluated against that bundle gives
//      the recorded decision (effect and violated policies);
//   3. audit: every audit entry of the execution is proven by an inclusion
//      proof against the latest signed checkpoint (with --audit-pub, its
//      signature), and the record agrees with the audited entries (the
//      proposal as created, the transitions in order, every decision).
// Prints the reconstruction for humans; exit 0 only when all three hold,
// 1 when one does not, 2 for usage/IO errors. Token: AECP_APPROVALS_TOKEN.

import canonicalizeModule from "canonicalize";
import { buildExecutionProof, HttpAuditReader, httpGet, httpGetJson, answerError, toHex, verifyExecutionProof, type AuditEntry, type HttpOptions } from "../../audit/index.js";
import type { Execution } from "../../approvals/index.js";
import { LoadedBundle, type PeerAttributes, type RequestAttributes } from "../../bundle/index.js";
import { AecpError } from "../../common/index.js";
import { blobDigestOf, parseManifest } from "../../distribution/index.js";
import { readBytes, EXIT_FAIL, EXIT_OK } from "../io.js";
import { auditIoExit } from "./audit.js";
import { trustedFrom } from "./verify.js";

const canonicalize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

export interface ReplayOptions {
  approvals: string;
  bundle?: string;
  distribution?: string;
  pub: string[];
  auditPub: string[];
}

/** Value of the decision log's masked headers (src/executive/decision-log.ts MASKED_VALUE). */
const MASKED = "***";
/** Most revisions scanned on the distribution service for a bundle recorded without a revision. */
const MAX_REVISIONS_SCANNED = 200;

function invalid(why: string): never {
  throw new AecpError("AECP_REPLAY_RECORD_INVALID", `the execution record ${why}`);
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** Checks the parts of the record replay relies on; throws AECP_REPLAY_RECORD_INVALID naming the first missing one. */
export function parseRecord(v: unknown, id: string): Execution {
  if (!isObj(v)) invalid("is not a JSON object");
  if (v["id"] !== id) invalid(`is for \`${String(v["id"])}\`, not \`${id}\``);
  if (typeof v["state"] !== "string") invalid("has no state");
  const p = v["proposal"];
  if (!isObj(p)) invalid("has no proposal");
  const b = p["bundle"];
  if (!isObj(b) || typeof b["digest"] !== "string" || !/^sha256:[0-9a-f]{64}$/.test(b["digest"]) || typeof b["name"] !== "string") invalid("has no bundle name and digest");
  if (!Array.isArray(p["policies"]) || !Array.isArray(p["violations"])) invalid("has no policy signals");
  if (!isObj(p["request"])) invalid("has no proposed action");
  if (!Array.isArray(v["transitions"]) || !Array.isArray(v["decisions"])) invalid("has no transitions or decisions");
  return v as unknown as Execution;
}

function strMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isObj(v)) for (const [k, x] of Object.entries(v)) if (typeof x === "string") out[k] = x;
  return out;
}

function peer(v: unknown): PeerAttributes {
  if (!isObj(v)) return {};
  const s = (k: string): string | undefined => (typeof v[k] === "string" ? (v[k] as string) : undefined);
  const out: PeerAttributes = {};
  const set = <K extends keyof PeerAttributes>(k: K, x: PeerAttributes[K] | undefined): void => {
    if (x !== undefined) out[k] = x;
  };
  set("principal", s("principal"));
  set("address", s("address"));
  set("port", typeof v["port"] === "number" ? v["port"] : undefined);
  set("namespace", s("namespace"));
  set("serviceAccount", s("service_account"));
  set("trustDomain", s("trust_domain"));
  set("service", s("service"));
  if (isObj(v["labels"])) set("labels", strMap(v["labels"]));
  return out;
}

/**
 * RequestAttributes from the record's `input` (the decision log's
 * `attributes` shape). Returns what could not be restored exactly as notes:
 * masked headers and a body too large to have been recorded.
 */
export function attributesFromRecordedInput(input: unknown): { attrs: RequestAttributes; notes: string[] } {
  if (!isObj(input)) invalid("has no recorded input (`proposal.input`) to re-evaluate");
  const s = (k: string): string | undefined => (typeof input[k] === "string" ? (input[k] as string) : undefined);
  const headers = strMap(input["headers"]);
  const notes: string[] = [];
  const masked = Object.keys(headers).filter((k) => headers[k] === MASKED);
  if (masked.length > 0) notes.push(`headers recorded masked (policies reading them cannot replay exactly): ${masked.join(", ")}`);
  let body = input["body"];
  if (isObj(body) && body["truncated"] === true) {
    notes.push(`the body (${String(body["bytes"] ?? "?")} bytes) was too large to record; policies reading it cannot replay exactly`);
    body = undefined;
  }
  const attrs: RequestAttributes = {
    query: strMap(input["query"]),
    headers,
    source: peer(input["source"]),
    destination: peer(input["destination"]),
    context: strMap(input["context"]),
    metadata: {},
  };
  const set = <K extends keyof RequestAttributes>(k: K, x: RequestAttributes[K] | undefined): void => {
    if (x !== undefined) (attrs as unknown as Record<string, unknown>)[k] = x;
  };
  set("method", s("method"));
  set("path", s("path"));
  set("host", s("host"));
  set("scheme", s("scheme"));
  set("body", body === null ? undefined : body);
  return { attrs, notes };
}

/** The bundle file for the recorded digest: --bundle, or from the distribution service by name and revision. */
async function bundleBytes(rec: Execution, o: ReplayOptions): Promise<{ bytes: Uint8Array; from: string }> {
  if (o.bundle !== undefined) return { bytes: readBytes(o.bundle), from: o.bundle };
  const base = o.distribution!.replace(/\/+$/, "");
  const b = rec.proposal.bundle;
  const name = encodeURIComponent(b.name);
  const http: HttpOptions = { maxResponseBytes: 256 * 1024 * 1024 };
  let revisions: number[];
  if (b.revision !== null) revisions = [b.revision];
  else {
    const list = (await httpGetJson(`${base}/v1/bundles/${name}/revisions`, http)) as { revisions?: unknown };
    revisions = (Array.isArray(list.revisions) ? list.revisions.filter((r): r is number => typeof r === "number") : []).sort((x, y) => y - x).slice(0, MAX_REVISIONS_SCANNED);
  }
  for (const rev of revisions) {
    const url = `${base}/v1/bundles/${name}/revisions/${rev}`;
    const res = await httpGet(url, http);
    if (res.status !== 200) throw answerError(url, res.status, res.body);
    const m = parseManifest(res.body).signed;
    if (m.bundleDigest !== b.digest) continue;
    const blobUrl = `${base}/v1/blobs/${m.blobDigest}`;
    const blob = await httpGet(blobUrl, http);
    if (blob.status !== 200) throw answerError(blobUrl, blob.status, blob.body);
    if (blobDigestOf(blob.body) !== m.blobDigest) throw new AecpError("AECP_BLOB_DIGEST_MISMATCH", `the distribution service served blob ${m.blobDigest} with other bytes`);
    return { bytes: blob.body, from: `${base} (bundle \`${b.name}\` revision ${rev}, blob ${m.blobDigest})` };
  }
  throw new AecpError("AECP_REPLAY_RECORD_INVALID", `the distribution service has no revision of bundle \`${b.name}\` with digest ${b.digest}${b.revision !== null ? ` (revision ${b.revision} has another)` : ""}`);
}

const policyList = (l: ReadonlyArray<{ policy: string; enforcement: string }>): string[] => l.map((p) => `${p.policy}:${p.enforcement}`).sort();

function durationText(ms: number): string {
  if (ms <= 0) return "service default";
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${ms / 1000}s`;
}

/** The human-readable reconstruction of the record. */
export function renderExecution(rec: Execution): string {
  const p = rec.proposal;
  const r = p.request;
  const q = new URLSearchParams(r.query).toString();
  const lines: string[] = [];
  lines.push(`Execution ${rec.id}  (state: ${rec.state})`);
  lines.push("", "Proposed");
  lines.push(`  ${r.method ?? "?"} ${r.scheme ?? "http"}://${r.authority ?? "?"}${r.path ?? ""}${q ? `?${q}` : ""}`);
  lines.push(`  requested by ${p.requester ?? "(unknown principal)"} at ${rec.created_at}`);
  for (const [k, v] of Object.entries(r.headers)) lines.push(`  header ${k}: ${v}`);
  if (r.body_sha256) lines.push(`  body sha256 ${r.body_sha256}${r.body !== undefined ? `: ${JSON.stringify(r.body).slice(0, 200)}` : ""}`);
  lines.push(`  fingerprint ${p.fingerprint}; decision ${p.decision_id}${p.trace_id ? `; trace ${p.trace_id}` : ""}`);
  lines.push("", `Policy signals (bundle \`${p.bundle.name}\`${p.bundle.revision !== null ? ` revision ${p.bundle.revision}` : ""}, ${p.bundle.digest})`);
  for (const v of p.violations) lines.push(`  violated ${v.policy} (${v.enforcement})`);
  for (const s of p.policies) {
    lines.push(`  needs a decision: ${s.policy}: approvers ${s.approvers.length ? s.approvers.join(", ") : "(any)"}, quorum ${s.quorum}, timeout ${durationText(s.timeout_ms)}${s.exceptions.length ? `, exceptions ${s.exceptions.join(", ")}` : ""}`);
  }
  lines.push("", "Decisions");
  if (rec.decisions.length === 0) lines.push("  (none)");
  for (const d of rec.decisions) {
    lines.push(`  ${d.at}  ${d.approver} ${d.decision} via ${d.channel}${d.justification ? ` — "${d.justification}"` : ""}${d.accepted ? "" : `  [refused: ${d.reason ?? "?"}]`}`);
  }
  lines.push("", "Transitions");
  for (const t of rec.transitions) lines.push(`  ${t.at}  ${t.state.padEnd(10)} by ${t.actor}${t.justification ? ` — "${t.justification}"` : ""}`);
  if (rec.grant) lines.push("", `Exception grant: ${rec.grant.exceptions.join(", ")} for ${rec.grant.policies.join(", ")} (key ${rec.grant.key_id}), expires ${rec.grant.expires_at}`);
  const executed = rec.transitions.find((t) => t.state === "executed");
  lines.push("", rec.consumed_at ? `Executed: released once, at ${rec.consumed_at}${executed ? ` (consumed by ${executed.actor})` : ""}` : "Executed: no (never consumed)");
  return lines.join("\n") + "\n";
}

/** Differences between the record and the audited entries of the execution (created proposal, transitions, decisions). */
export function recordAgainstAudit(rec: Execution, entries: readonly AuditEntry[]): string[] {
  const problems: string[] = [];
  const created = entries.find((e) => e.kind === "execution.created");
  if (!created) problems.push("the audit log has no `execution.created` entry for this execution");
  else {
    const audited = (created.body as { proposal?: unknown } | null)?.proposal;
    if (canonicalize(audited) !== canonicalize(rec.proposal)) problems.push(`the record's proposal differs from the one audited at creation (entry ${created.index})`);
  }
  const audited = entries
    .filter((e) => e.kind === "execution.transition")
    .map((e) => e.body as { to?: unknown; actor?: unknown })
    .map((b) => `${String(b.to)} by ${String(b.actor)}`);
  const recorded = rec.transitions.slice(1).map((t) => `${t.state} by ${t.actor}`);
  if (audited.join("\n") !== recorded.join("\n")) {
    problems.push(`the record's transitions [${recorded.join("; ")}] differ from the audited ones [${audited.join("; ")}]`);
  }
  // Every decision in the record was audited when it was made (the log also
  // holds attempts the record does not, e.g. unauthenticated ones).
  const attempts = new Set(
    entries
      .filter((e) => e.kind === "decision.attempt")
      .map((e) => e.body as Record<string, unknown>)
      .map((b) => canonicalize([b["approver"], b["decision"], b["at"], b["accepted"], b["justification"] ?? null])),
  );
  for (const d of rec.decisions) {
    if (!attempts.has(canonicalize([d.approver, d.decision, d.at, d.accepted, d.justification ?? null]))) {
      problems.push(`the record's decision by ${d.approver} (${d.decision} at ${d.at}) has no matching audited attempt`);
    }
  }
  return problems;
}

export async function replayCommand(id: string, o: ReplayOptions): Promise<number> {
  return auditIoExit(() => replay(id, o));
}

async function replay(id: string, o: ReplayOptions): Promise<number> {
  if ((o.bundle === undefined) === (o.distribution === undefined)) throw new AecpError("AECP_USAGE", "give exactly one of --bundle <file> or --distribution <url>");
  const token = process.env["AECP_APPROVALS_TOKEN"];
  const base = o.approvals.replace(/\/+$/, "");
  const bundleKeys = o.pub.length > 0 ? trustedFrom(o.pub) : undefined;
  const auditKeys = o.auditPub.length > 0 ? trustedFrom(o.auditPub) : undefined;
  const rec = parseRecord(await httpGetJson(`${base}/v1/executions/${encodeURIComponent(id)}/record`, { token }), id);
  const out = process.stdout;
  out.write(renderExecution(rec));
  const failures: string[] = [];

  // 1. the exact bundle
  out.write("\nBundle\n");
  const { bytes, from } = await bundleBytes(rec, o);
  if (!bundleKeys) process.stderr.write("warning: no --pub given; the bundle signature was NOT verified (its digest still is)\n");
  const bundle = LoadedBundle.load(bytes, bundleKeys ? { trustedKeys: bundleKeys } : { skipVerification: true });
  const digestOk = bundle.ref.digest === rec.proposal.bundle.digest;
  out.write(`  ${from}: \`${bundle.name}\` ${bundle.ref.digest}${bundleKeys ? ` signed by ${bundle.ref.keyId}` : ""} — ${digestOk ? "the recorded digest" : `NOT the recorded digest ${rec.proposal.bundle.digest}`}\n`);
  if (!digestOk) failures.push(`bundle digest ${bundle.ref.digest} differs from the recorded ${rec.proposal.bundle.digest}`);

  // 2. the decision, re-evaluated
  out.write("\nRe-evaluation of the recorded input\n");
  let restored: ReturnType<typeof attributesFromRecordedInput> | undefined;
  try {
    restored = attributesFromRecordedInput(rec.proposal.input);
  } catch (e) {
    if (!(e instanceof AecpError)) throw e;
    out.write(`  cannot re-evaluate: ${e.message}\n`);
    failures.push(`cannot re-evaluate: ${e.message}`);
  }
  for (const n of restored?.notes ?? []) out.write(`  note: ${n}\n`);
  const attrs = restored?.attrs;
  if (attrs === undefined) {
    // reported above
  } else if (digestOk) {
    const d = bundle.evaluate(attrs, []);
    const expectedEffect = rec.proposal.violations.some((v) => v.enforcement === "BLOCKING") ? "deny" : "pause";
    const got = policyList(d.violations);
    const want = policyList(rec.proposal.violations);
    const same = d.effect === expectedEffect && got.join(",") === want.join(",");
    out.write(`  recorded: ${expectedEffect} [${want.join(", ")}]\n  replayed: ${d.effect} [${got.join(", ")}] — ${same ? "same decision" : "DIFFERENT decision"}\n`);
    if (!same) failures.push(`re-evaluation gives ${d.effect} [${got.join(", ")}], the record says ${expectedEffect} [${want.join(", ")}]`);
  } else out.write("  skipped: not the recorded bundle\n");

  // 3. the audit log
  out.write("\nAudit\n");
  const reader = new HttpAuditReader(base, { token });
  const doc = await buildExecutionProof(reader, id);
  const check = verifyExecutionProof(doc, auditKeys);
  if (!auditKeys) process.stderr.write("warning: no --audit-pub given; the checkpoint signature was NOT verified (the proofs still are)\n");
  const cp = check.checkpoint;
  if (cp) out.write(`  checkpoint: size ${cp.size}, root ${toHex(cp.root)}, key ${cp.keyId}, ${cp.time}${auditKeys && check.problems.every((p) => !p.startsWith("checkpoint")) ? " (signature verified)" : ""}\n`);
  for (const e of check.verified) out.write(`  proven  #${e.index}  ${e.createdAt}  ${e.kind}\n`);
  for (const p of check.problems) out.write(`  PROBLEM ${p}\n`);
  failures.push(...check.problems.map((p) => `audit: ${p}`));
  const agreement = recordAgainstAudit(rec, check.verified);
  for (const p of agreement) out.write(`  PROBLEM ${p}\n`);
  failures.push(...agreement.map((p) => `audit: ${p}`));

  if (failures.length === 0) {
    out.write(`\nreplay ok: ${rec.id} — same bundle, same decision, ${check.verified.length} audit entries proven\n`);
    return EXIT_OK;
  }
  process.stderr.write(`replay FAILED: ${rec.id}\n${failures.map((f) => `  - ${f}\n`).join("")}`);
  return EXIT_FAIL;
}
