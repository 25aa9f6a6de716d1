// Crash-safe file replacement, shared by every store that writes files (the
// sidecar's last-known-good cache, the distribution service's filesystem
// storage): temp file in the same directory → write → fsync → rename (or
// hard-link when `exclusive`, which fails if the target exists) → fsync the
// directory, so the new name itself is durable. A reader sees the old file
// or the new one, never a torn one.

import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, linkSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { AecpError } from "./errors.js";

export interface DurableWriteOptions {
  /** Create only: fail (onExists, else AECP_IO) when `file` already exists. Default false (replace). */
  exclusive?: boolean;
  /** Called when an exclusive write finds the file already there; must throw. */
  onExists?: () => never;
}

/** Write `bytes` to `dir/file` durably (the directory must exist). Throws AecpError AECP_IO, or what `onExists` throws. */
export function writeFileDurably(dir: string, file: string, bytes: Uint8Array, opts: DurableWriteOptions = {}): void {
  const tmp = join(dir, `.${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    const fd = openSync(tmp, "wx", 0o600);
    try {
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (opts.exclusive) {
      try {
        linkSync(tmp, join(dir, file));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EEXIST" && opts.onExists) opts.onExists();
        throw e;
      } finally {
        rmSync(tmp, { force: true });
      }
    } else renameSync(tmp, join(dir, file));
    const dfd = openSync(dir, "r");
    try {
      fsyncSync(dfd); // make the new name itself durable
    } finally {
      closeSync(dfd);
    }
  } catch (cause) {
    rmSync(tmp, { force: true });
    if (cause instanceof AecpError) throw cause;
    throw new AecpError("AECP_IO", `cannot write \`${join(dir, file)}\``, { cause });
  }
}
