// The approvals service over HTTP (node:http, JSON; docs/approvals.md has the
// schemas). Routes and who may call them:
//
//   GET  /healthz /readyz /metrics                         anyone
//   POST /v1/executions                                    service token   create (201) / join open (200)
//   GET  /v1/executions?state=&limit=&before=              service | approver
//   GET  /v1/executions/{id}[?wait=<s>]                    service | approver   (long poll)
//   GET  /v1/executions/{id}/record                        service | approver   (the authoritative record, for replay)
//   POST /v1/executions/{id}/decisions                     approver token  200 / 403 / 409
//   POST /v1/executions/{id}/consume                       service token   200 / 409 / 404 {outcome}
//   POST /v1/executions/{id}/cancel                        service token
//   POST /v1/audit/decisions                               service token   sidecar decision-log batches
//   GET  /v1/audit/*                                       service | approver   (src/audit routes)
//   GET  /l/{token}   POST /l/{token}                      signed decision link (page / decision + CSRF)
//   POST /v1/slack/interactions                            Slack signature
//   GET  /ui  /ui/executions/{id}                          approver session (from a link) or approver token
//
// Errors are {"error": {"code", "message"}} with the code's HTTP status; the
// cause is never sent. Request bodies are bounded (1 MiB; 32 MiB for
// decision-log batches; 64 KiB for forms and Slack).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { AecpError, AECP_VERSION, isAecpError } from "../common/index.js";
import { EXECUTION_STATES, type Approver, type Execution, type ExecutionState } from "./model.js";
import { sha256hex, type ApprovalsOptions } from "./options.js";
import type { ApprovalsService } from "./service.js";
import type { Notifier } from "./notifier.js";
import { handleSlackInteraction } from "./slack.js";
import { checkCsrf, csrfToken, newCsrfCookie, parseCookies, signSession, verifyLink, verifySession } from "./links.js";
import { HTML_HEADERS, decideForm, executionPage, listPage, messagePage } from "./ui.js";
import type { ApprovalsTelemetry } from "./telemetry.js";

const MAX_JSON_BYTES = 1024 * 1024;
const MAX_BATCH_BYTES = 32 * 1024 * 1024;
const MAX_FORM_BYTES = 64 * 1024;
const SESSION_S = 8 * 3600;
const ID_PATH = /^\/v1\/executions\/([^/]{1,200})(\/record|\/decisions|\/consume|\/cancel)?$/;

/** Handler for /v1/audit/* (src/audit auditRoutes); returns false when the path is not its own. */
export type AuditHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

export interface ApprovalsServerDeps {
  service: ApprovalsService;
  notifier?: Notifier;
  audit?: AuditHandler;
  /** OpenTelemetry spans and metrics per request, when enabled. */
  telemetry?: ApprovalsTelemetry;
}

type Caller = { kind: "service"; name: string } | { kind: "approver"; approver: Approver };

export class ApprovalsHttp {
  private server: Server | undefined;
  private readonly counts = new Map<string, number>();
  private readonly options: ApprovalsOptions;
  private readonly service: ApprovalsService;
  private ready = false;

  constructor(private readonly deps: ApprovalsServerDeps) {
    this.service = deps.service;
    this.options = deps.service.options;
  }

