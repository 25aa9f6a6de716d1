// The audit log over HTTP (JSON), mounted by the approvals service:
//
//   GET /v1/audit/head                                current tree size and root (unsigned)
//   GET /v1/audit/checkpoint                          latest signed checkpoint + current tree size
//   POST /v1/audit/checkpoint                         sign a checkpoint now (when `checkpoint` is given)
//   GET /v1/audit/checkpoints?after=<size>            checkpoints with size > after, ascending (a page)
//   GET /v1/audit/entries?from=<i>&to=<j>             entries [i, j) (a page; fewer near the end)
//   GET /v1/audit/entries?subject=<id>[&after=<i>]    entries of one execution, by index (a page)
//   GET /v1/audit/proof/inclusion?index=<i>&size=<n>  inclusion proof of entry i in the tree of n
//   GET /v1/audit/proof/consistency?from=<m>&to=<n>   consistency proof between tree sizes m and n
//   GET /v1/audit/root?size=<n>                       root hash of the tree of n entries
//
// Hashes are lower-case hex; entry bytes are base64 (the exact hashed bytes).
// Errors: {"error": {"code", "message"}} with the code's HTTP status.

import type { IncomingMessage, ServerResponse } from "node:http";
import { AecpError, isAecpError } from "../common/index.js";
import { checkpointJson, type Checkpoint } from "./checkpoint.js";
import { entryJson } from "./entry.js";
import { toHex } from "./merkle.js";
import type { AuditReader } from "./reader.js";

export interface AuditRoutesOptions {
  /**
   * Decides whether a request may read the audit log (e.g. a service or
   * approver token); false answers 401. Default: every request may.
   */
  authorize?: (req: IncomingMessage) => boolean;
  /**
   * Enables POST /v1/audit/checkpoint: signs a checkpoint now (e.g. the
   * store's `checkpoint`). Only requests `authorizeCheckpoint` accepts may
   * (default: none). Default: disabled (405).
   */
  checkpoint?: () => Promise<Checkpoint>;
  /** Decides whether a request may sign a checkpoint (a service token). Default: none may. */
  authorizeCheckpoint?: (req: IncomingMessage) => boolean;
}

export const AUDIT_PREFIX = "/v1/audit/";

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body) + "\n";
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, e: unknown): void {
  const err = isAecpError(e) ? e : new AecpError("AECP_INTERNAL", "internal error", { cause: e });
  // INVARIANT: `cause` never crosses the wire (STYLE.md); only code and message.
  if (!res.headersSent) send(res, err.httpStatus, { error: { code: err.code, message: err.message } });
  else res.destroy();
}

function intParam(q: URLSearchParams, name: string, dflt?: number): number {
  const v = q.get(name);
  if (v === null) {
    if (dflt !== undefined) return dflt;
    throw new AecpError("AECP_AUDIT_RANGE_INVALID", `query parameter \`${name}\` is required`);
  }
  if (!/^(0|-1|[1-9][0-9]{0,15})$/.test(v)) throw new AecpError("AECP_AUDIT_RANGE_INVALID", `query parameter \`${name}\` must be a whole number, not \`${v.slice(0, 40)}\``);
  return Number(v);
}

type Route = (q: URLSearchParams, log: AuditReader) => Promise<unknown>;

const ROUTES: Record<string, Route> = {
  checkpoint: async (_q, log) => {
    const [cp, head] = await Promise.all([log.latestCheckpoint(), log.head()]);
    if (!cp) throw new AecpError("AECP_AUDIT_NO_CHECKPOINT", "the audit log has no signed checkpoint yet");
    return { tree_size: head.size, checkpoint: checkpointJson(cp) };
  },
  head: async (_q, log) => {
    const head = await log.head();
    return { tree_size: head.size, root: toHex(head.root) };
  },
  checkpoints: async (q, log) => ({ checkpoints: (await log.checkpoints(intParam(q, "after", -1))).map(checkpointJson) }),
  entries: async (q, log) => {
    const subject = q.get("subject");
    if (subject !== null) {
      if (subject === "" || subject.length > 256) throw new AecpError("AECP_AUDIT_RANGE_INVALID", "query parameter `subject` must be 1-256 characters");
      return { entries: (await log.entriesBySubject(subject, intParam(q, "after", -1))).map(entryJson) };
    }
    const from = intParam(q, "from");
    const to = intParam(q, "to", from + 1_000_000);
    return { entries: (await log.entries(from, to)).map(entryJson) };
  },
  "proof/inclusion": async (q, log) => {
    const index = intParam(q, "index");
    const size = intParam(q, "size");
    return { index, size, hashes: (await log.inclusionProof(index, size)).map(toHex) };
  },
  "proof/consistency": async (q, log) => {
    const from = intParam(q, "from");
    const to = intParam(q, "to");
    return { from, to, hashes: (await log.consistencyProof(from, to)).map(toHex) };
  },
  root: async (q, log) => {
    const size = intParam(q, "size");
    return { size, root: toHex(await log.rootAt(size)) };
  },
};

/**
 * A node:http handler for the audit routes. Returns false (and does nothing)
 * when the path is not under /v1/audit/, so the approvals server can mount it
 * first; otherwise it answers the request (asynchronously) and returns true.
 */
export function auditRoutes(log: AuditReader, opts: AuditRoutesOptions = {}): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const url = new URL(req.url ?? "/", "http://audit.invalid");
    if (!url.pathname.startsWith(AUDIT_PREFIX)) return false;
    const route = ROUTES[url.pathname.slice(AUDIT_PREFIX.length)];
    if (!route) {
      send(res, 404, { error: { code: "AECP_AUDIT_NOT_FOUND", message: `no audit endpoint \`${url.pathname}\`` } });
      return true;
    }
    if (req.method === "POST" && url.pathname === `${AUDIT_PREFIX}checkpoint` && opts.checkpoint) {
      if (!opts.authorizeCheckpoint?.(req)) {
        send(res, 401, { error: { code: "AECP_APPROVALS_UNAUTHENTICATED", message: "signing a checkpoint needs a service token" } });
        return true;
      }
      req.resume(); // the body is ignored
      opts.checkpoint().then(
        (cp) => send(res, 200, { checkpoint: checkpointJson(cp) }),
        (e: unknown) => sendError(res, e),
      );
      return true;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      send(res, 405, { error: { code: "AECP_USAGE", message: `${req.method} is not allowed on ${url.pathname}; use GET` } });
      return true;
    }
    if (opts.authorize && !opts.authorize(req)) {
      send(res, 401, { error: { code: "AECP_APPROVALS_UNAUTHENTICATED", message: "this audit endpoint needs a valid bearer token" } });
      return true;
    }
    route(url.searchParams, log).then(
      (body) => send(res, 200, body),
      (e: unknown) => sendError(res, e),
    );
    return true;
  };
}
