// The last-known-good bundle cache (`aecp sidecar --cache-dir`). After a
// bundle has been verified, instantiated and activated, its bytes are
// persisted here; at start the sidecar loads this copy before anything else,
// so it serves even when the configured source (file, distribution service)
// is unreachable or currently bad.
//
// Crash safety: write to a temp file in the same directory, fsync it, rename
// over the old copy, fsync the directory. A reader sees the old or the new
// bundle, never a torn one — and the bytes are re-verified on load anyway
// (signature, ABI), so a corrupted cache is rejected, never trusted.

import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { AecpError } from "../common/index.js";

export const LKG_FILE = "last-known-good.bundle";

export class BundleStore {
  constructor(readonly dir: string) {}

  private get path(): string {
    return join(this.dir, LKG_FILE);
  }

  /** Persist `bytes` as the last-known-good bundle (atomic replace, durable). */
  save(bytes: Uint8Array): void {
    const tmp = join(this.dir, `.${LKG_FILE}.${process.pid}.tmp`);
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      const fd = openSync(tmp, "w", 0o600);
      try {
        let off = 0;
        while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.path);
      const dfd = openSync(this.dir, "r");
      try {
        fsyncSync(dfd); // make the rename itself durable
      } finally {
        closeSync(dfd);
      }
    } catch (cause) {
      rmSync(tmp, { force: true });
      throw new AecpError("AECP_IO", `cannot persist the last-known-good bundle in \`${this.dir}\``, { cause });
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
