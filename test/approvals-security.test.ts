// Security of the approvals service's human-facing surfaces, on a real
// server: Slack signatures (bad, stale, replayed), decision links (GET never
// changes state; CSRF and origin checks on the POST; expired, forged and
// reused links), self-approval and approvers outside the groups through
// every channel, and guessed ids.

import { createHmac } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signLink, slackSignature } from "../src/approvals/index.js";
import { call, pauseRequest, startApp, TOKENS, type RunningApp } from "./approvals-helpers.js";

const SLACK_SECRET = "slack-signing-secret-for-tests";
let s: RunningApp;
const api = (p: string) => `${s.url}${p}`;

beforeAll(async () => {
  s = await startApp({ notify: { slack_signing_secret: SLACK_SECRET } });
});
afterAll(async () => {
  await s?.stop();
});

async function create(seed: string, quorum = 1) {
  const r = await call("POST", api("/v1/executions"), { token: TOKENS.service, body: pauseRequest(seed, { policies: [{ policy: "p", approvers: ["sre-oncall"], quorum, timeout_ms: 600_000 }] }) });
  return r.json as { id: string; expires_at: string };
}
const state = async (id: string) => (await call("GET", api(`/v1/executions/${id}`), { token: TOKENS.service })).json as { state: string; decisions: unknown[]; transitions: unknown[] };

