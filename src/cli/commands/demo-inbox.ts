// The demo's stand-in for a chat channel: a small HTTP server in the
// supervisor process that receives the approvals service's generic webhook
// (HMAC-signed, see src/approvals/notifier.ts), prints each approval request
// with its per-approver signed decision links to the demo console, and lets
// `aecp demo request pause` fetch the links of its execution.
//
//   POST /hook                      the approvals webhook (x-aecp-signature, 5-minute window)
//   GET  /executions/{id}?wait=<s>  Bearer <inbox token>: the execution.created message (long poll ≤ 10 s)
//
// Bounded: bodies ≤ 1 MiB, the 1,000 most recent executions, 64 waiters.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { timingSafeEqual } from "node:crypto";
import { webhookSignature } from "../../approvals/index.js";
import { DEMO_HOST } from "./demo-state.js";

const MAX_BODY = 1024 * 1024;
const MAX_KEPT = 1000;
const MAX_WAITERS = 64;
const WINDOW_S = 300;

export interface InboxLink {
  approver: string;
  approve: string;
  reject: string;
}

/** What `execution.created` carries (src/approvals/messages.ts `summary` + links). */
export interface InboxMessage {
  execution: { id: string; state: string; location: string; action: string; policies: Array<{ policy: string; approvers: string[]; quorum: number }>; expires_at: string };
  links: InboxLink[];
}

export class DemoInbox {
  private server: Server | undefined;
  private readonly created = new Map<string, InboxMessage>();
  private readonly deliveries = new Set<string>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private waiterCount = 0;
  url = "";

  constructor(
    private readonly webhookSecret: string,
    private readonly readToken: string,
    private readonly print: (lines: string[]) => void,
  ) {}

  async listen(): Promise<string> {
    const server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => {
      this.handle(req, res).catch(() => send(res, 500, { error: "internal" }));
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, DEMO_HOST, () => resolve());
    });
    this.url = `http://${DEMO_HOST}:${(server.address() as { port: number }).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    for (const set of this.waiters.values()) for (const wake of set) wake();
    const s = this.server;
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://inbox.invalid");
    if (url.pathname === "/hook" && req.method === "POST") return this.hook(req, res);
    const m = /^\/executions\/([A-Za-z0-9_-]{1,100})$/.exec(url.pathname);
    if (m && req.method === "GET") {
      if (!sameSecret(req.headers["authorization"], `Bearer ${this.readToken}`)) return send(res, 401, { error: "needs the inbox token" });
      const id = m[1]!;
      const waitS = Math.min(10, Math.max(0, Number(url.searchParams.get("wait") ?? "0") || 0));
      if (!this.created.has(id) && waitS > 0 && this.waiterCount < MAX_WAITERS) await this.waitFor(id, waitS * 1000);
      const msg = this.created.get(id);
      return msg ? send(res, 200, msg) : send(res, 404, { error: `no notification for execution ${id} yet` });
    }
    send(res, 404, { error: "not found" });
  }

  private async hook(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBounded(req);
    if (body === undefined) return send(res, 413, { error: "body over 1 MiB" });
    const ts = Number(req.headers["x-aecp-timestamp"]);
    const sig = String(req.headers["x-aecp-signature"] ?? "");
    const text = body.toString("utf8");
    if (!Number.isInteger(ts) || Math.abs(Date.now() / 1000 - ts) > WINDOW_S || !sameSecret(sig, webhookSignature(this.webhookSecret, ts, text))) {
      return send(res, 401, { error: "bad or stale signature" });
    }
    const delivery = String(req.headers["x-aecp-delivery-id"] ?? "");
    // at-least-once delivery: a re-sent row is acknowledged and not shown twice
    if (delivery !== "" && this.deliveries.has(delivery)) return send(res, 200, { ok: true, duplicate: true });
    let msg: { event?: unknown; execution?: InboxMessage["execution"] & { transitions?: Array<{ state: string; actor: string; justification?: string | null }> }; links?: InboxLink[] };
    try {
      msg = JSON.parse(text) as typeof msg;
    } catch {
      return send(res, 400, { error: "not JSON" });
    }
    if (delivery !== "") remember(this.deliveries, delivery);
    const e = msg.execution;
    if (e && typeof e.id === "string") {
      if (msg.event === "execution.created") {
        const links = Array.isArray(msg.links) ? msg.links : [];
        this.created.set(e.id, { execution: e, links });
        while (this.created.size > MAX_KEPT) this.created.delete(this.created.keys().next().value!);
        for (const wake of this.waiters.get(e.id) ?? []) wake();
        const policies = (e.policies ?? []).map((p) => `${p.policy} (${p.quorum} of ${p.approvers.join(", ") || "any approver"})`).join(", ");
        this.print([
          `[approvals] approval needed: ${e.action} — ${policies}`,
          `            execution ${e.id}, expires ${e.expires_at}`,
          ...(links.length === 0 ? ["            (no approver may decide it)"] : links.map((l) => `            approve as ${l.approver}: ${l.approve}`)),
        ]);
      } else if (msg.event === "execution.decided") {
        const last = e.transitions?.[e.transitions.length - 1];
        this.print([`[approvals] execution ${e.id} is ${e.state}${last ? ` (${last.actor}${last.justification ? `: ${last.justification}` : ""})` : ""}`]);
      }
    }
    send(res, 200, { ok: true });
  }

  private waitFor(id: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const set = this.waiters.get(id) ?? new Set<() => void>();
      this.waiters.set(id, set);
      this.waiterCount++;
      const done = (): void => {
        clearTimeout(timer);
        if (set.delete(done)) this.waiterCount--;
        if (set.size === 0) this.waiters.delete(id);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
    });
  }
}

function remember(set: Set<string>, v: string): void {
  set.add(v);
  if (set.size > MAX_KEPT * 4) set.delete(set.values().next().value!);
}

function sameSecret(got: unknown, want: string): boolean {
  if (typeof got !== "string") return false;
  const a = Buffer.from(got);
  const b = Buffer.from(want);
  return a.length === b.length && timingSafeEqual(a, b);
}

function readBounded(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        req.removeAllListeners("data");
        req.resume();
        resolve(undefined);
      } else chunks.push(c);
    });
    req.on("end", () => resolve(size > MAX_BODY ? undefined : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.destroy();
  const text = JSON.stringify(body) + "\n";
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", "content-length": Buffer.byteLength(text) });
  res.end(text);
}
