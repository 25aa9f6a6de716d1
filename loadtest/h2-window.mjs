// Preload for the HTTP/2 flow-control experiment of `npm run bench:authz`:
//
//   AECP_BENCH_H2_WINDOW=<bytes> node --import ./loadtest/h2-window.mjs <server>
//
// grpc-js 1.14 gives a server no option for its HTTP/2 receive windows
// (`grpc-node.flow_control_window` is read by the client transport only), so
// every grpc-js server advertises Node's defaults: 64 KiB per stream and
// 64 KiB for the whole connection. This wraps http2.createServer (which
// grpc-js calls at bind time) to advertise `initialWindowSize` in SETTINGS and
// raise each session's connection window with setLocalWindowSize(). It changes
// nothing else, so the same server binary can be measured with and without.

import http2 from "node:http2";

const windowBytes = Number(process.env.AECP_BENCH_H2_WINDOW ?? 0);
// for the experiment: one of the two windows only
const streamWindow = Number(process.env.AECP_BENCH_H2_STREAM_WINDOW ?? windowBytes);
const connWindow = Number(process.env.AECP_BENCH_H2_CONN_WINDOW ?? windowBytes);
if (streamWindow > 65535 || connWindow > 65535) {
  const original = http2.createServer;
  http2.createServer = function createServerWithWindow(options, onRequest) {
    if (typeof options === "function") [options, onRequest] = [{}, options];
    const o = streamWindow > 65535 ? { ...(options ?? {}), settings: { ...(options?.settings ?? {}), initialWindowSize: streamWindow } } : options;
    const server = original.call(this, o, onRequest);
    if (connWindow > 65535) {
      server.on("session", (session) => {
        try {
          session.setLocalWindowSize(connWindow);
        } catch {
          /* session already closed */
        }
      });
    }
    return server;
  };
}
