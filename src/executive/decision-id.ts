// Decision ids: random RFC 9562 version 4 UUIDs, one per Check.
//
// node:crypto's randomUUID() builds its result from twenty string
// concatenations (about 590 bytes of short-lived garbage per id, measured
// with V8's sampling heap profiler); on the Check path that was the largest
// single allocation after the request's own headers. This writes the 36
// characters into a scratch buffer from a table and makes ONE string of them.
// The randomness is the same CSPRNG (crypto.randomFillSync), drawn 4 KiB at a
// time: 256 ids per refill.

import { randomFillSync } from "node:crypto";

const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let offset = POOL_BYTES; // empty: filled on first use

const scratch = Buffer.allocUnsafe(36);
/** The two lower-case ASCII hex digits of byte value i, at 2i and 2i + 1. */
const HEX = new Uint8Array(512);
for (let i = 0; i < 256; i++) {
  const s = i.toString(16).padStart(2, "0");
  HEX[i * 2] = s.charCodeAt(0);
  HEX[i * 2 + 1] = s.charCodeAt(1);
}
/** Where each of the 16 bytes goes in `xxxxxxxx-xxxx-4xxx-Nxxx-xxxxxxxxxxxx`. */
const POSITION = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
scratch[8] = scratch[13] = scratch[18] = scratch[23] = 0x2d; // "-"

const latin1Slice = (Buffer.prototype as unknown as { latin1Slice?: (start: number, end: number) => string }).latin1Slice;

/** A new random UUID (version 4, RFC 9562 variant), lower-case, e.g. `2f1c…-…`. */
export function newDecisionId(): string {
  if (offset + 16 > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const o = offset;
  offset += 16;
  pool[o + 6] = (pool[o + 6]! & 0x0f) | 0x40; // version 4
  pool[o + 8] = (pool[o + 8]! & 0x3f) | 0x80; // variant 10xx
  for (let i = 0; i < 16; i++) {
    const b = pool[o + i]! * 2;
    const p = POSITION[i]!;
    scratch[p] = HEX[b]!;
    scratch[p + 1] = HEX[b + 1]!;
  }
  return typeof latin1Slice === "function" ? latin1Slice.call(scratch, 0, 36) : scratch.toString("latin1", 0, 36);
}
