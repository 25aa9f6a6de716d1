// `aecp demo request <allow|deny|pause> [--state .aecp] [--timeout 15m]`:
// sends one of the demo's requests (demo-requests.ts) to the running demo
// stack's sidecar, the way Envoy's http_service would, and shows the answer.
//
// pause walks the whole approval flow: the 428 names an execution; the
// approver's signed link (from the demo inbox, i.e. the approvals service's
// webhook) is printed to open in a browser, with an API alternative; the
// command long-polls the approvals service until a human decides, then
// repeats the identical request with `x-aecp-execution-id` (allowed once when
// approved) and once more (denied: an approval is used once).
//
// Exit 0 when every answer is the one the policy and the decision imply;
// 1 (AECP_DEMO_UNEXPECTED) otherwise; 2 when no demo runs (AECP_DEMO_NOT_RUNNING).

import { request } from "undici";
import { AecpError } from "../../common/index.js";
import { parseDuration } from "../../distribution/index.js";
import { EXIT_OK } from "../io.js";
import { DEMO_REQUESTS, shellQuote, type DemoRequest, type DemoRequestKind } from "./demo-requests.js";
import { DEMO_APPROVERS, DEMO_FOLLOW_DEFAULT, readRunning, type DemoSecrets, type RunningDemo } from "./demo-state.js";

interface Answer {
  status: number;
  headers: Record<string, string>;
  text: string;
}

const SHOWN_HEADERS = ["x-aecp-decision-id", "x-aecp-reason", "x-aecp-advisory", "x-aecp-execution-id", "location"];

export async function demoRequestCommand(kind: string, o: { state: string; timeout?: string }): Promise<number> {
  if (!(kind in DEMO_REQUESTS)) throw new AecpError("AECP_USAGE", `unknown demo request \`${kind}\` (known: ${Object.keys(DEMO_REQUESTS).join(", ")})`);
  const timeoutMs = parseDuration(o.timeout ?? "15m");
  const { running, secrets } = readRunning(o.state);
  if (running.follow !== DEMO_FOLLOW_DEFAULT) {
    throw new AecpError("AECP_USAGE", `the running demo's sidecar follows \`${running.follow}\`; the demo requests are written for \`${DEMO_FOLLOW_DEFAULT}\` (restart without --follow)`);
  }
  const r = DEMO_REQUESTS[kind as DemoRequestKind];
  const log = (s: string): void => void process.stdout.write(s + "\n");
  log(`${r.what}`);
  const first = await send(running, r, log);
  if (r.effect !== "pause") {
    expectStatus(first, r.status, r.effect);
    log(r.effect === "allow" ? "✓ allowed" : "✓ denied");
    return EXIT_OK;
  }
  expectStatus(first, 428, "pause");
  const id = first.headers["x-aecp-execution-id"];
  if (!id || !/^[A-Za-z0-9_-]{1,100}$/.test(id)) throw unexpected("the 428 carries no usable x-aecp-execution-id");
  log(`⏸ paused: execution ${id} waits for a human decision`);
  await showApprovalLinks(running, secrets, id, log);
  const decided = await waitForDecision(running, secrets, id, timeoutMs, log);
  log(`decision: ${decided.state}${decided.by ? ` by ${decided.by}` : ""}`);
  const retry = { "x-aecp-execution-id": id };
  log(`\nretry with x-aecp-execution-id: ${id}`);
  const second = await send(running, r, log, retry);
  if (decided.state === "approved" || decided.state === "overridden") {
    expectStatus(second, 200, "allow (the approved retry)");
    log("✓ allowed once: the approval is consumed");
    log("\nretry again with the same execution id");
    const third = await send(running, r, log, retry);
    expectStatus(third, 403, "deny (an approval is used once)");
    log(`✓ denied (${third.headers["x-aecp-reason"] ?? "403"})`);
  } else {
    expectStatus(second, 403, `deny (the execution is ${decided.state})`);
    log(`✓ denied (${second.headers["x-aecp-reason"] ?? "403"})`);
  }
  return EXIT_OK;
}

