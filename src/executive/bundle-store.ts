// The last-known-good bundle cache (`aecp sidecar --cache-dir`). After a
// bundle has been verified, instantiated and activated, its bytes are
// persisted here; at start the sidecar loads this copy before anything else,
// so it serves even when the configured source (file, distribution service)
// is unreachable or currently bad.
//
// Crash safety (common writeFileDurably): write to a temp file in the same directory, fsync it, rename
// over the old copy, fsync the directory. A reader sees the old or the new
// bundle, never a torn one — and the bytes are re-verified on load anyway
// (signature, ABI), so a corrupted cache is rejected, never trusted.
//
// Beside the bundle, `last-known-good.json` keeps what the bundle bytes do
// not carry: the distribution revision and manifest issued-at, so rollback
// protection survives a restart. The meta names the bundle digest it belongs
// to; a meta whose digest does not match the bundle (a crash between the two
// renames) is ignored.

import { mkdirSync, readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { AecpError, writeFileDurably } from "../common/index.js";

export const LKG_FILE = "last-known-good.bundle";
export const LKG_META_FILE = "last-known-good.json";

/** What the sidecar knows about a bundle beyond its bytes (from the distribution manifest). */
export interface BundleMeta {
  /** Distribution revision, when the bundle came from the distribution service. */
  readonly revision?: number;
  /** The manifest's issued-at (RFC 3339), for propagation lag. */
  readonly issuedAt?: string;
  /** The signed manifest bytes as received, kept for audit. */
  readonly manifest?: Uint8Array;
}

/** Largest meta file read back (it holds a small JSON object and one manifest). */
const MAX_META_BYTES = 1024 * 1024;

export class BundleStore {
  constructor(readonly dir: string) {}

  private get path(): string {
    return join(this.dir, LKG_FILE);
  }

  /** Persist `bytes` (and its meta) as the last-known-good bundle (atomic replace, durable). */
  save(bytes: Uint8Array, meta: BundleMeta = {}): void {
    const digest = sha256(bytes);
    const json = JSON.stringify({
      digest,
      ...(meta.revision !== undefined ? { revision: meta.revision } : {}),
      ...(meta.issuedAt !== undefined ? { issuedAt: meta.issuedAt } : {}),
      ...(meta.manifest !== undefined ? { manifest: Buffer.from(meta.manifest).toString("base64") } : {}),
    });
    this.writeAtomic(LKG_META_FILE, new TextEncoder().encode(json));
    this.writeAtomic(LKG_FILE, bytes);
  }

  private writeAtomic(name: string, bytes: Uint8Array): void {
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      writeFileDurably(this.dir, name, bytes);
    } catch (cause) {
      throw new AecpError("AECP_IO", `cannot persist the last-known-good bundle in \`${this.dir}\``, { cause });
    }
  }


  /**
   * The meta saved with `bytes`, or `{}` when there is none, it is unreadable,
   * or it belongs to other bytes. Never throws: meta only adds protection.
   */
  loadMeta(bytes: Uint8Array): BundleMeta {
    try {
      const raw = readFileSync(join(this.dir, LKG_META_FILE));
      if (raw.length > MAX_META_BYTES) return {};
      const o = JSON.parse(raw.toString("utf8")) as Record<string, unknown>;
      if (o["digest"] !== sha256(bytes)) return {};
      const meta: { revision?: number; issuedAt?: string; manifest?: Uint8Array } = {};
      if (typeof o["revision"] === "number" && Number.isSafeInteger(o["revision"]) && o["revision"] >= 0) meta.revision = o["revision"];
      if (typeof o["issuedAt"] === "string" && !Number.isNaN(Date.parse(o["issuedAt"]))) meta.issuedAt = o["issuedAt"];
      if (typeof o["manifest"] === "string") meta.manifest = new Uint8Array(Buffer.from(o["manifest"], "base64"));
      return meta;
    } catch {
      return {};
    }
  }

  /** The cached bundle bytes, or undefined when there is none. Not verified here: the caller loads them like any bundle. */
  load(): Uint8Array | undefined {
    try {
      return new Uint8Array(readFileSync(this.path));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new AecpError("AECP_IO", `cannot read the last-known-good bundle in \`${this.dir}\``, { cause: e });
    }
  }
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
