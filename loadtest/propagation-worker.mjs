// One process of lightweight sidecar watchers for `npm run bench:propagation`
// (spawned by loadtest/bench-propagation.mjs with an IPC channel).
//
// Each watcher is the real BundleWatcher (dist/distribution) — long poll,
// manifest signature + expiry + name + rollback checks, blob download, size
// and digest checks — driving a lightweight target that does what the
// sidecar's activate does to a bundle: LoadedBundle.load (digest, Ed25519
// signature by a trusted key, ABI check, WebAssembly compile + instantiate),
// the same warm-up evaluations (LoadedBundle.warmUp), then the reference swap. It skips only
// the sidecar's gRPC/HTTP servers and the last-known-good write.
//
// argv: <distribution url> <public key pem path> <watchers>
// IPC out: { type: "active", items: [[revision, atMs], …] } — activations
// batched every 20 ms so the harness's own IPC (a JSON message and a pipe
// write each) does not eat the CPU the watchers share —, { type: "error", … }.

import { readFileSync } from "node:fs";
import { LoadedBundle, TrustedKeys } from "../dist/bundle/index.js";
import { BundleWatcher, watcherOptions } from "../dist/distribution/index.js";

const [url, pubPath, countText] = process.argv.slice(2);
const trusted = TrustedKeys.fromPems([readFileSync(pubPath, "utf8")]);
const options = watcherOptions({ url, name: "bench", waitS: 60 });

let pending = [];
function reportActive(revision, atMs) {
  if (pending.length === 0) setTimeout(() => {
    process.send({ type: "active", items: pending });
    pending = [];
  }, 20);
  pending.push([revision, atMs]);
}

class LightweightSidecar {
  active = undefined;
  current = undefined;
  activate(bytes, _source, meta) {
    const next = LoadedBundle.load(bytes, { trustedKeys: trusted, revision: meta.revision });
    next.warmUp(); // the sidecar's self-test and warm-up
    this.current = next; // the swap
    this.active = { name: next.name, digest: next.ref.digest, revision: meta.revision };
    reportActive(meta.revision, Date.now());
    return next;
  }
  reportComponent(_name, status) {
    if (status.state !== "ok" && status.code !== "AECP_NO_BUNDLE") process.send({ type: "error", code: status.code, reason: status.reason });
  }
  addMetrics() {}
}

const watchers = [];
for (let i = 0; i < Number(countText); i++) {
  const w = new BundleWatcher(options, new LightweightSidecar(), trusted);
  watchers.push(w);
  w.start();
}
process.on("message", async (m) => {
  if (m === "stop") {
    await Promise.all(watchers.map((w) => w.stop()));
    process.exit(0);
  }
});