async function send(running: RunningDemo, r: DemoRequest, log: (s: string) => void, extra: Record<string, string> = {}): Promise<Answer> {
  const url = `${running.sidecarHttp}/authz${r.path}`;
  log(`→ ${r.method} ${url}  ${Object.entries({ ...r.headers, ...extra }).map(([k, v]) => `${k}: ${v}`).join(", ")}${r.body ? `  ${r.body}` : ""}`);
  let a: Answer;
  try {
    const res = await request(url, { method: r.method, headers: { ...r.headers, ...extra }, ...(r.body !== undefined ? { body: r.body } : {}), headersTimeout: 10_000, bodyTimeout: 10_000 });
    a = { status: res.statusCode, headers: flat(res.headers), text: await boundedText(res.body) };
  } catch (cause) {
    throw new AecpError("AECP_DEMO_NOT_RUNNING", `the demo sidecar at ${running.sidecarHttp} does not answer (${(cause as Error).message}); is the demo still running?`, { cause });
  }
  const shown = SHOWN_HEADERS.filter((h) => a.headers[h] !== undefined).map((h) => `${h}: ${a.headers[h]}`);
  log(`← ${a.status}${shown.length ? `  ${shown.join(", ")}` : ""}`);
  if (a.text.trim() !== "") log(`  ${a.text.trim().slice(0, 600)}`);
  return a;
}

async function showApprovalLinks(running: RunningDemo, secrets: DemoSecrets, id: string, log: (s: string) => void): Promise<void> {
  let links: Array<{ approver: string; approve: string }> = [];
  try {
    const res = await request(`${running.inbox}/executions/${id}?wait=5`, { headers: { authorization: `Bearer ${secrets.inboxToken}` }, headersTimeout: 15_000, bodyTimeout: 15_000 });
    const text = await boundedText(res.body);
    if (res.statusCode === 200) links = (JSON.parse(text) as { links?: typeof links }).links ?? [];
  } catch {
    // the links are also printed in the demo's console
  }
  if (links.length > 0) {
    log("\nOpen this link in your browser and approve (the page asks before anything changes):");
    for (const l of links) log(`  ${l.approve}    (as ${l.approver})`);
  } else log("\nThe approval links are printed in the demo's console.");
  const alice = DEMO_APPROVERS[0]!.id;
  const body = JSON.stringify({ decision: "approve", justification: "reviewed in the demo" });
  log("or approve with the API:");
  log(`  curl -s -X POST ${running.approvals}/v1/executions/${id}/decisions -H ${shellQuote(`authorization: Bearer ${secrets.approverTokens[alice]}`)} -H 'content-type: application/json' -d ${shellQuote(body)}`);
}

async function waitForDecision(running: RunningDemo, secrets: DemoSecrets, id: string, timeoutMs: number, log: (s: string) => void): Promise<{ state: string; by: string | undefined }> {
  log("\nwaiting for the decision (Ctrl-C stops waiting; the execution stays pending until it expires)…");
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const waitS = Math.max(1, Math.min(20, Math.ceil((deadline - performance.now()) / 1000)));
    let e: { state?: string; transitions?: Array<{ actor?: string }> };
    try {
      const res = await request(`${running.approvals}/v1/executions/${encodeURIComponent(id)}?wait=${waitS}`, {
        headers: { authorization: `Bearer ${secrets.serviceToken}` },
        headersTimeout: (waitS + 10) * 1000,
        bodyTimeout: 10_000,
      });
      const text = await boundedText(res.body);
      if (res.statusCode !== 200) throw unexpected(`the approvals service answered GET execution with ${res.statusCode}: ${text.slice(0, 200)}`);
      e = JSON.parse(text) as typeof e;
    } catch (cause) {
      if (cause instanceof AecpError) throw cause;
      throw new AecpError("AECP_DEMO_NOT_RUNNING", `the demo approvals service at ${running.approvals} does not answer (${(cause as Error).message})`, { cause });
    }
    if (e.state !== "pending") {
      const decider = e.transitions?.find((t) => t.actor?.startsWith("approver:"))?.actor;
      return { state: String(e.state), by: decider?.replace(/^approver:/, "") };
    }
    if (performance.now() >= deadline) throw unexpected(`no decision within ${Math.round(timeoutMs / 1000)} s (--timeout); execution ${id} is still pending`);
  }
}

function expectStatus(a: Answer, want: number, what: string): void {
  if (a.status !== want) throw unexpected(`expected ${want} (${what}), got ${a.status}${a.headers["x-aecp-reason"] ? ` ${a.headers["x-aecp-reason"]}` : ""}`);
}

function unexpected(message: string): AecpError {
  return new AecpError("AECP_DEMO_UNEXPECTED", message);
}

function flat(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

async function boundedText(body: AsyncIterable<unknown> & { destroy(): unknown }): Promise<string> {
  let text = "";
  for await (const chunk of body) {
    text += (chunk as Buffer).toString("utf8");
    if (text.length > 64 * 1024) {
      body.destroy();
      break;
    }
  }
  return text;
}
