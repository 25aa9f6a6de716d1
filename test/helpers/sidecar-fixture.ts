// Shared test fixtures for sidecar suites: a grpc-js client for Envoy's
// Authorization service (built from the same protos the sidecar loads) and a
// signed one-policy bundle ("no POST") with its trusted key in a temp dir.

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { generateKeyPairPem, parsePrivateKeyPem } from "../../src/bundle/index.js";
import { envoyAuthPackageDefinition } from "../../src/executive/index.js";
import { compile } from "../../src/judicial/index.js";

export interface AuthClient extends grpc.Client {
  Check(req: unknown, options: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: { status?: { code?: number } }) => void): grpc.ClientUnaryCall;
}

const authPkg = grpc.loadPackageDefinition(envoyAuthPackageDefinition()) as unknown as {
  envoy: { service: { auth: { v3: { Authorization: new (addr: string, creds: grpc.ChannelCredentials) => AuthClient } } } };
};

/** An insecure Authorization client for `addr` (host:port or unix:/path). */
export function authClient(addr: string): AuthClient {
  return new authPkg.envoy.service.auth.v3.Authorization(addr, grpc.credentials.createInsecure());
}

export interface NoPostBundle {
  dir: string;
  bundlePath: string;
  pubPath: string;
}

/** A temp dir holding a signed bundle `name` whose one policy blocks POST, and its public key. */
export async function noPostBundle(prefix: string, name: string): Promise<NoPostBundle> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const kp = generateKeyPairPem();
  const pubPath = join(dir, "aecp.pub");
  writeFileSync(pubPath, kp.publicPem);
  const r = await compile([{ path: "p.policy", text: 'POLICY no_post { SCOPE: requests CONSTRAINT: request.method != "POST" ENFORCEMENT: BLOCKING }' }], {
    name,
    key: parsePrivateKeyPem(kp.privatePem),
  });
  if (!r.ok) throw new Error("the no_post test bundle does not compile");
  const bundlePath = join(dir, "b.bundle");
  writeFileSync(bundlePath, r.bundle!);
  return { dir, bundlePath, pubPath };
}
