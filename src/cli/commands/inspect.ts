// `aecp inspect <bundle> [--pub <public.pem>]...`: the bundle's metadata as
// JSON (policies, attribute slots, dictionary size, sources, layout).

import { toJson } from "@bufbuild/protobuf";
import { BundleMetadataSchema, readBundle } from "../../bundle/index.js";
import { readBytes, EXIT_OK } from "../io.js";
import { trustedFrom } from "./verify.js";

export function inspectCommand(bundlePath: string, opts: { pub: string[] }): number {
  const bytes = readBytes(bundlePath);
  const verified = opts.pub.length > 0;
  const b = readBundle(bytes, verified ? { trustedKeys: trustedFrom(opts.pub) } : { skipVerification: true });
  const out = {
    format_version: b.formatVersion,
    digest: `sha256:${b.digest}`,
    key_id: b.keyId ?? null,
    signature_verified: verified,
    size_bytes: b.sizeBytes,
    component_bytes: b.component.length,
    metadata: toJson(BundleMetadataSchema, b.metadata),
  };
  process.stdout.write(JSON.stringify(out, null, 2) + "\n");
  return EXIT_OK;
}
