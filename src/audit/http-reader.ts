// The audit log read over HTTP (the approvals service's /v1/audit routes,
// see routes.ts) through undici, so `aecp audit verify|proof --approvals` and
// `aecp replay` work against a running service with the same verifier as a
// database. Everything served is re-verified by the caller: the server is not
// trusted, only the checkpoint signing keys are.

import { request } from "undici";
import { AecpError, errorFromAnswer, readBoundedBody, type ErrorCode } from "../common/index.js";
import { parseCheckpoint, type Checkpoint } from "./checkpoint.js";
import { StoredEntry, validKind, validSubject, type AuditEntry } from "./entry.js";
import { fromHex } from "./merkle.js";
import type { AuditReader } from "./reader.js";

export interface HttpOptions {
  /** Bearer token sent as `Authorization: Bearer …`. Default none. */
  token?: string | undefined;
  /** Per-request timeout (headers and body), ms. Default 30,000. */
  timeoutMs?: number;
  /** Largest answer body accepted, bytes. Default 64 MiB. */
  maxResponseBytes?: number;
}

/**
 * GET `url`; returns status and body. Throws AECP_AUDIT_UNAVAILABLE when the
 * server cannot be reached, times out, or answers more than maxResponseBytes.
 */
export async function httpGet(url: string, opts: HttpOptions = {}): Promise<{ status: number; body: Uint8Array }> {
  const timeout = opts.timeoutMs ?? 30_000;
  const limit = opts.maxResponseBytes ?? 64 * 1024 * 1024;
  try {
    const res = await request(url, {
      method: "GET",
      headers: opts.token ? { authorization: `Bearer ${opts.token}`, accept: "application/json" } : { accept: "application/json" },
      headersTimeout: timeout,
      bodyTimeout: timeout,
    });
    const body = await readBoundedBody(res.body, limit, () => new AecpError("AECP_AUDIT_UNAVAILABLE", `the answer from ${new URL(url).pathname} exceeds ${limit} bytes`));
    return { status: res.statusCode, body };
  } catch (cause) {
    if (cause instanceof AecpError) throw cause;
    throw new AecpError("AECP_AUDIT_UNAVAILABLE", `cannot reach ${new URL(url).origin}: ${(cause as Error).message}`, { cause });
  }
}

/** The error an AECP service answered (its code when it is one of ours), or AECP_AUDIT_UNAVAILABLE. */
export function answerError(url: string, status: number, body: Uint8Array, fallback: ErrorCode = "AECP_AUDIT_UNAVAILABLE"): AecpError {
  return errorFromAnswer(status, body, fallback, `${new URL(url).pathname} answered`);
}

/** GET `url` and parse JSON from a 200 answer; other statuses throw `answerError`. */
export async function httpGetJson(url: string, opts: HttpOptions = {}): Promise<unknown> {
  const res = await httpGet(url, opts);
  if (res.status !== 200) throw answerError(url, res.status, res.body);
  try {
    return JSON.parse(Buffer.from(res.body).toString("utf8"));
  } catch (cause) {
    throw new AecpError("AECP_AUDIT_UNAVAILABLE", `${new URL(url).pathname} answered something that is not JSON`, { cause });
  }
}

function malformed(what: string): never {
  throw new AecpError("AECP_AUDIT_UNAVAILABLE", `the audit endpoint answered a malformed ${what}`);
}

const obj = (v: unknown, what: string): Record<string, unknown> => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : malformed(what));
const arr = (v: unknown, what: string): unknown[] => (Array.isArray(v) ? v : malformed(what));
const nat = (v: unknown, what: string): number => (typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : malformed(what));
const hexHash = (v: unknown, what: string): Uint8Array => {
  try {
    return fromHex(v, what);
  } catch {
    return malformed(what);
  }
};

/** Parses one entry of the HTTP API (`entryJson`). Throws AECP_AUDIT_UNAVAILABLE when malformed. */
export function entryFromJson(v: unknown): AuditEntry {
  const o = obj(v, "entry");
  if (!validKind(o["kind"]) || !validSubject(o["subject"]) || typeof o["created_at"] !== "string" || typeof o["bytes"] !== "string") malformed("entry");
  const nodes = arr(o["nodes"], "entry node list").map((h) => hexHash(h, "entry node"));
  if (nodes.length > 64) malformed("entry node list");
  return new StoredEntry(
    nat(o["index"], "entry index"),
    o["kind"],
    o["subject"],
    o["created_at"],
    new Uint8Array(Buffer.from(o["bytes"], "base64")),
    new Uint8Array(Buffer.concat([hexHash(o["leaf_hash"], "entry leaf hash"), ...nodes])),
  );
}

/** An AuditReader over an approvals service's /v1/audit routes. */
export class HttpAuditReader implements AuditReader {
  private readonly base: string;

  /** @param baseUrl the service's base URL (e.g. http://127.0.0.1:8282). */
  constructor(
    baseUrl: string,
    private readonly opts: HttpOptions = {},
  ) {
    this.base = baseUrl.replace(/\/+$/, "");
  }

  private get(path: string, query: Record<string, string | number>): Promise<unknown> {
    const q = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]));
    return httpGetJson(`${this.base}/v1/audit/${path}?${q}`, this.opts);
  }

  async head(): Promise<{ size: number; root: Uint8Array }> {
    const o = obj(await this.get("head", {}), "head");
    return { size: nat(o["tree_size"], "tree size"), root: hexHash(o["root"], "head root") };
  }

  async entries(from: number, to: number): Promise<AuditEntry[]> {
    return arr(obj(await this.get("entries", { from, to }), "entries page")["entries"], "entries page").map(entryFromJson);
  }

  async entriesBySubject(subject: string, afterIndex = -1): Promise<AuditEntry[]> {
    return arr(obj(await this.get("entries", { subject, after: afterIndex }), "entries page")["entries"], "entries page").map(entryFromJson);
  }

  async latestCheckpoint(): Promise<Checkpoint | null> {
    try {
      return parseCheckpoint(obj(obj(await this.get("checkpoint", {}), "checkpoint")["checkpoint"], "checkpoint")["note"]);
    } catch (e) {
      if (e instanceof AecpError && e.code === "AECP_AUDIT_NO_CHECKPOINT") return null;
      throw e;
    }
  }

  async checkpoints(afterSize: number): Promise<Checkpoint[]> {
    return arr(obj(await this.get("checkpoints", { after: afterSize }), "checkpoints page")["checkpoints"], "checkpoints page").map((c) => parseCheckpoint(obj(c, "checkpoint")["note"]));
  }

  async inclusionProof(index: number, size: number): Promise<Uint8Array[]> {
    return arr(obj(await this.get("proof/inclusion", { index, size }), "inclusion proof")["hashes"], "inclusion proof").map((h) => hexHash(h, "proof hash"));
  }

  async consistencyProof(first: number, second: number): Promise<Uint8Array[]> {
    return arr(obj(await this.get("proof/consistency", { from: first, to: second }), "consistency proof")["hashes"], "consistency proof").map((h) => hexHash(h, "proof hash"));
  }

  async rootAt(size: number): Promise<Uint8Array> {
    return hexHash(obj(await this.get("root", { size }), "root")["root"], "root");
  }
}
