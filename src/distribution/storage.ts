// The storage interface of the distribution service and its default backend,
// the local filesystem. Storage holds two kinds of objects: blobs (bundle
// files, content-addressed by sha256, immutable) and manifests (signed JSON,
// one per bundle name and revision). The OCI registry backend (./oci.ts)
// implements the same interface over the OCI distribution API.
//
// Filesystem layout under the data directory:
//   blobs/sha256/<hex>                      bundle files
//   bundles/<name>/<revision, 16 digits>.json  manifests
// Crash safety: every object is written to a temp file in the same
// directory, fsynced, renamed into place, and the directory fsynced. Blobs
// are written before the manifest that names them, so a crash leaves at
// worst an unreferenced blob, never a manifest without its blob.

import { mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { AecpError, writeFileDurably } from "../common/index.js";
import { BUNDLE_NAME, DIGEST } from "./manifest.js";

/** One stored revision of a bundle. */
export interface StoredManifest {
  name: string;
  revision: number;
  /** The signed manifest's exact bytes. */
  bytes: Uint8Array;
}

/** Where the distribution service keeps blobs and manifests. */
export interface BundleStorage {
  /** `fs` or `oci`, for logs and /readyz. */
  readonly kind: string;
  /** Human description (path or registry URL), without credentials. */
  readonly location: string;
  /** Store a blob under its digest (the caller has verified digest = sha256(bytes)). Idempotent. */
  putBlob(digest: string, bytes: Uint8Array): Promise<void>;
  /** The blob, or undefined when not stored. */
  getBlob(digest: string): Promise<Uint8Array | undefined>;
  /**
   * Store a manifest for `name`/`revision`. Throws AECP_MANIFEST_ROLLBACK
   * when that revision already exists (a revision is written once).
   */
  putManifest(m: StoredManifest): Promise<void>;
  /** The highest revision of `name`, or undefined when never published. */
  latest(name: string): Promise<StoredManifest | undefined>;
  /** Revisions of `name`, ascending. */
  revisions(name: string): Promise<number[]>;
  /** A specific revision, or undefined. */
  getManifest(name: string, revision: number): Promise<StoredManifest | undefined>;
  /** Names with at least one revision, sorted. */
  names(): Promise<string[]>;
  /** A cheap reachability check for /readyz. Throws when unusable. */
  check(): Promise<void>;
  close(): Promise<void>;
}

function checkName(name: string): void {
  if (!BUNDLE_NAME.test(name)) throw new AecpError("AECP_DISTRIBUTION_BAD_REQUEST", `invalid bundle name \`${name.slice(0, 140)}\``);
}

function checkDigest(digest: string): string {
  if (!DIGEST.test(digest)) throw new AecpError("AECP_DISTRIBUTION_BAD_REQUEST", "blob digest must be sha256:<64 lowercase hex>");
  return digest.slice(7);
}

const REVISION_FILE = /^(\d{16})\.json$/;

/** Filesystem storage (default): see the file header for layout and crash safety. */
export class FsStorage implements BundleStorage {
  readonly kind = "fs";

  constructor(readonly location: string) {
    try {
      mkdirSync(join(location, "blobs", "sha256"), { recursive: true, mode: 0o700 });
      mkdirSync(join(location, "bundles"), { recursive: true, mode: 0o700 });
    } catch (cause) {
      throw new AecpError("AECP_IO", `cannot create the distribution data directory \`${location}\``, { cause });
    }
  }

  async putBlob(digest: string, bytes: Uint8Array): Promise<void> {
    const hex = checkDigest(digest);
    const path = join(this.location, "blobs", "sha256", hex);
    if (exists(path)) return;
    writeFileDurably(join(this.location, "blobs", "sha256"), hex, bytes);
  }

  async getBlob(digest: string): Promise<Uint8Array | undefined> {
    const hex = checkDigest(digest);
    return readIfExists(join(this.location, "blobs", "sha256", hex));
  }

  async putManifest(m: StoredManifest): Promise<void> {
    checkName(m.name);
    const dir = join(this.location, "bundles", m.name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // INVARIANT: a revision file is created once (link fails when it exists), so two publishers cannot both win.
    writeFileDurably(dir, `${String(m.revision).padStart(16, "0")}.json`, m.bytes, { exclusive: true, onExists: () => {
      throw new AecpError("AECP_MANIFEST_ROLLBACK", `revision ${m.revision} of \`${m.name}\` already exists`);
    } });
  }

  async revisions(name: string): Promise<number[]> {
    checkName(name);
    let entries: string[];
    try {
      entries = readdirSync(join(this.location, "bundles", name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw new AecpError("AECP_IO", `cannot list revisions of \`${name}\``, { cause: e });
    }
    const revs: number[] = [];
    for (const e of entries) {
      const m = REVISION_FILE.exec(e);
      if (m) revs.push(Number(m[1]));
    }
    return revs.sort((a, b) => a - b);
  }

  async getManifest(name: string, revision: number): Promise<StoredManifest | undefined> {
    checkName(name);
    const bytes = readIfExists(join(this.location, "bundles", name, `${String(revision).padStart(16, "0")}.json`));
    return bytes && { name, revision, bytes };
  }

  async latest(name: string): Promise<StoredManifest | undefined> {
    const revs = await this.revisions(name);
    const last = revs[revs.length - 1];
    return last === undefined ? undefined : this.getManifest(name, last);
  }

  async names(): Promise<string[]> {
    try {
      return readdirSync(join(this.location, "bundles"))
        .filter((n) => BUNDLE_NAME.test(n))
        .sort();
    } catch (cause) {
      throw new AecpError("AECP_IO", `cannot list bundles in \`${this.location}\``, { cause });
    }
  }

  async check(): Promise<void> {
    try {
      statSync(join(this.location, "bundles"));
    } catch (cause) {
      throw new AecpError("AECP_IO", `distribution data directory \`${this.location}\` is not readable`, { cause });
    }
  }

  async close(): Promise<void> {}
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

function readIfExists(path: string): Uint8Array | undefined {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new AecpError("AECP_IO", `cannot read \`${path}\``, { cause: e });
  }
}

