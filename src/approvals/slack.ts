// Slack interactivity: the endpoint Slack calls when someone presses
// Approve/Reject on the approval message.
//
// Verification (https://api.slack.com/authentication/verifying-requests-from-slack):
//   x-slack-signature = "v0=" + hex(HMAC-SHA256(signing secret, "v0:" + x-slack-request-timestamp + ":" + raw body))
// Refused with 401 AECP_SLACK_SIGNATURE_INVALID: missing headers, a timestamp
// more than 5 minutes from now, a wrong signature, or a signature seen before
// (replay: every accepted signature is recorded, single use, for 10 minutes).
//
// Identity: `payload.user.id` maps to the approver with that `slack_user_id`.
// Approve decides at once. Reject needs a justification, which a button
// cannot carry: the answer is an ephemeral message with the approver's
// personal reject link. Slack must get an answer within 3 seconds: the
// decision normally takes milliseconds; if it does not, the request is
// acknowledged at 2.5 s and the outcome is posted to response_url.

import { createHmac, timingSafeEqual } from "node:crypto";
import { AecpError, isAecpError } from "../common/index.js";
import { signLink } from "./links.js";
import type { ApprovalsOptions } from "./options.js";
import type { ApprovalsService } from "./service.js";

export const SLACK_WINDOW_S = 300;
const ACK_MS = 2500;

export function slackSignature(secret: string, timestamp: string, body: string | Buffer): string {
  return `v0=${createHmac("sha256", secret).update(`v0:${timestamp}:`).update(body).digest("hex")}`;
}

const invalid = (why: string): AecpError => new AecpError("AECP_SLACK_SIGNATURE_INVALID", `Slack request refused: ${why}`);

/** Check signature and freshness (not replay: that needs the store). Throws AECP_SLACK_SIGNATURE_INVALID. */
export function verifySlackSignature(secret: string, headers: { timestamp: string | undefined; signature: string | undefined }, body: Buffer, nowMs: number): string {
  const { timestamp, signature } = headers;
  if (!timestamp || !signature) throw invalid("missing x-slack-request-timestamp or x-slack-signature");
  if (!/^\d{1,12}$/.test(timestamp)) throw invalid("malformed timestamp");
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > SLACK_WINDOW_S) throw invalid("stale timestamp (more than 5 minutes from now)");
  const expected = Buffer.from(slackSignature(secret, timestamp, body));
  const got = Buffer.from(signature);
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) throw invalid("signature does not match");
  return signature;
}

export interface SlackAnswer {
  status: number;
  body: unknown;
}

const ephemeral = (text: string): SlackAnswer => ({ status: 200, body: { response_type: "ephemeral", replace_original: false, text } });

/** Handle one verified-or-not interactivity request. */
export async function handleSlackInteraction(
  service: ApprovalsService,
  options: ApprovalsOptions,
  headers: { timestamp: string | undefined; signature: string | undefined },
  raw: Buffer,
): Promise<SlackAnswer> {
  const secret = options.notify.slackSigningSecret;
  if (!secret) return { status: 404, body: { error: { code: "AECP_USAGE", message: "Slack interactivity is not configured (notify.slack_signing_secret)" } } };
  const now = Date.now();
  const signature = verifySlackSignature(secret, headers, raw, now);
  if (!(await service.store.tx((tx) => tx.useOnce("slack", signature, now)))) throw invalid("replayed (this signature was already used)");

  let payload: { type?: unknown; user?: { id?: unknown }; actions?: Array<{ action_id?: unknown; value?: unknown }>; response_url?: unknown };
  try {
    payload = JSON.parse(new URLSearchParams(raw.toString("utf8")).get("payload") ?? "") as typeof payload;
  } catch {
    return { status: 400, body: { error: { code: "AECP_APPROVALS_BAD_REQUEST", message: "Slack payload is not JSON" } } };
  }
  const action = payload.actions?.[0];
  const executionId = typeof action?.value === "string" ? action.value : "";
  const kind = action?.action_id === "aecp_approve" ? "approve" : action?.action_id === "aecp_reject" ? "reject" : undefined;
  if (payload.type !== "block_actions" || !kind || !executionId) return ephemeral("Nothing to do for this action.");
  const responseUrl = typeof payload.response_url === "string" && /^https?:\/\//.test(payload.response_url) ? payload.response_url : undefined;
  const userId = typeof payload.user?.id === "string" ? payload.user.id : "";
  const approverId = options.slackUsers.get(userId);
  const approver = approverId === undefined ? undefined : options.approvers.get(approverId);
  if (!approver) {
    await service.auditUnauthenticated(executionId, "slack", `Slack user \`${userId.slice(0, 64)}\` is not an approver`).catch(() => undefined);
    return ephemeral("You are not configured as an approver for AECP.");
  }
  if (kind === "reject") {
    const e = await service.get(executionId);
    if (!e) return ephemeral("This execution does not exist.");
    const link = `${options.publicUrl}/l/${signLink(options.linkKey, { executionId, approverId: approver.id, action: "reject", expiresAtS: Math.ceil(Date.parse(e.expires_at) / 1000) })}`;
    return ephemeral(`A rejection needs a justification: <${link}|reject with a reason> (personal link).`);
  }
  const decision = service.decide(executionId, approver, { decision: "approve", justification: null, channel: "slack", ...(responseUrl ? { slackResponseUrl: responseUrl } : {}) }).then(
    (e) => ephemeral(`Approved. Execution ${e.id} is now ${e.state}.`),
    async (err: unknown) => {
      if (!isAecpError(err)) throw err;
      if (err.code === "AECP_EXECUTION_NOT_PENDING" && responseUrl) await service.enqueueSlackUpdate(executionId, responseUrl).catch(() => undefined);
      return ephemeral(`Not applied: ${err.message}`);
    },
  );
  const ack = new Promise<SlackAnswer>((resolve) => setTimeout(() => resolve({ status: 200, body: {} }), ACK_MS).unref());
  return Promise.race([decision, ack]);
}