  /** Listen on host:port (port 0 = any). Resolves with the bound address. */
  async listen(host: string, port: number): Promise<AddressInfo> {
    const server = createServer({ maxHeaderSize: 32 * 1024, requestTimeout: 120_000, headersTimeout: 30_000 }, (req, res) => this.handle(req, res));
    server.keepAliveTimeout = 30_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
    this.ready = true;
    return server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    this.ready = false;
    const s = this.server;
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  private count(route: string, status: number): void {
    const k = `${route} ${status}`;
    this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    let route = "other";
    const startMs = performance.now();
    const url = new URL(req.url ?? "/", "http://approvals.invalid");
    const path = url.pathname;
    res.on("finish", () => {
      this.count(route, res.statusCode);
      this.deps.telemetry?.record({
        route,
        method: req.method ?? "GET",
        status: res.statusCode,
        startMs,
        endMs: performance.now(),
        headers: req.headers,
        executionId: ID_PATH.exec(path)?.[1],
      });
    });
    const run = async (): Promise<void> => {
      if (path === "/healthz") return json(res, 200, { status: "ok", version: AECP_VERSION });
      if (path === "/readyz") {
        route = "readyz";
        const s = await this.service.store.ping();
        return json(res, this.ready && s.ok ? 200 : 503, { ready: this.ready && s.ok, store: s.message });
      }
      if (path === "/metrics") return this.metrics(res);
      if (path === "/v1/slack/interactions" && req.method === "POST") {
        route = "slack";
        const raw = await readBody(req, MAX_FORM_BYTES);
        const a = await handleSlackInteraction(this.service, this.options, { timestamp: header(req, "x-slack-request-timestamp"), signature: header(req, "x-slack-signature") }, raw);
        return json(res, a.status, a.body);
      }
      if (path.startsWith("/l/")) {
        route = "link";
        return this.link(req, res, path.slice(3));
      }
      if (path === "/ui" || path.startsWith("/ui/")) {
        route = "ui";
        return this.ui(req, res, url);
      }
      if (path === "/v1/audit/decisions") {
        route = "audit_decisions";
        this.needService(req);
        if (req.method !== "POST") throw new AecpError("AECP_USAGE", "use POST");
        const n = await this.service.ingestDecisionLog(parseJson(await readBody(req, MAX_BATCH_BYTES)), this.needService(req).name);
        return json(res, 200, { accepted: n });
      }
      if (path.startsWith("/v1/audit/")) {
        route = "audit";
        if (this.deps.audit?.(req, res)) return;
        throw new AecpError("AECP_EXECUTION_NOT_FOUND", "the audit log is not attached to this service");
      }
      if (path === "/v1/executions") {
        route = "executions";
        if (req.method === "POST") {
          const caller = this.needService(req);
          const r = await this.service.create(parseJson(await readBody(req, MAX_JSON_BYTES)), caller.name);
          return json(res, r.created ? 201 : 200, this.view(r.execution));
        }
        this.needCaller(req);
        const state = url.searchParams.get("state");
        if (state !== null && !EXECUTION_STATES.includes(state as ExecutionState)) throw new AecpError("AECP_APPROVALS_BAD_REQUEST", `unknown state \`${state.slice(0, 32)}\` (known: ${EXECUTION_STATES.join(", ")})`);
        const limit = boundedInt(url.searchParams.get("limit"), 100, 1, 1000, "limit");
        const before = url.searchParams.get("before") ?? undefined;
        const list = await this.service.list({ limit, ...(state ? { state: state as ExecutionState } : {}), ...(before ? { before } : {}) });
        return json(res, 200, { executions: list.map((e) => this.view(e)), next: list.length === limit ? list[list.length - 1]!.id : null });
      }
      const m = ID_PATH.exec(path);
      if (m) return this.execution(req, res, url, decodeURIComponent(m[1]!), m[2] ?? "", (r) => (route = r));
      route = "not_found";
      throw new AecpError("AECP_EXECUTION_NOT_FOUND", `no endpoint \`${path.slice(0, 100)}\``);
    };
    run().catch((e: unknown) => sendError(res, e));
  }

  private async execution(req: IncomingMessage, res: ServerResponse, url: URL, id: string, sub: string, setRoute: (r: string) => void): Promise<void> {
    if (sub === "/decisions") {
      setRoute("decide");
      if (req.method !== "POST") throw new AecpError("AECP_USAGE", "use POST");
      const caller = this.caller(req);
      if (caller?.kind !== "approver") {
        await this.service.auditUnauthenticated(id, "api", caller ? "service tokens cannot decide" : "missing or unknown approver token").catch(() => undefined);
        throw new AecpError("AECP_APPROVALS_UNAUTHENTICATED", "deciding needs an approver token (Authorization: Bearer <approver token>)");
      }
      const body = parseJson(await readBody(req, MAX_JSON_BYTES)) as { decision?: unknown; justification?: unknown } | null;
      const decision = body?.decision;
      if (decision !== "approve" && decision !== "reject" && decision !== "override") throw new AecpError("AECP_APPROVALS_BAD_REQUEST", '`decision` must be "approve", "reject" or "override"');
      const j = body?.justification;
      if (j !== undefined && j !== null && (typeof j !== "string" || j.length > 4000)) throw new AecpError("AECP_APPROVALS_BAD_REQUEST", "`justification` must be a string of at most 4000 characters");
      const e = await this.service.decide(id, caller.approver, { decision, justification: (j as string | undefined) ?? null, channel: "api" });
      return json(res, 200, this.view(e));
    }
    if (sub === "/consume") {
      setRoute("consume");
      const caller = this.needService(req);
      const body = parseJson(await readBody(req, MAX_JSON_BYTES)) as { fingerprint?: unknown } | null;
      if (typeof body?.fingerprint !== "string" || body.fingerprint.length > 100) throw new AecpError("AECP_APPROVALS_BAD_REQUEST", "`fingerprint` is required");
      const r = await this.service.consume(id, body.fingerprint, caller.name);
      const status = r.outcome === "consumed" ? 200 : r.outcome === "not_found" ? 404 : 409;
      return json(res, status, r.execution ? { outcome: r.outcome, execution: this.view(r.execution) } : { outcome: r.outcome });
    }
    if (sub === "/cancel") {
      setRoute("cancel");
      const caller = this.needService(req);
      const body = parseJson(await readBody(req, MAX_JSON_BYTES)) as { justification?: unknown } | null;
      const j = typeof body?.justification === "string" ? body.justification.slice(0, 4000) : null;
      return json(res, 200, this.view(await this.service.cancel(id, caller.name, j)));
    }
    if (req.method !== "GET" && req.method !== "HEAD") throw new AecpError("AECP_USAGE", "use GET");
    this.needCaller(req);
    if (sub === "/record") {
      setRoute("record");
      const e = await this.service.get(id);
      if (!e) throw new AecpError("AECP_EXECUTION_NOT_FOUND", `no execution \`${id.slice(0, 64)}\``);
      return json(res, 200, { record_version: 1, ...this.view(e), audit: { entries: `/v1/audit/entries?subject=${encodeURIComponent(id)}` } });
    }
    setRoute(url.searchParams.has("wait") ? "wait" : "get");
    const waitS = boundedInt(url.searchParams.get("wait"), 0, 0, 3600, "wait");
    const e = waitS > 0 ? await this.service.wait(id, Math.min(waitS, this.options.maxWaitS) * 1000) : await this.service.get(id);
    if (!e) throw new AecpError("AECP_EXECUTION_NOT_FOUND", `no execution \`${id.slice(0, 64)}\``);
    return json(res, 200, this.view(e));
  }

  /** The API view of an execution: the record plus `location` (the sidecar's ExecutionRef fields are at the top). */
  private view(e: Execution): Record<string, unknown> {
    return { ...e, location: this.service.location(e.id), fingerprint: e.proposal.fingerprint, requester: e.proposal.requester };
  }

  // -------------------------------------------------------------------------
  // authentication

  private caller(req: IncomingMessage): Caller | undefined {
    const m = /^Bearer ([\x21-\x7e]{1,512})$/.exec(header(req, "authorization") ?? "");
    if (!m) return undefined;
    const h = sha256hex(m[1]!);
    const service = this.options.serviceTokens.get(h);
    if (service) return { kind: "service", name: service };
    const id = this.options.approverTokens.get(h);
    const approver = id === undefined ? undefined : this.options.approvers.get(id);
    return approver ? { kind: "approver", approver } : undefined;
  }

  private needService(req: IncomingMessage): { name: string } {
    const c = this.caller(req);
    if (c?.kind !== "service") throw new AecpError("AECP_APPROVALS_UNAUTHENTICATED", "this endpoint needs a service token (Authorization: Bearer <token>)");
    return c;
  }

  private needCaller(req: IncomingMessage): Caller {
    const c = this.caller(req);
    if (!c) throw new AecpError("AECP_APPROVALS_UNAUTHENTICATED", "this endpoint needs a service or approver token (Authorization: Bearer <token>)");
    return c;
  }

  /** Authorize audit reads: any service or approver token. */
  readonly authorizeRead = (req: IncomingMessage): boolean => this.caller(req) !== undefined;
  readonly authorizeService = (req: IncomingMessage): boolean => this.caller(req)?.kind === "service";

  // -------------------------------------------------------------------------
  // decision links and the UI

  private async link(req: IncomingMessage, res: ServerResponse, token: string): Promise<void> {
    let link;
    try {
      link = verifyLink(this.options.linkKey, token, Date.now());
    } catch (e) {
      return html(res, 403, messagePage("Link refused", (e as Error).message, true));
    }
    const approver = this.options.approvers.get(link.approverId);
    const e = await this.service.get(link.executionId);
    if (!approver || !e) return html(res, 404, messagePage("Not found", "This execution or approver does not exist.", true));
    const cookies = parseCookies(header(req, "cookie"));
    if (req.method === "GET" || req.method === "HEAD") {
      // INVARIANT: a GET never changes state (link unfurlers and mail scanners prefetch links).
      const csrfCookie = cookies["aecp_csrf"] && /^[A-Za-z0-9_-]{22}$/.test(cookies["aecp_csrf"]) ? cookies["aecp_csrf"] : newCsrfCookie();
      const session = signSession(this.options.linkKey, approver.id, Math.floor(Date.now() / 1000) + SESSION_S);
      res.setHeader("set-cookie", [`aecp_csrf=${csrfCookie}; Path=/l/; HttpOnly; SameSite=Strict`, `aecp_session=${session}; Path=/ui; HttpOnly; SameSite=Lax; Max-Age=${SESSION_S}`]);
      return html(res, 200, executionPage(e, decideForm(e, approver.id, link.action, csrfToken(this.options.linkKey, link.nonce, csrfCookie))));
    }
    if (req.method !== "POST") return html(res, 405, messagePage("Not allowed", "Use the form.", true));
    const form = new URLSearchParams((await readBody(req, MAX_FORM_BYTES)).toString("utf8"));
    if (!this.sameOrigin(req) || !checkCsrf(this.options.linkKey, link.nonce, cookies["aecp_csrf"], form.get("csrf") ?? undefined)) {
      const err = new AecpError("AECP_CSRF_INVALID", "the form did not come from this page (CSRF token or origin mismatch); open the link again");
      return html(res, err.httpStatus, messagePage("Refused", err.message, true));
    }
    try {
      const after = await this.service.decide(e.id, approver, { decision: link.action, justification: form.get("justification"), channel: "link", linkNonce: link.nonce });
      return html(res, 200, executionPage(after, `<div class="card"><p class="notice" id="result">Recorded: ${link.action === "approve" ? "approved" : "rejected"} by ${approver.id}. The execution is now <b>${after.state}</b>.</p></div>`));
    } catch (err) {
      if (!isAecpError(err)) throw err;
      return html(res, err.httpStatus, messagePage("Not applied", `${err.code}: ${err.message}`, true));
    }
  }

  private sameOrigin(req: IncomingMessage): boolean {
    const site = header(req, "sec-fetch-site");
    if (site === "cross-site" || site === "same-site") return false;
    const origin = header(req, "origin");
    // Our pages send `Referrer-Policy: no-referrer`, under which browsers send
    // `Origin: null` on form POSTs; the CSRF token and the SameSite=Strict
    // cookie still have to match, and Sec-Fetch-Site (above) is not hidden.
    if (origin === undefined || origin === "null") return true;
    const allowed = new Set([new URL(this.options.publicUrl).origin, `http://${header(req, "host") ?? ""}`]);
    return allowed.has(origin);
  }

  private async ui(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const session = verifySession(this.options.linkKey, parseCookies(header(req, "cookie"))["aecp_session"], Date.now());
    if (session === undefined && this.caller(req) === undefined) return html(res, 401, messagePage("Sign in", "Open one of your decision links to see the approvals pages.", true));
    const m = /^\/ui\/executions\/([^/]{1,200})$/.exec(url.pathname);
    if (m) {
      const e = await this.service.get(decodeURIComponent(m[1]!));
      return e ? html(res, 200, executionPage(e)) : html(res, 404, messagePage("Not found", "No such execution.", true));
    }
    const state = url.searchParams.get("state") ?? (url.searchParams.has("all") ? null : "pending");
    if (state !== null && !EXECUTION_STATES.includes(state as ExecutionState)) return html(res, 400, messagePage("Bad request", "Unknown state.", true));
    const list = await this.service.list({ limit: 200, ...(state ? { state: state as ExecutionState } : {}) });
    return html(res, 200, listPage(list, state ?? undefined));
  }

  // -------------------------------------------------------------------------
  // metrics

  private async metrics(res: ServerResponse): Promise<void> {
    const s = this.service;
    const [states, outbox] = await Promise.all([s.store.countByState(), s.store.outboxStats()]);
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, samples: Array<[string, number]>) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, v] of samples) lines.push(`${name}${labels} ${v}`);
    };
    metric("aecp_approvals_executions", "gauge", "Executions by state.", EXECUTION_STATES.map((st) => [`{state="${st}"}`, states[st] ?? 0]));
    metric("aecp_approvals_created_total", "counter", "Executions created (joined: requests that joined an open execution).", [
      ['{result="created"}', s.counters.created],
      ['{result="joined"}', s.counters.joined],
    ]);
    metric("aecp_approvals_decisions_total", "counter", "Decision attempts by outcome (accepted or the refusal code).", Object.entries(s.counters.decisions).map(([k, v]) => [`{outcome="${k}"}`, v]));
    metric("aecp_approvals_consumes_total", "counter", "Consume calls by outcome.", Object.entries(s.counters.consumes).map(([k, v]) => [`{outcome="${k}"}`, v]));
    metric("aecp_approvals_expired_total", "counter", "Executions expired by the sweeper.", [["", s.counters.expired]]);
    metric("aecp_approvals_decision_log_records_total", "counter", "Sidecar decision-log records appended to the audit log.", [["", s.counters.decisionLogRecords]]);
    metric("aecp_approvals_waiters", "gauge", "Long polls held.", [["", s.activeWaiters]]);
    metric("aecp_approvals_outbox", "gauge", "Outbox rows by status.", [
      ['{status="pending"}', outbox.pending],
      ['{status="dead"}', outbox.dead],
      ['{status="delivered"}', outbox.delivered],
    ]);
    const n = this.deps.notifier?.stats;
    if (n) metric("aecp_approvals_notifications_total", "counter", "Notification delivery attempts.", [['{result="delivered"}', n.delivered], ['{result="failed"}', n.failed]]);
    metric("aecp_approvals_http_requests_total", "counter", "HTTP requests by route and status.", [...this.counts].map(([k, v]) => {
      const [r, st] = k.split(" ");
      return [`{route="${r}",status="${st}"}`, v];
    }));
    const text = lines.join("\n") + "\n";
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4", "content-length": Buffer.byteLength(text) });
    res.end(text);
  }
}

