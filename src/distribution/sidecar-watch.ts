// Wiring of the bundle watcher to a real Sidecar (used by `aecp sidecar
// --distribution` and the tests): watcher options from the sidecar's options,
// the same trusted keys, and — when the sidecar started from its
// last-known-good copy — that copy's manifest, so rollback and freeze
// protection hold before the first poll answers.

import { readFileSync } from "node:fs";
import { AecpError } from "../common/index.js";
import { TrustedKeys } from "../bundle/index.js";
import { BundleStore, type Sidecar } from "../executive/index.js";
import { verifyManifest, type VerifiedManifest } from "./manifest.js";
import { watcherOptions } from "./options.js";
import { BundleWatcher, type WatchTarget } from "./watcher.js";

/**
 * Create (not start) the watcher for a sidecar configured with
 * `distribution` + `name`. `overrides` adjusts watcher options (tests use
 * short waits and backoffs). AECP_CONFIG_INVALID without `distribution`.
 */
export function watcherForSidecar(sidecar: Sidecar, overrides: Record<string, unknown> = {}): BundleWatcher {
  const o = sidecar.options;
  if (o.distribution === undefined || o.name === undefined) throw new AecpError("AECP_CONFIG_INVALID", "the sidecar has no `distribution` and `name` to watch");
  const options = watcherOptions({
    url: o.distribution,
    name: o.name,
    ...(o.distributionToken !== undefined ? { token: o.distributionToken } : {}),
    maxBundleBytes: o.maxBundleBytes,
    ...overrides,
  });
  const trusted = TrustedKeys.fromPems(o.pub.map((p) => readFileSync(p, "utf8")));
  return new BundleWatcher(options, sidecar, trusted, cachedManifest(sidecar, trusted));
}

/** Component name under /status `components` for the shadow watcher. */
export const SHADOW_WATCHER_COMPONENT = "shadow-distribution";

/**
 * Create (not start) a watcher that follows the sidecar's `shadowName` and
 * feeds each verified revision to `sidecar.activateShadow` — a candidate
 * bundle tried on live traffic, never enforced. The same checks as the main
 * watcher (manifest signature, expiry, rollback, digest, size, bundle
 * signature); its health shows as `shadow-distribution` in /status. Its
 * metrics are not exported (the main watcher's metric families would repeat).
 */
export function shadowWatcherForSidecar(sidecar: Sidecar, overrides: Record<string, unknown> = {}): BundleWatcher {
  const o = sidecar.options;
  if (o.distribution === undefined || o.shadowName === undefined) throw new AecpError("AECP_CONFIG_INVALID", "the sidecar has no `distribution` and `shadowName` to watch");
  const options = watcherOptions({
    url: o.distribution,
    name: o.shadowName,
    ...(o.distributionToken !== undefined ? { token: o.distributionToken } : {}),
    maxBundleBytes: o.maxBundleBytes,
    ...overrides,
  });
  const trusted = TrustedKeys.fromPems(o.pub.map((p) => readFileSync(p, "utf8")));
  const target: WatchTarget = {
    get active() {
      return sidecar.shadowActive;
    },
    activate: (bytes, _source, meta) => sidecar.activateShadow(bytes, meta),
    reportComponent: (_name, status) => sidecar.reportComponent(SHADOW_WATCHER_COMPONENT, status),
    addMetrics: () => undefined,
  };
  return new BundleWatcher(options, target, trusted, undefined);
}

/** The verified manifest saved with the active last-known-good bundle, if it matches it. */
function cachedManifest(sidecar: Sidecar, trusted: TrustedKeys): VerifiedManifest | undefined {
  const active = sidecar.active;
  const dir = sidecar.options.cacheDir;
  if (!active || active.source !== "cache" || dir === undefined || sidecar.options.name === undefined) return undefined;
  try {
    const store = new BundleStore(dir);
    const bytes = store.load();
    const manifest = bytes && store.loadMeta(bytes).manifest;
    if (!manifest) return undefined;
    // nowMs 0: an expired manifest still describes the active bundle; the watcher reports its expiry itself
    const m = verifyManifest(manifest, { trustedKeys: trusted, name: sidecar.options.name, nowMs: 0 });
    return m.signed.revision === active.revision && m.signed.bundleDigest === active.digest ? m : undefined;
  } catch {
    return undefined; // the meta only adds protection; without it the watcher still follows the revision number
  }
}
