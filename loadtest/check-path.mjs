// Where a Check's CPU goes, stage by stage, in one process (no network):
// the no-op's work (decode the CheckRequest, encode an empty OK) against the
// sidecar's (decode, CheckRequest → attributes, evaluate, build the
// CheckResponse, encode). Same request and 1,000-policy bundle as
// `npm run bench:authz`. Medians of several runs; µs per call.
//
// Two columns: "hot", calls back to back (everything in the CPU's caches),
// and "cold", each call timed alone after a walk over 8 MiB that evicts the
// caches — what a server sees when Checks arrive one at a time with other
// work (the HTTP/2 and gRPC layers, other processes) between them. The cold
// figures are the ones that predicted the server's CPU per Check in
// bench:authz's open-loop runs (perf, 2026-12-07): every cache line of code
// and data a call touches costs there.
//
//   npm run build && npm run bench:check-path

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compile } from "../dist/judicial/index.js";
import { generateKeyPairPem, parsePrivateKeyPem } from "../dist/bundle/index.js";
import { Sidecar, sidecarOptions, envoyAuthPackageDefinition, toCheckResponse } from "../dist/executive/index.js";
import { attributesFromGrpcFields } from "../dist/executive/checkrequest.js";
import { generatePolicies } from "../bench/generate.mjs";
import { encodeCheckResponse } from "../dist/executive/check-response-wire.js";
import { decodeCheckRequest } from "../dist/executive/check-request-wire.js";
import { checkRequestFrame } from "./common.mjs";

const N = Number(process.env.AECP_BENCH_POLICIES ?? 1000);
const ITER = Number(process.env.AECP_BENCH_ITER ?? 20000);
const RUNS = Number(process.env.AECP_BENCH_RUNS ?? 5);

const dir = mkdtempSync(join(tmpdir(), "aecp-checkpath-"));
const kp = generateKeyPairPem();
writeFileSync(join(dir, "k.pub"), kp.publicPem);
const r = await compile(generatePolicies(N), { name: `bench-${N}`, key: parsePrivateKeyPem(kp.privatePem) });
writeFileSync(join(dir, "b.bundle"), r.bundle);
const sidecar = new Sidecar(sidecarOptions({ bundle: join(dir, "b.bundle"), pub: [join(dir, "k.pub")], grpc: ["127.0.0.1:0"], http: "127.0.0.1:0" }));
sidecar.activate(r.bundle);

const def = envoyAuthPackageDefinition()["envoy.service.auth.v3.Authorization"].Check;
const frame = await checkRequestFrame(5);
const bytes = frame.subarray(5);
const OK = { status: { code: 0 }, ok_response: {} };

const req = decodeCheckRequest(bytes);
const attrs = attributesFromGrpcFields(req, { maxBodyBytes: 1 << 20 });
const outcome = sidecar.decide(attrs);
const resObj = toCheckResponse(outcome);

const stages = {
  "decode CheckRequest, protobufjs (no-op; sidecar before)": () => def.requestDeserialize(bytes),
  "decode CheckRequest, check-request-wire (sidecar)": () => decodeCheckRequest(bytes),
  "encode OK (no-op response)": () => def.responseSerialize(OK),
  "CheckRequest → attributes": () => attributesFromGrpcFields(req, { maxBodyBytes: 1 << 20 }),
  "decide (evaluate + outcome)": () => sidecar.decide(attrs),
  "outcome → CheckResponse object": () => toCheckResponse(outcome),
  "encode CheckResponse, protobufjs (before)": () => def.responseSerialize(resObj),
  "encode CheckResponse, check-response-wire (sidecar)": () => encodeCheckResponse(outcome),
  "no-op total": () => def.responseSerialize(OK, def.requestDeserialize(bytes)),
  "sidecar total": () => encodeCheckResponse(sidecar.decide(attributesFromGrpcFields(decodeCheckRequest(bytes), { maxBodyBytes: 1 << 20 }))),
};

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const COLD_CALLS = Number(process.env.AECP_BENCH_COLD_CALLS ?? 1500);
const evict = new Uint8Array(8 << 20);
let sink = 0;
/** Touch one byte per cache line of 8 MiB: the next call starts with cold caches. */
function evictCaches() {
  for (let i = 0; i < evict.length; i += 64) sink += evict[i]++;
}
const results = {};
const cold = {};
for (let run = 0; run < RUNS; run++) {
  for (const [name, f] of Object.entries(stages)) {
    for (let i = 0; i < 2000; i++) f();
    globalThis.gc?.();
    const t0 = performance.now();
    for (let i = 0; i < ITER; i++) f();
    (results[name] ??= []).push(((performance.now() - t0) * 1000) / ITER);
    const each = [];
    for (let i = 0; i < COLD_CALLS / RUNS; i++) {
      evictCaches();
      const c0 = performance.now();
      f();
      each.push((performance.now() - c0) * 1000);
    }
    (cold[name] ??= []).push(...each);
  }
}
console.log(`| stage (${N} policies, ${bytes.length}-byte request, ${def.responseSerialize(resObj).length}-byte response) | hot: µs/call (median of ${RUNS}) | cold: µs/call (median of ${COLD_CALLS}) |`);
console.log("|---|---|---|");
for (const [name, xs] of Object.entries(results)) console.log(`| ${name} | ${median(xs).toFixed(2)} | ${median(cold[name]).toFixed(2)} |`);
const noop = median(results["no-op total"]);
const side = median(results["sidecar total"]);
const noopCold = median(cold["no-op total"]);
const sideCold = median(cold["sidecar total"]);
console.log(`\nsidecar − no-op, hot: +${(side - noop).toFixed(2)} µs per call (${(side / noop).toFixed(2)}x of the in-process no-op work)`);
console.log(`sidecar − no-op, cold: +${(sideCold - noopCold).toFixed(2)} µs per call (${(sideCold / noopCold).toFixed(2)}x)${sink < 0 ? "" : ""}`);
await sidecar.stop().catch(() => {});
rmSync(dir, { recursive: true, force: true });
