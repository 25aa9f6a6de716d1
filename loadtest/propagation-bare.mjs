// Baseline for bench:propagation's fan-out measurement: a bare node:http
// server that holds every GET and answers all of them with the same ~1 KB body
// at once when it receives POST /release — what any Node long-poll server
// costs at minimum. Prints "listening on http://127.0.0.1:<port>".

import http from "node:http";

const body = Buffer.alloc(1000, 0x61);
const held = [];
const server = http.createServer((req, res) => {
  if (req.method === "POST") {
    res.end("ok");
    for (const r of held.splice(0)) {
      r.writeHead(200, { "content-type": "application/json", "content-length": body.length, etag: '"x"', "cache-control": "no-cache" });
      r.end(body);
    }
    return;
  }
  if (req.url === "/count") return void res.end(String(held.length));
  held.push(res);
});
server.keepAliveTimeout = 75_000;
server.listen({ port: 0, host: "127.0.0.1", backlog: 4096 }, () => console.log(`listening on http://127.0.0.1:${server.address().port}`));
process.on("SIGTERM", () => process.exit(0));
