// `aecp distribution --data <dir> --listen <host:port> [--publish-token <t>]
//  [--oci <registry-url>/<repository>]`: runs the distribution service until
// SIGINT/SIGTERM. Tokens also come from the environment (AECP_PUBLISH_TOKEN,
// AECP_DISTRIBUTION_TOKEN for reads; AECP_OCI_USERNAME/AECP_OCI_PASSWORD for
// the registry), which keeps them out of process listings.

import { DistributionServer, distributionServerOptions } from "../../distribution/index.js";
import { EXIT_OK } from "../io.js";

export interface DistributionCliOptions {
  data?: string;
  listen?: string;
  publishToken?: string;
  oci?: string;
}

export async function distributionCommand(o: DistributionCliOptions): Promise<number> {
  const env = (k: string): string | undefined => (process.env[k] === "" ? undefined : process.env[k]);
  const raw: Record<string, unknown> = {};
  if (o.data !== undefined) raw["data"] = o.data;
  if (o.listen !== undefined) raw["listen"] = o.listen;
  if (o.oci !== undefined) raw["oci"] = o.oci;
  const publishToken = o.publishToken ?? env("AECP_PUBLISH_TOKEN");
  if (publishToken !== undefined) raw["publishToken"] = publishToken;
  const readToken = env("AECP_DISTRIBUTION_TOKEN");
  if (readToken !== undefined) raw["readToken"] = readToken;
  const user = env("AECP_OCI_USERNAME");
  const password = env("AECP_OCI_PASSWORD");
  if (user !== undefined) raw["ociUsername"] = user;
  if (password !== undefined) raw["ociPassword"] = password;
  const options = distributionServerOptions(raw);
  const server = new DistributionServer(options);
  await server.start();
  const bundles = server.bundles();
  process.stdout.write(
    `aecp distribution listening on ${server.url} (storage: ${server.storage.kind} ${server.storage.location}; ${bundles.length} bundle${bundles.length === 1 ? "" : "s"})\n` +
      (server.loopbackOnlyPublish
        ? "publishing: NO publish token configured — publishes are accepted only from loopback (set --publish-token or AECP_PUBLISH_TOKEN)\n"
        : "publishing: bearer token required\n") +
      `reads: ${options.readToken === undefined ? "open" : "bearer token required (AECP_DISTRIBUTION_TOKEN)"}\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  await server.stop();
  return EXIT_OK;
}
