// V8 settings of the sidecar process, set by `aecp sidecar` for itself at
// start, before it loads a bundle or serves a Check.
//
// --no-allocation-site-pretenuring. V8 watches how many objects from each
// allocation site survive a young-generation GC and, past a threshold,
// allocates that site's objects straight in the old generation from then on.
// A gRPC server under a burst (many calls in flight, every call's objects
// alive across a scavenge) trips that threshold for grpc-js's and node:http2's
// per-call objects; afterwards, at ordinary rates, every call's short-lived
// objects go to the old generation: scavenges slow to 8-16 ms (old-to-new
// pointers to update), and a mark-compact runs every ~2 s. Measured on
// `npm run bench:authz`'s no-op server at 3,584 Check/s after a warm-up burst
// (docs/performance.md, 2026-12-07): promoted per scavenge 2.6 MB -> 0.07-0.13
// MB, scavenge pause 8-16 -> 1.5-2.3 ms, p99 32-172 -> 3.1-3.5 ms; max
// throughput unchanged. It happens in some processes and not others, to the
// sidecar as to a bare grpc-js server.
//
// --heap-growing-percent=25. node:http2 hands every request's header values
// to JavaScript as external strings that live in the old generation until a
// mark-compact finalizes them, one by one. With V8's dynamic growth factor the
// old generation grew to 40-140 MB between mark-compacts, and each one
// stopped the process for 35-190 ms (1.5-2 ms per MB collected). A fixed
// factor of 1.25 collects every 0.6-2 s at 5,500-11,000 Check/s, each pause
// 4-14 ms.
// Measured on `npm run bench:authz` with both servers set alike
// (docs/performance.md, 2026-12-07, second stop): p99.9 at half the no-op's
// max rate 17-31 ms in five runs with it, 2.5-127 ms (median 62 ms) in six
// without; loaded RSS 111-128 MB instead of 137-221 MB. The cost is more GC
// work at saturation, too small to separate from the host's speed changes in
// those runs (the no-op's max: 22.2-26.4k Check/s with it, 24.3-31.4k
// without). `--heap-growing-percent=0` on the node command line restores
// V8's dynamic factor.
//
// A flag given on the node command line (either polarity, any value) wins:
// the sidecar does not override what an operator set explicitly.

import { setFlagsFromString } from "node:v8";

/** The V8 flags `aecp sidecar` sets for its own process (the bench's no-op server applies the same). */
export const SIDECAR_V8_FLAGS: readonly string[] = Object.freeze(["--no-allocation-site-pretenuring", "--heap-growing-percent=25"]);

/** `--no-foo_bar=1` → `foo-bar` (V8 accepts `_` and `-`, and `--no-` negates). */
function flagName(arg: string): string {
  return arg.split("=")[0]!.replace(/^--?(no-?)?/, "").replace(/_/g, "-");
}

/**
 * Set SIDECAR_V8_FLAGS in this process, except those the node command line
 * (`execArgv`) already sets in either polarity. Returns the flags it set.
 */
export function applySidecarV8Flags(execArgv: readonly string[] = process.execArgv, set: (flag: string) => void = setFlagsFromString): string[] {
  const explicit = new Set(execArgv.filter((a) => a.startsWith("-")).map(flagName));
  const applied: string[] = [];
  for (const flag of SIDECAR_V8_FLAGS) {
    if (explicit.has(flagName(flag))) continue;
    set(flag);
    applied.push(flag);
  }
  return applied;
}
