// Notification messages, built when a state change commits and stored in the
// outbox exactly as they will be sent:
//  - Slack incoming webhook: a Block Kit message (proposed action, requester,
//    violated policies, expiry) with Approve/Reject buttons (Slack identity,
//    handled by the interactivity endpoint), a Review button (the execution
//    page) and per-approver signed decision links;
//  - generic JSON webhooks (Teams/Mattermost/other bridges): the same facts
//    and links as JSON, HMAC-signed at delivery (notifier.ts);
//  - after a decision: `execution.decided` to the webhooks and, when the
//    decision came through Slack, a `replace_original` update through the
//    interaction's response_url so stale buttons disappear.

import { inGroups, isSelf, type Execution } from "./model.js";
import type { ApprovalsOptions } from "./options.js";
import { signLink } from "./links.js";
import type { OutboxItem } from "./store.js";

/** Most per-approver link pairs in one message (Slack limits blocks and text). */
const MAX_LINKED_APPROVERS = 20;

export function executionUrl(o: ApprovalsOptions, id: string): string {
  return `${o.publicUrl}/ui/executions/${encodeURIComponent(id)}`;
}

export interface ApproverLinks {
  approver: string;
  slack_user_id: string | null;
  approve: string;
  reject: string;
}

/** Signed approve/reject links for every approver who may decide `e` (at most 20), valid until it expires. */
export function approverLinks(o: ApprovalsOptions, e: Execution): ApproverLinks[] {
  const out: ApproverLinks[] = [];
  const expiresAtS = Math.ceil(Date.parse(e.expires_at) / 1000);
  for (const a of o.approvers.values()) {
    if (out.length >= MAX_LINKED_APPROVERS) break;
    if (isSelf(a, e.proposal.requester) || !e.proposal.policies.some((p) => inGroups(a, p))) continue;
    const link = (action: "approve" | "reject") => `${o.publicUrl}/l/${signLink(o.linkKey, { executionId: e.id, approverId: a.id, action, expiresAtS })}`;
    out.push({ approver: a.id, slack_user_id: a.slack_user_id, approve: link("approve"), reject: link("reject") });
  }
  return out;
}

export function actionSummary(e: Execution): string {
  const r = e.proposal.request;
  const q = new URLSearchParams(r.query).toString();
  return `${r.method ?? "?"} ${r.authority ?? ""}${r.path ?? ""}${q ? "?" + q : ""}`;
}

/** Slack mrkdwn escaping (&, <, >). */
const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export function slackCreatedMessage(o: ApprovalsOptions, e: Execution, links: ApproverLinks[]): unknown {
  const policies = e.proposal.policies.map((p) => `\`${esc(p.policy)}\` (${p.quorum} of ${p.approvers.length ? p.approvers.map(esc).join(", ") : "any approver"})`).join("\n");
  const expiresS = Math.floor(Date.parse(e.expires_at) / 1000);
  const linkLines = links.map((l) => `${l.slack_user_id ? `<@${l.slack_user_id}>` : esc(l.approver)}: <${l.approve}|approve> · <${l.reject}|reject>`);
  return {
    text: `Approval needed: ${actionSummary(e)} (execution ${e.id})`,
    blocks: [
      { type: "header", text: { type: "plain_text", text: "Approval needed" } },
      {
        type: "section",
        fields: [
          { type: "mrkdwn", text: `*Action*\n\`${esc(actionSummary(e)).slice(0, 1500)}\`` },
          { type: "mrkdwn", text: `*Requester*\n${esc(e.proposal.requester ?? "unknown")}` },
          { type: "mrkdwn", text: `*Policies*\n${policies}`.slice(0, 1900) },
          { type: "mrkdwn", text: `*Expires*\n<!date^${expiresS}^{date_short_pretty} {time}|${e.expires_at}>` },
        ],
      },
      {
        type: "actions",
        block_id: "aecp_decide",
        elements: [
          { type: "button", action_id: "aecp_approve", style: "primary", text: { type: "plain_text", text: "Approve" }, value: e.id },
          { type: "button", action_id: "aecp_reject", style: "danger", text: { type: "plain_text", text: "Reject" }, value: e.id },
          { type: "button", action_id: "aecp_review", text: { type: "plain_text", text: "Review" }, url: executionUrl(o, e.id) },
        ],
      },
      ...(linkLines.length ? [{ type: "context", elements: [{ type: "mrkdwn", text: `Decision links (personal, single use):\n${linkLines.join("\n")}`.slice(0, 2900) }] }] : []),
      { type: "context", elements: [{ type: "mrkdwn", text: `Execution \`${e.id}\` · bundle \`${esc(e.proposal.bundle.name)}\` ${e.proposal.bundle.digest.slice(0, 19)}…` }] },
    ],
  };
}

function summary(o: ApprovalsOptions, e: Execution) {
  return {
    id: e.id,
    state: e.state,
    location: executionUrl(o, e.id),
    action: actionSummary(e),
    requester: e.proposal.requester,
    policies: e.proposal.policies.map((p) => ({ policy: p.policy, approvers: p.approvers, quorum: p.quorum })),
    expires_at: e.expires_at,
    transitions: e.transitions,
  };
}

/** Outbox rows when an execution is created. */
export function createdMessages(o: ApprovalsOptions, e: Execution): OutboxItem[] {
  const links = approverLinks(o, e);
  const items: OutboxItem[] = [];
  if (o.notify.slackWebhookUrl) {
    items.push({ executionId: e.id, channel: "slack", target: o.notify.slackWebhookUrl, event: "execution.created", payload: JSON.stringify(slackCreatedMessage(o, e, links)) });
  }
  for (const w of o.notify.webhooks) {
    items.push({ executionId: e.id, channel: "webhook", target: w.url, event: "execution.created", payload: JSON.stringify({ event: "execution.created", execution: summary(o, e), links }) });
  }
  return items;
}

/** Outbox rows when an execution reaches a decided state. */
export function decidedMessages(o: ApprovalsOptions, e: Execution, slackResponseUrl?: string): OutboxItem[] {
  const items: OutboxItem[] = o.notify.webhooks.map((w) => ({
    executionId: e.id,
    channel: "webhook" as const,
    target: w.url,
    event: "execution.decided",
    payload: JSON.stringify({ event: "execution.decided", execution: summary(o, e) }),
  }));
  if (slackResponseUrl) items.push(slackUpdate(o, e, slackResponseUrl));
  return items;
}

/** Replace the Slack message (response_url) with the outcome: no more buttons. */
export function slackUpdate(o: ApprovalsOptions, e: Execution, responseUrl: string): OutboxItem {
  const last = e.transitions[e.transitions.length - 1];
  const text = `Execution ${e.id} (${actionSummary(e)}) is *${e.state}*${last ? ` — ${last.actor}${last.justification ? `: ${last.justification}` : ""}` : ""}`;
  return {
    executionId: e.id,
    channel: "slack_response",
    target: responseUrl,
    event: "execution.decided",
    payload: JSON.stringify({ replace_original: true, text: esc(text), blocks: [{ type: "section", text: { type: "mrkdwn", text: esc(text).slice(0, 2900) } }, { type: "context", elements: [{ type: "mrkdwn", text: `<${executionUrl(o, e.id)}|execution record>` }] }] }),
  };
}
