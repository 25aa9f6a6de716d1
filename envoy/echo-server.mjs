#!/usr/bin/env node
// The echo upstream of the example stack (envoy/envoy.yaml's `app` cluster,
// docker-compose.yml's `echo` service): answers every request with a JSON
// description of what reached it — method, path, headers (so you can see the
// x-aecp-decision-id Envoy added after an allow) and the body size.
// `/healthz` answers 200 "ok" (the route envoy.yaml leaves unauthorized).
//
//   node envoy/echo-server.mjs [host:port]     (default 127.0.0.1:8080)
//
// Stops on SIGINT/SIGTERM. Bodies are counted, not kept (bounded memory).
import { createServer } from "node:http";

const address = process.argv[2] ?? "127.0.0.1:8080";
const match = /^(.*):(\d{1,5})$/.exec(address);
if (!match) {
  process.stderr.write(`usage: echo-server.mjs [host:port], not \`${address}\`\n`);
  process.exit(2);
}
const [, host, port] = match;

const server = createServer((req, res) => {
  let bodyBytes = 0;
  req.on("data", (chunk) => {
    bodyBytes += chunk.length;
  });
  req.on("end", () => {
    if (req.url === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok\n");
      return;
    }
    const body = JSON.stringify({ method: req.method, path: req.url, headers: req.headers, body_bytes: bodyBytes }, null, 2) + "\n";
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
});

server.listen(Number(port), host, () => {
  const a = server.address();
  process.stdout.write(`echo upstream listening on ${typeof a === "object" && a ? `${a.address}:${a.port}` : address}\n`);
});
for (const signal of ["SIGINT", "SIGTERM"]) process.once(signal, () => server.close(() => process.exit(0)));