function slackBody(user: string, action: "aecp_approve" | "aecp_reject", id: string): string {
  const payload = { type: "block_actions", user: { id: user }, actions: [{ action_id: action, value: id }], response_url: "http://127.0.0.1:9/slack-response" };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

function slackPost(body: string, o: { ts?: number; sig?: string } = {}) {
  const ts = String(o.ts ?? Math.floor(Date.now() / 1000));
  return call("POST", api("/v1/slack/interactions"), {
    raw: body,
    headers: { "content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": ts, "x-slack-signature": o.sig ?? slackSignature(SLACK_SECRET, ts, body) },
  });
}

describe("Slack interactivity", () => {
  it("a correctly signed Approve from a mapped Slack user decides", async () => {
    const e = await create("slack-ok");
    const r = await slackPost(slackBody("UALICE", "aecp_approve", e.id));
    expect(r.status).toBe(200);
    expect(r.json.text).toMatch(/Approved/);
    const x = await state(e.id);
    expect(x.state).toBe("approved");
    expect(x.decisions).toMatchObject([{ approver: "alice", channel: "slack", accepted: true }]);
  });

  it("refuses a bad signature, a stale timestamp and a replayed request (401), changing nothing", async () => {
    const e = await create("slack-bad");
    const body = slackBody("UALICE", "aecp_approve", e.id);
    const wrong = await slackPost(body, { sig: `v0=${createHmac("sha256", "another-secret").update(`v0:${Math.floor(Date.now() / 1000)}:${body}`).digest("hex")}` });
    expect(wrong.status).toBe(401);
    expect(wrong.json.error.code).toBe("AECP_SLACK_SIGNATURE_INVALID");
    const staleTs = Math.floor(Date.now() / 1000) - 301;
    expect((await slackPost(body, { ts: staleTs })).status).toBe(401);
    expect((await slackPost(body, { ts: Math.floor(Date.now() / 1000) + 400 })).status).toBe(401);
    const noHeaders = await call("POST", api("/v1/slack/interactions"), { raw: body, headers: { "content-type": "application/x-www-form-urlencoded" } });
    expect(noHeaders.status).toBe(401);
    expect((await state(e.id)).state).toBe("pending");
    // a captured, valid request sent twice: the second is a replay
    const ts = Math.floor(Date.now() / 1000);
    const tampered = await slackPost(slackBody("UBOB", "aecp_approve", e.id), { ts, sig: slackSignature(SLACK_SECRET, String(ts), body) });
    expect(tampered.status).toBe(401); // signature of another body
    const first = await slackPost(body, { ts });
    expect(first.status).toBe(200);
    const replay = await slackPost(body, { ts });
    expect(replay.status).toBe(401);
    expect(replay.json.error.message).toMatch(/replayed/);
  });

  it("an unmapped Slack user or an approver outside the groups cannot decide; Reject asks for a justification via a personal link", async () => {
    const e = await create("slack-who");
    expect((await slackPost(slackBody("UNOBODY", "aecp_approve", e.id))).json.text).toMatch(/not configured as an approver/);
    expect((await slackPost(slackBody("UBOB", "aecp_approve", e.id))).json.text).toMatch(/Not applied: .*none of the approver groups/);
    const rej = await slackPost(slackBody("UALICE", "aecp_reject", e.id));
    expect(rej.json.text).toMatch(new RegExp(`<${s.url}/l/[A-Za-z0-9_.-]+\\|reject with a reason>`));
    expect((await state(e.id)).state).toBe("pending");
  });
});

describe("decision links", () => {
  const link = (id: string, approver: string, action: "approve" | "reject", expiresAtS = Math.floor(Date.now() / 1000) + 600) =>
    `${s.url}/l/${signLink(s.app.service.options.linkKey, { executionId: id, approverId: approver, action, expiresAtS })}`;

  async function open(url: string) {
    const r = await call("GET", url);
    const cookies = ([] as string[]).concat(r.headers["set-cookie"] ?? []).map((c) => c.split(";")[0]!);
    const csrf = /name="csrf" value="([^"]+)"/.exec(r.text)?.[1];
    return { r, cookie: cookies.join("; "), csrf };
  }
  const post = (url: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
    call("POST", url, { raw: new URLSearchParams(form).toString(), headers: { "content-type": "application/x-www-form-urlencoded", ...headers } });

  it("GET only shows a page (any number of times): nothing changes", async () => {
    const e = await create("link-get");
    const url = link(e.id, "alice", "approve");
    for (let i = 0; i < 3; i++) {
      const { r } = await open(url);
      expect(r.status).toBe(200);
      expect(r.text).toContain("Approve as <b>alice</b>?");
      expect(r.headers["referrer-policy"]).toBe("no-referrer");
      expect(r.headers["content-security-policy"]).toContain("default-src 'none'");
    }
    const x = await state(e.id);
    expect(x.state).toBe("pending");
    expect(x.decisions).toEqual([]);
  });

  it("POST needs the page's CSRF token with its cookie, from the same origin; then decides once", async () => {
    const e = await create("link-csrf");
    const url = link(e.id, "alice", "approve");
    const { cookie, csrf } = await open(url);
    expect(csrf).toBeDefined();
    expect((await post(url, { justification: "ok" }, { cookie })).status).toBe(403); // no token
    expect((await post(url, { csrf: csrf!, justification: "ok" })).status).toBe(403); // no cookie (a cross-site form)
    expect((await post(url, { csrf: "A".repeat(43), justification: "ok" }, { cookie })).status).toBe(403); // wrong token
    expect((await post(url, { csrf: csrf! }, { cookie, origin: "https://evil.example" })).status).toBe(403);
    expect((await post(url, { csrf: csrf! }, { cookie, "sec-fetch-site": "cross-site" })).status).toBe(403);
    expect((await state(e.id)).state).toBe("pending");
    const ok = await post(url, { csrf: csrf!, justification: "verified the diff" }, { cookie, origin: s.url });
    expect(ok.status).toBe(200);
    expect(ok.text).toContain("The execution is now <b>approved</b>");
    const again = await post(url, { csrf: csrf! }, { cookie, origin: s.url });
    expect(again.status).toBe(409);
    expect((await state(e.id)).decisions).toHaveLength(2); // the refused second use is recorded too
  });

  it("a link is single use even while the execution stays pending (quorum 2)", async () => {
    const e = await create("link-once", 2);
    const url = link(e.id, "alice", "approve");
    const { cookie, csrf } = await open(url);
    expect((await post(url, { csrf: csrf! }, { cookie })).status).toBe(200);
    const { cookie: c2, csrf: t2 } = await open(url);
    const reuse = await post(url, { csrf: t2! }, { cookie: c2 });
    expect(reuse.status).toBe(403); // alice already decided (and the nonce is used)
    expect((await state(e.id)).state).toBe("pending");
  });

  it("refuses expired, forged and truncated links, and approvers who may not decide", async () => {
    const e = await create("link-bad");
    expect((await call("GET", link(e.id, "alice", "approve", Math.floor(Date.now() / 1000) - 1))).status).toBe(403);
    const good = link(e.id, "alice", "approve");
    const [payload, mac] = good.split("/l/")[1]!.split(".");
    const forgedPayload = Buffer.from(Buffer.from(payload!, "base64url").toString().replace('"alice"', '"carol"')).toString("base64url");
    expect((await call("GET", `${s.url}/l/${forgedPayload}.${mac}`)).status).toBe(403);
    expect((await call("GET", `${s.url}/l/${payload}`)).status).toBe(403);
    expect((await call("GET", `${s.url}/l/garbage`)).status).toBe(403);
    // a correctly signed link for an approver outside the groups renders, but the decision is refused
    const outsider = link(e.id, "mallory", "approve");
    const { cookie, csrf } = await open(outsider);
    expect((await post(outsider, { csrf: csrf! }, { cookie })).status).toBe(403);
    // and the requester's own approver identity is refused (self-approval)
    const self = link(e.id, "root", "approve");
    const o = await open(self);
    const r = await post(self, { csrf: o.csrf! }, { cookie: o.cookie });
    expect(r.status).toBe(403);
    expect(r.text).toContain("AECP_SELF_APPROVAL");
    expect((await state(e.id)).state).toBe("pending");
  });

  it("a reject link needs a justification", async () => {
    const e = await create("link-reject");
    const url = link(e.id, "alice", "reject");
    const { cookie, csrf } = await open(url);
    expect((await post(url, { csrf: csrf!, justification: "" }, { cookie })).status).toBe(400);
    expect((await post(url, { csrf: csrf!, justification: "not now" }, { cookie })).status).toBe(200);
    expect((await state(e.id)).state).toBe("rejected");
  });
});

describe("guessed ids and pages", () => {
  it("unknown execution ids are 404 for every operation; the UI needs a session", async () => {
    const id = "ex_ZZZZZZZZZZZZZZZZZZZZZZ";
    expect((await call("GET", api(`/v1/executions/${id}/record`), { token: TOKENS.service })).status).toBe(404);
    expect((await call("POST", api(`/v1/executions/${id}/decisions`), { token: TOKENS.alice, body: { decision: "approve" } })).status).toBe(404);
    expect((await call("POST", api(`/v1/executions/${id}/consume`), { token: TOKENS.service, body: { fingerprint: "x" } })).json).toEqual({ outcome: "not_found" });
    expect((await call("GET", api("/ui"))).status).toBe(401);
    expect((await call("GET", api("/ui"), { token: TOKENS.alice })).status).toBe(200);
  });
});
