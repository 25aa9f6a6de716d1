// Shared pieces of the ext_authz load test (npm run bench:authz): the gRPC
// request every generator sends, the sidecar's grpc-js server options (read
// from the compiled sidecar so the no-op server always matches it), and
// per-process CPU and RSS from /proc.

import { readFileSync } from "node:fs";
import { GRPC_SERVER_OPTIONS, H2_CONNECTION_WINDOW_BYTES, raiseConnectionWindow } from "../dist/executive/sidecar.js";
import { execFileSync, spawn } from "node:child_process";
import { sampleAttributes } from "../bench/generate.mjs";

export const CHECK_PATH = "/envoy.service.auth.v3.Authorization/Check";

/**
 * Start a server process and wait for its ready line: `ready` resolves with
 * `readyRe`'s first group once its stdout matches, and rejects when the
 * child exits first or after 30 s. `stderr()` is what it has written so far.
 */
export function spawnReady(label, cmd, args, readyRe, options = {}) {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], ...options });
  let out = "";
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label} did not start in 30 s: ${err}`)), 30_000);
    const onExit = (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`${label} exited (${code ?? sig}) before it was ready: ${err}`));
    };
    child.once("exit", onExit);
    child.stdout.on("data", (d) => {
      out += d;
      const m = readyRe.exec(out);
      if (m) {
        clearTimeout(timer);
        child.off("exit", onExit);
        resolve(m[1]);
      }
    });
  });
  return { child, ready, stderr: () => err };
}
const SERVICE = "envoy.service.auth.v3.Authorization";

let pkgDef;
async function packageDefinition() {
  if (!pkgDef) {
    const { envoyAuthPackageDefinition } = await import("../dist/executive/envoy.js");
    pkgDef = envoyAuthPackageDefinition();
  }
  return pkgDef;
}

// A JWT-sized bearer token (Envoy forwards the client's headers; real
// CheckRequests are about 1 KB, most of it headers).
const BEARER = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9." + "x".repeat(130) + ".c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmUtc2lnbmF0dXJlLXNpZ25hdHVyZQ";

// The CheckRequest Envoy would send for sampleAttributes(i) (proto-loader
// object form, keepCase), adjusted so that the generated bundles ALLOW it (the
// common case): a path matching p_3's glob "/api/*/items/**" and an EU storage
// location for p_i. It still falls in the scopes of p_3 and p_i, which are
// evaluated.
export function checkRequestObject(i) {
  const s = sampleAttributes(i);
  const a = { ...s, path: `/api/v1/items/${i}`, headers: { ...s.headers, "x-storage-location": "eu-west-1" } };
  return {
    attributes: {
      source: {
        address: { socket_address: { address: "10.1.2.3", port_value: 43210 } },
        principal: a.source.principal,
      },
      destination: {
        address: { socket_address: { address: "10.1.2.4", port_value: 8080 } },
        principal: a.destination.principal,
      },
      request: {
        http: {
          id: "1234567890",
          method: a.method,
          path: a.path,
          host: a.host,
          scheme: a.scheme,
          protocol: "HTTP/1.1",
          // what Envoy puts in a CheckRequest: pseudo-headers, its own
          // x-forwarded-* and x-request-id, and the client's (a bearer token)
          headers: {
            ":authority": a.host,
            ":method": a.method,
            ":path": a.path,
            ":scheme": a.scheme,
            ...a.headers,
            "content-type": "application/json",
            "content-length": String(JSON.stringify(a.body).length),
            accept: "application/json",
            "user-agent": "bench-client/1.0 (aecp loadtest)",
            authorization: `Bearer ${BEARER}`,
            "x-forwarded-proto": a.scheme,
            "x-request-id": "6f1c0f7e-5d1b-4b51-9a57-0c9c6b1f2b11",
            "x-envoy-expected-rq-timeout-ms": "15000",
          },
          size: String(JSON.stringify(a.body).length),
          body: JSON.stringify(a.body),
        },
      },
    },
  };
}

/** The request as a gRPC message frame: 1 byte flags (0, uncompressed) + 4 bytes length + protobuf. */
export async function checkRequestFrame(i) {
  const def = await packageDefinition();
  const msg = def[SERVICE].Check.requestSerialize(checkRequestObject(i));
  const frame = Buffer.alloc(5 + msg.length);
  frame.writeUInt32BE(msg.length, 1);
  msg.copy(frame, 5);
  return frame;
}

/** Decode a CheckResponse message (without the 5-byte prefix). */
export async function decodeCheckResponse(bytes) {
  const def = await packageDefinition();
  return def[SERVICE].Check.responseDeserialize(bytes);
}

/** The options the sidecar passes to `new grpc.Server(...)` (exported by the compiled sidecar). */
export function sidecarServerOptions() {
  return { options: { ...GRPC_SERVER_OPTIONS }, from: "dist/executive/sidecar.js (GRPC_SERVER_OPTIONS)" };
}

/** The sidecar's HTTP/2 connection-window fix, applied to another grpc-js server (the no-op). */
export { raiseConnectionWindow, H2_CONNECTION_WINDOW_BYTES };

// --- /proc -------------------------------------------------------------------------

let clkTck;
function ticksPerSecond() {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** utime + stime of a process (all threads), in microseconds; with `mainThread`, of its main thread only (the one that runs JavaScript). */
export function cpuMicros(pid, mainThread = false) {
  const stat = readFileSync(mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, "utf8");
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields from 3 (state) on
  const utime = Number(rest[11]); // field 14
  const stime = Number(rest[12]); // field 15
  return ((utime + stime) * 1e6) / ticksPerSecond();
}

/** VmRSS of a process, in bytes. */
export function rssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : NaN;
}

export function ticksResolutionMicros() {
  return 1e6 / ticksPerSecond();
}