// ---------------------------------------------------------------------------
// small HTTP helpers

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body) + "\n";
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function html(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { ...HTML_HEADERS, "content-length": Buffer.byteLength(body) });
  res.end(body);
}

function sendError(res: ServerResponse, e: unknown): void {
  const err = isAecpError(e) ? e : new AecpError("AECP_INTERNAL", "internal error", { cause: e });
  if (err.code === "AECP_INTERNAL" || err.code === "AECP_STORE_FAILED") process.stderr.write(`approvals: ${err.code}: ${err.message}${err.cause ? ` (${String((err.cause as Error).message ?? err.cause)})` : ""}\n`);
  if (res.headersSent) return void res.destroy();
  // INVARIANT: `cause` never crosses the wire; only code, message and safe detail.
  json(res, err.httpStatus, { error: err.toJSON() });
}

/** Read a request body of at most `limit` bytes; larger is AECP_REQUEST_TOO_LARGE (413) without buffering it. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? "0");
    if (declared > limit) {
      req.resume();
      return reject(new AecpError("AECP_REQUEST_TOO_LARGE", `request body over ${limit} bytes`));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.removeAllListeners("data");
        req.resume();
        reject(new AecpError("AECP_REQUEST_TOO_LARGE", `request body over ${limit} bytes`));
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function parseJson(b: Buffer): unknown {
  try {
    return JSON.parse(b.toString("utf8"));
  } catch {
    throw new AecpError("AECP_APPROVALS_BAD_REQUEST", "request body is not JSON");
  }
}

function boundedInt(v: string | null, dflt: number, min: number, max: number, name: string): number {
  if (v === null) return dflt;
  if (!/^\d{1,7}$/.test(v) || Number(v) < min || Number(v) > max) throw new AecpError("AECP_APPROVALS_BAD_REQUEST", `\`${name}\` must be a whole number from ${min} to ${max}`);
  return Number(v);
}
