// `aecp keygen --out <dir>`: a new Ed25519 key pair as PEM files
// (<dir>/aecp.key PKCS#8, mode 0600; <dir>/aecp.pub SPKI).

import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateKeyPairPem, parsePublicKeyPem } from "../../bundle/index.js";
import { AecpError } from "../../common/index.js";
import { displayPath } from "../io.js";

export function keygen(opts: { out: string; force?: boolean }): number {
  const keyPath = join(opts.out, "aecp.key");
  const pubPath = join(opts.out, "aecp.pub");
  if (!opts.force && (existsSync(keyPath) || existsSync(pubPath))) {
    throw new AecpError("AECP_USAGE", `\`${displayPath(keyPath)}\` or \`${displayPath(pubPath)}\` already exists; pass --force to overwrite`);
  }
  const { privatePem, publicPem } = generateKeyPairPem();
  try {
    mkdirSync(opts.out, { recursive: true });
    writeFileSync(keyPath, privatePem, { mode: 0o600 });
    writeFileSync(pubPath, publicPem, { mode: 0o644 });
  } catch (cause) {
    throw new AecpError("AECP_IO", `cannot write keys to \`${displayPath(opts.out)}\``, { cause });
  }
  const { keyId } = parsePublicKeyPem(publicPem);
  process.stdout.write(`wrote ${displayPath(keyPath)} (private, keep secret) and ${displayPath(pubPath)}\nkey id ${keyId}\n`);
  return 0;
}
