// `aecp publish <bundle> --to <url> --key <private.pem> [--key …] [--token <t>]
//  [--expires <duration>]`: uploads a signed bundle to a distribution service
// and publishes a manifest signed with the key(s) at the next revision. The
// bundle name comes from the bundle itself (`aecp compile --name`). The token
// may also come from AECP_PUBLISH_TOKEN.

import { parsePrivateKeyPem } from "../../bundle/index.js";
import { AecpError } from "../../common/index.js";
import { parseDuration, publishBundle } from "../../distribution/index.js";
import { displayPath, readBytes, readText, EXIT_OK } from "../io.js";

export interface PublishCliOptions {
  to: string;
  key: string[];
  token?: string;
  expires?: string;
}

/** Default manifest lifetime: sidecars turn degraded when no publish renews it in time. */
export const DEFAULT_EXPIRES = "30d";

export async function publishCommand(bundlePath: string, o: PublishCliOptions): Promise<number> {
  if (o.key.length === 0) throw new AecpError("AECP_USAGE", "publish needs --key <private.pem>");
  let url: URL;
  try {
    url = new URL(o.to);
  } catch {
    throw new AecpError("AECP_USAGE", `--to must be the distribution service URL, not \`${o.to}\``);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new AecpError("AECP_USAGE", "--to must be an http(s) URL");
  const lifetimeMs = parseDuration(o.expires ?? DEFAULT_EXPIRES);
  const keys = o.key.map((k) => parsePrivateKeyPem(readText(k), `\`${k}\``));
  const token = o.token ?? (process.env["AECP_PUBLISH_TOKEN"] || undefined);
  const bundle = readBytes(bundlePath);
  const r = await publishBundle({ url: o.to, bundle, keys, lifetimeMs, token });
  process.stdout.write(
    `published ${displayPath(bundlePath)} as \`${r.name}\` revision ${r.revision} (${r.blobDigest}, ${bundle.length} bytes; ` +
      `manifest signed by ${keys.map((k) => k.keyId).join(", ")}, expires ${r.expiresAt}; ${r.watchers} watcher${r.watchers === 1 ? "" : "s"} notified)\n`,
  );
  return EXIT_OK;
}
