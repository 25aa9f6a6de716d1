// AuditLogOptions: the one options type of the audit log (both stores).
// `auditLogOptions()` validates, fills defaults, freezes, and rejects unknown
// keys and bad values with AECP_CONFIG_INVALID naming the key.

import type { PrivateKey } from "../bundle/index.js";
import { AecpError } from "../common/index.js";

export interface AuditLogOptions {
  /** Log name written into every checkpoint (its first line). Default "aecp-audit". */
  readonly origin: string;
  /** Ed25519 key that signs checkpoints (`parsePrivateKeyPem`); undefined = `checkpoint()` fails with AECP_CONFIG_INVALID. Default undefined. */
  readonly signingKey: PrivateKey | undefined;
  /** Largest entry (hashed bytes), bytes. Default 1 MiB. */
  readonly maxEntryBytes: number;
  /** Most entries one append call takes. Default 10,000. */
  readonly maxEntriesPerAppend: number;
  /** Most entries one read (`entries(from, to)`, the HTTP range endpoint, a subject query) returns. Default 1,000. */
  readonly maxPageEntries: number;
  /** PostgreSQL only: schema holding the audit tables; undefined = the connection's search_path. Default undefined. */
  readonly schema: string | undefined;
  /** Clock for entry and checkpoint timestamps (tests pin it). Default `() => new Date()`. */
  readonly now: () => Date;
}

export const AUDIT_DEFAULTS = Object.freeze({
  origin: "aecp-audit",
  maxEntryBytes: 1024 * 1024,
  maxEntriesPerAppend: 10_000,
  maxPageEntries: 1_000,
});

const KEYS = ["origin", "signingKey", "maxEntryBytes", "maxEntriesPerAppend", "maxPageEntries", "schema", "now"] as const;

function bad(key: string, why: string): never {
  throw new AecpError("AECP_CONFIG_INVALID", `audit log option \`${key}\` ${why}`);
}

function int(key: string, v: unknown, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) bad(key, `must be a whole number from ${min} to ${max}`);
  return v;
}

/** Validate raw options, fill defaults, freeze. Throws AECP_CONFIG_INVALID. */
export function auditLogOptions(raw: unknown = {}): AuditLogOptions {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new AecpError("AECP_CONFIG_INVALID", "audit log options must be a map");
  const r = raw as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (!(KEYS as readonly string[]).includes(k)) throw new AecpError("AECP_CONFIG_INVALID", `unknown audit log option \`${k}\` (known: ${KEYS.join(", ")})`);
  }
  const origin = r["origin"] ?? AUDIT_DEFAULTS.origin;
  // The origin is one line of the signed checkpoint note.
  if (typeof origin !== "string" || !/^[\x21-\x7e]{1,128}$/.test(origin)) bad("origin", "must be 1-128 printable ASCII characters without spaces");
  const key = r["signingKey"];
  if (key !== undefined && (key === null || typeof key !== "object" || !((key as PrivateKey).seed instanceof Uint8Array) || typeof (key as PrivateKey).keyId !== "string")) {
    bad("signingKey", "must be a private key from parsePrivateKeyPem");
  }
  const schema = r["schema"];
  if (schema !== undefined && (typeof schema !== "string" || !/^[a-z_][a-z0-9_]{0,62}$/.test(schema))) bad("schema", "must be a lower-case SQL identifier ([a-z_][a-z0-9_]*, at most 63 characters)");
  const now = r["now"];
  if (now !== undefined && typeof now !== "function") bad("now", "must be a function returning a Date");
  return Object.freeze({
    origin,
    signingKey: key as PrivateKey | undefined,
    maxEntryBytes: int("maxEntryBytes", r["maxEntryBytes"], AUDIT_DEFAULTS.maxEntryBytes, 64, 64 * 1024 * 1024),
    maxEntriesPerAppend: int("maxEntriesPerAppend", r["maxEntriesPerAppend"], AUDIT_DEFAULTS.maxEntriesPerAppend, 1, 1_000_000),
    maxPageEntries: int("maxPageEntries", r["maxPageEntries"], AUDIT_DEFAULTS.maxPageEntries, 1, 100_000),
    schema: schema as string | undefined,
    now: (now as (() => Date) | undefined) ?? (() => new Date()),
  });
}
