// The small web UI, server-rendered HTML (no scripts): the pending list, one
// execution's record with its timeline, and the decide form of a decision
// link. Every value is HTML-escaped; pages are sent with a strict CSP, no
// referrer (link tokens are in URLs) and no caching.

import type { Execution } from "./model.js";
import { actionSummary } from "./messages.js";

export const HTML_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "content-type": "text/html; charset=utf-8",
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
});

export function esc(v: unknown): string {
  return String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

const CSS = `
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:12px 24px;font-weight:600}
header a{color:#fff;text-decoration:none}
main{max-width:960px;margin:24px auto;padding:0 16px}
.card{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:16px 20px;margin-bottom:16px}
h1{font-size:22px;margin:0 0 12px}
h2{font-size:16px;margin:0 0 10px;color:#444}
table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:6px 8px;border-bottom:1px solid #eef0f3;vertical-align:top}
th{color:#555;font-weight:600;width:180px}
code,pre{font:13px/1.4 ui-monospace,Menlo,Consolas,monospace;background:#f1f3f6;border-radius:4px;padding:1px 4px}
pre{padding:10px;overflow:auto;max-height:320px}
.state{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600;font-size:13px}
.pending{background:#fff4d6;color:#8a5a00}.approved,.executed{background:#daf5e3;color:#116b35}
.rejected,.expired,.cancelled{background:#fde2e1;color:#a01d18}.overridden{background:#e8defc;color:#5b2ca0}
ol.timeline{margin:0;padding-left:20px}ol.timeline li{margin:4px 0}
textarea{width:100%;min-height:80px;font:inherit;box-sizing:border-box;padding:8px;border:1px solid #c8ced8;border-radius:6px}
button{font:inherit;font-weight:600;border:0;border-radius:6px;padding:9px 18px;cursor:pointer;color:#fff}
button.approve{background:#1a7f43}button.reject{background:#b42318}
.muted{color:#6b7280}.notice{padding:12px 16px;border-radius:6px;background:#eef4ff;border:1px solid #c9dafc}
.error{background:#fdecea;border-color:#f5c2bd}
`;

export function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${esc(title)} · AECP approvals</title><style>${CSS}</style></head>
<body><header><a href="/ui">AECP approvals</a></header><main>${body}</main></body></html>`;
}

export function messagePage(title: string, message: string, isError = false): string {
  return page(title, `<div class="card"><h1>${esc(title)}</h1><p class="notice${isError ? " error" : ""}">${esc(message)}</p></div>`);
}

const state = (s: string): string => `<span class="state ${esc(s)}" data-state="${esc(s)}">${esc(s)}</span>`;

export function listPage(executions: Execution[], filter: string | undefined): string {
  const rows = executions
    .map(
      (e) =>
        `<tr><td><a href="/ui/executions/${esc(encodeURIComponent(e.id))}"><code>${esc(e.id)}</code></a></td><td>${state(e.state)}</td><td><code>${esc(actionSummary(e))}</code></td><td>${esc(e.proposal.requester ?? "")}</td><td>${esc(e.proposal.policies.map((p) => p.policy).join(", "))}</td><td class="muted">${esc(e.expires_at)}</td></tr>`,
    )
    .join("");
  return page(
    "Executions",
    `<div class="card"><h1>${filter ? `${esc(filter[0]!.toUpperCase() + filter.slice(1))} executions` : "Executions"}</h1>
<p class="muted"><a href="/ui?state=pending">pending</a> · <a href="/ui?state=approved">approved</a> · <a href="/ui?state=executed">executed</a> · <a href="/ui?state=rejected">rejected</a> · <a href="/ui?state=expired">expired</a> · <a href="/ui?all=1">all</a></p>
${executions.length ? `<table><tr><th>execution</th><th>state</th><th>action</th><th>requester</th><th>policies</th><th>expires</th></tr>${rows}</table>` : `<p class="muted">Nothing here.</p>`}</div>`,
  );
}

/** The record of one execution; `form` is the decide form of a decision link (or empty). */
export function executionPage(e: Execution, form = ""): string {
  const r = e.proposal.request;
  const timeline = e.transitions
    .map((t) => `<li>${state(t.state)} <span class="muted">${esc(t.at)}</span> by <b>${esc(t.actor)}</b>${t.justification ? ` — “${esc(t.justification)}”` : ""}</li>`)
    .join("");
  const decisions = e.decisions.length
    ? `<table><tr><th>approver</th><th>decision</th><th>outcome</th><th>at</th></tr>${e.decisions
        .map((d) => `<tr><td>${esc(d.approver)} <span class="muted">(${esc(d.channel)})</span></td><td>${esc(d.decision)}${d.justification ? ` — “${esc(d.justification)}”` : ""}</td><td>${d.accepted ? "counted" : `refused: <code>${esc(d.reason)}</code>`}</td><td class="muted">${esc(d.at)}</td></tr>`)
        .join("")}</table>`
    : `<p class="muted">No decisions yet.</p>`;
  const policies = e.proposal.policies
    .map((p) => `<tr><td><code>${esc(p.policy)}</code></td><td>${esc(p.enforcement)}</td><td>${p.quorum} of ${esc(p.approvers.join(", ") || "any approver")}</td><td>${esc(p.exceptions.join(", "))}</td></tr>`)
    .join("");
  return page(
    `Execution ${e.id}`,
    `${form}
<div class="card"><h1>Execution <code>${esc(e.id)}</code> ${state(e.state)}</h1>
<table>
<tr><th>Proposed action</th><td><code id="action">${esc(actionSummary(e))}</code></td></tr>
<tr><th>Requester</th><td>${esc(e.proposal.requester ?? "unknown")}</td></tr>
<tr><th>Created / expires</th><td>${esc(e.created_at)} / ${esc(e.expires_at)}</td></tr>
<tr><th>Consumed</th><td>${esc(e.consumed_at ?? "not yet")}</td></tr>
<tr><th>Bundle</th><td><code>${esc(e.proposal.bundle.name)}</code> ${esc(e.proposal.bundle.digest)}${e.proposal.bundle.revision === null ? "" : ` rev ${e.proposal.bundle.revision}`}</td></tr>
<tr><th>Fingerprint</th><td><code>${esc(e.proposal.fingerprint)}</code></td></tr>
<tr><th>Context</th><td>decision <code>${esc(e.proposal.decision_id)}</code>${e.proposal.trace_id ? `, trace <code>${esc(e.proposal.trace_id)}</code>` : ""}</td></tr>
<tr><th>Body SHA-256</th><td><code>${esc(r.body_sha256 ?? "none")}</code></td></tr>
</table>
${r.body !== undefined ? `<h2>Body</h2><pre>${esc(JSON.stringify(r.body, null, 2))}</pre>` : ""}
${Object.keys(r.headers).length ? `<h2>Headers</h2><pre>${esc(Object.entries(r.headers).map(([k, v]) => `${k}: ${v}`).join("\n"))}</pre>` : ""}
</div>
<div class="card"><h2>Policy signals</h2><table><tr><th>policy</th><th>enforcement</th><th>needs</th><th>exceptions</th></tr>${policies}</table>
<p class="muted">Violated: ${esc(e.proposal.violations.map((v) => `${v.policy} (${v.enforcement})`).join(", "))}</p></div>
<div class="card"><h2>Timeline</h2><ol class="timeline">${timeline}</ol></div>
<div class="card"><h2>Decisions</h2>${decisions}</div>
${e.grant ? `<div class="card"><h2>Exception grant</h2><p>waives <code>${esc(e.grant.exceptions.join(", "))}</code> until ${esc(e.grant.expires_at)} (key <code>${esc(e.grant.key_id)}</code>)</p></div>` : ""}`,
  );
}

/** The decide form of a decision link: POSTs back to the same URL with the CSRF token. */
export function decideForm(e: Execution, approverId: string, action: "approve" | "reject", csrf: string): string {
  if (e.state !== "pending") return `<div class="card"><p class="notice">This execution is <b>${esc(e.state)}</b>; it can no longer be decided.</p></div>`;
  const label = action === "approve" ? "Approve" : "Reject";
  return `<div class="card"><h1>${label} as <b>${esc(approverId)}</b>?</h1>
<p class="muted">Review the proposed action below. Nothing changes until you press ${label}.</p>
<form method="post" id="decide">
<input type="hidden" name="csrf" value="${esc(csrf)}">
<p><label for="justification">Justification${action === "reject" ? " (required)" : " (optional)"}</label><br>
<textarea id="justification" name="justification" maxlength="4000"${action === "reject" ? " required" : ""}></textarea></p>
<p><button type="submit" class="${action}" id="submit">${label}</button></p>
</form></div>`;
}
