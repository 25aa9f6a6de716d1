// The gRPC listener raises the HTTP/2 connection receive window (Node's
// 64 KiB default starves ~256 multiplexed checks; see docs/performance.md).
// grpc-js has no option for it, so the sidecar hooks an internal: this test
// fails if a grpc-js upgrade silently drops the fix.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, type ClientHttp2Session } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { generateKeyPairPem, parsePrivateKeyPem } from "../src/bundle/index.js";
import { Sidecar, sidecarOptions } from "../src/executive/index.js";
import { H2_CONNECTION_WINDOW_BYTES } from "../src/executive/sidecar.js";
import { compile } from "../src/judicial/index.js";

let dir: string;
let sidecar: Sidecar;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "aecp-h2-"));
  const kp = generateKeyPairPem();
  writeFileSync(join(dir, "k.pub"), kp.publicPem);
  const r = await compile([{ path: "p.policy", text: "POLICY p { SCOPE: requests ENFORCEMENT: ADVISORY }" }], { name: "h2", key: parsePrivateKeyPem(kp.privatePem) });
  writeFileSync(join(dir, "b.bundle"), r.bundle!);
  sidecar = new Sidecar(sidecarOptions({ bundle: join(dir, "b.bundle"), pub: [join(dir, "k.pub")], grpc: ["127.0.0.1:0"], http: "127.0.0.1:0" }));
  await sidecar.start();
});

afterAll(async () => {
  await sidecar.stop();
  rmSync(dir, { recursive: true, force: true });
});

it("advertises an HTTP/2 connection window of at least 8 MiB to gRPC clients", async () => {
  const addr = sidecar.status().listening.grpc[0]!;
  const session: ClientHttp2Session = connect(`http://${addr}`);
  await new Promise<void>((resolve, reject) => {
    session.once("remoteSettings", () => resolve());
    session.once("error", reject);
  });
  // the server's WINDOW_UPDATE follows its SETTINGS; give it a moment
  for (let i = 0; i < 50 && (session.state.remoteWindowSize ?? 0) < H2_CONNECTION_WINDOW_BYTES; i++) await new Promise((r) => setTimeout(r, 10));
  expect(session.state.remoteWindowSize).toBeGreaterThanOrEqual(H2_CONNECTION_WINDOW_BYTES);
  session.close();
});
