// `aecp sidecar (--bundle <file> | --distribution <url> --name <bundle>) --pub <public.pem>...
//  [--grpc <addr>]... [--http <addr>] [--fail-open] [--fail-status <n>] [--config <sidecar.yaml>] …`
// Runs the ext_authz sidecar until SIGINT/SIGTERM. Flags override the config file.

import { AecpError } from "../../common/index.js";
import { applySidecarV8Flags, Sidecar, sidecarOptions } from "../../executive/index.js";
import { readText, EXIT_OK } from "../io.js";

export interface SidecarCliOptions {
  bundle?: string;
  distribution?: string;
  name?: string;
  shadowBundle?: string;
  shadowName?: string;
  workers?: string;
  otlpEndpoint?: string;
  pub: string[];
  grantPub: string[];
  grpc: string[];
  http?: string;
  failOpen?: boolean;
  failStatus?: string;
  cacheDir?: string;
  approvals?: string;
  pauseMode?: string;
  holdMs?: string;
  decisionLog?: string;
  config?: string;
}

export async function sidecarCommand(o: SidecarCliOptions): Promise<number> {
  applySidecarV8Flags(); // before anything is loaded or served (src/executive/runtime.ts)
  let fromFile: Record<string, unknown> = {};
  if (o.config) {
    let doc: unknown;
    try {
      // yaml is loaded only for --config (~9 MB of RSS otherwise)
      const { parse: parseYaml } = await import("yaml");
      doc = parseYaml(readText(o.config), { maxAliasCount: 100 });
    } catch (e) {
      if (e instanceof AecpError) throw e;
      throw new AecpError("AECP_CONFIG_INVALID", `\`${o.config}\` is not valid YAML: ${(e as Error).message.split("\n")[0]}`);
    }
    if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw new AecpError("AECP_CONFIG_INVALID", `\`${o.config}\` must be a map of sidecar options`);
    fromFile = doc as Record<string, unknown>;
  }
  const flags: Record<string, unknown> = {};
  if (o.bundle !== undefined) flags["bundle"] = o.bundle;
  if (o.distribution !== undefined) flags["distribution"] = o.distribution;
  if (o.name !== undefined) flags["name"] = o.name;
  if (o.shadowBundle !== undefined) flags["shadowBundle"] = o.shadowBundle;
  if (o.shadowName !== undefined) flags["shadowName"] = o.shadowName;
  if (o.workers !== undefined) flags["workers"] = Number(o.workers);
  const otlp = o.otlpEndpoint ?? process.env["OTEL_EXPORTER_OTLP_ENDPOINT"];
  if (otlp !== undefined && otlp !== "") flags["telemetry"] = { ...((fromFile["telemetry"] ?? {}) as Record<string, unknown>), otlpEndpoint: otlp };
  const distToken = process.env["AECP_DISTRIBUTION_TOKEN"];
  if (distToken !== undefined && distToken !== "") flags["distributionToken"] = distToken;
  if (o.pub.length > 0) flags["pub"] = o.pub;
  if (o.grantPub.length > 0) flags["grantPub"] = o.grantPub;
  if (o.grpc.length > 0) flags["grpc"] = o.grpc;
  if (o.http !== undefined) flags["http"] = o.http;
  if (o.failOpen) flags["failOpen"] = true;
  if (o.failStatus !== undefined) flags["failStatus"] = Number(o.failStatus);
  if (o.cacheDir !== undefined) flags["cacheDir"] = o.cacheDir;
  if (o.approvals !== undefined) flags["approvals"] = o.approvals;
  if (o.pauseMode !== undefined) flags["pauseMode"] = o.pauseMode;
  if (o.holdMs !== undefined) flags["holdMs"] = Number(o.holdMs);
  if (o.decisionLog !== undefined || process.env["AECP_DECISION_LOG_TOKEN"]) {
    const fromCfg = (fromFile["decisionLog"] ?? {}) as Record<string, unknown>;
    flags["decisionLog"] = {
      ...fromCfg,
      ...(o.decisionLog !== undefined ? { sink: o.decisionLog } : {}),
      ...(process.env["AECP_DECISION_LOG_TOKEN"] ? { token: process.env["AECP_DECISION_LOG_TOKEN"] } : {}),
    };
  }
  // the token only from the environment or the config file, never a flag (process lists are visible)
  const token = process.env["AECP_APPROVALS_TOKEN"];
  if (token !== undefined && token !== "") flags["approvalsToken"] = token;
  const options = sidecarOptions({ ...fromFile, ...flags });
  const workers = await import("./sidecar-workers.js");
  if (options.workers > 1 && !workers.isWorker()) return workers.runPrimary(options);
  let sidecar: Sidecar;
  try {
    sidecar = new Sidecar(options, { sharedListeners: workers.isWorker() });
    await sidecar.start();
  } catch (e) {
    workers.announceFailure(e);
    throw e;
  }
  // --distribution: the watcher (src/distribution) follows --name and swaps verified revisions in
  const distribution = options.distribution === undefined ? undefined : await import("../../distribution/index.js");
  const watcher = distribution?.watcherForSidecar(sidecar);
  watcher?.start();
  // --shadow-name: a second watcher feeds the shadow candidate
  const shadowWatcher = options.shadowName === undefined ? undefined : distribution?.shadowWatcherForSidecar(sidecar);
  shadowWatcher?.start();
  const s = sidecar.status();
  const what = s.bundle
    ? `bundle \`${s.bundle.name}\` ${s.bundle.digest.slice(0, 19)}… (${s.bundle.policies} policies)${s.bundle.source === "cache" ? ", serving the LAST-KNOWN-GOOD bundle" : ""}`
    : `no bundle yet (waiting for \`${options.name}\` from ${options.distribution}; Checks fail closed until then)`;
  workers.announceReady(
    `aecp sidecar ready: ${what}, ` +
      `gRPC ext_authz on ${s.listening.grpc.join(", ")}, HTTP on ${s.listening.http} (/healthz /readyz /status /metrics)` +
      `${s.degraded ? ` (degraded: ${[s.lastError?.code, ...Object.entries(s.components).filter(([, c]) => c.state !== "ok").map(([n, c]) => `${n} ${c.code ?? c.state}`)].filter(Boolean).join(", ")})` : ""}` +
      `${options.failOpen ? ", FAIL-OPEN" : ""}\n`,
  );
  await workers.waitForStop();
  await shadowWatcher?.stop();
  await watcher?.stop();
  await sidecar.stop();
  return EXIT_OK;
}
