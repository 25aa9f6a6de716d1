// The no-op ext_authz server of `npm run bench:authz`: the sidecar's stack
// (grpc-js, Envoy's ext_authz protos loaded by envoyAuthPackageDefinition(),
// the same grpc.Server options, read from the compiled sidecar, and the V8
// flags the sidecar sets for its process) with a Check that always answers
// OK. It is the floor the sidecar is measured against.
//
//   node loadtest/noop-server.mjs [--grpc 127.0.0.1:0]
//
// Prints one line `noop ready 127.0.0.1:<port> <options JSON>` once bound and
// runs until SIGINT/SIGTERM. AECP_NOOP_SERVER_OPTIONS (JSON) is merged over
// the sidecar's options, for experiments (a null value removes an option).

import * as grpc from "@grpc/grpc-js";
import { envoyAuthPackageDefinition } from "../dist/executive/envoy.js";
import { applySidecarV8Flags } from "../dist/executive/runtime.js";
import { H2_CONNECTION_WINDOW_BYTES, raiseConnectionWindow, sidecarServerOptions } from "./common.mjs";

const args = process.argv.slice(2);
const at = args.indexOf("--grpc");
const addr = at >= 0 ? args[at + 1] : "127.0.0.1:0";
if (!/^127\.0\.0\.1:\d+$/.test(addr)) {
  process.stderr.write(`noop-server: --grpc must be 127.0.0.1:<port>, not ${addr}\n`);
  process.exit(2);
}

// the sidecar process's own V8 flags, as `aecp sidecar` sets them (unless given on the node command line)
const v8Flags = applySidecarV8Flags();
const options = { ...sidecarServerOptions().options, ...JSON.parse(process.env.AECP_NOOP_SERVER_OPTIONS ?? "{}") };
for (const k of Object.keys(options)) if (options[k] === null) delete options[k];
const server = new grpc.Server(options);
// the same HTTP/2 connection window as the sidecar (AECP_NOOP_DEFAULT_WINDOW=1 compares against Node's 64 KiB)
if (process.env.AECP_NOOP_DEFAULT_WINDOW !== "1") raiseConnectionWindow(server, H2_CONNECTION_WINDOW_BYTES);
const pkg = grpc.loadPackageDefinition(envoyAuthPackageDefinition());
const OK = { status: { code: 0 }, ok_response: {} };
server.addService(pkg.envoy.service.auth.v3.Authorization.service, {
  Check: (_call, callback) => callback(null, OK),
});
server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    process.stderr.write(`noop-server: cannot bind ${addr}: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`noop ready 127.0.0.1:${port} ${JSON.stringify(options)} v8 flags: ${v8Flags.join(" ") || "(none)"}\n`);
});
const stop = () => server.tryShutdown(() => process.exit(0));
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
