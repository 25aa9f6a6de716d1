// `aecp demo` — what `npm start` runs. Without flags: the whole stack
// (distribution, approvals, a sidecar; demo-stack.ts) with requests to try;
// `--offline`: only the compile → verify → test → evaluate pipeline
// (demo-offline.ts). `aecp demo request <allow|deny|pause>` talks to a
// running stack (demo-request.ts).
//
// Exit codes: 0 ok (the stack was stopped with Ctrl-C/SIGTERM), 1 a check
// failed (a bundle or policy test, a demo service died, an unexpected
// answer), 2 usage/configuration/IO (a port in use, no running demo).

import { isAecpError } from "../../common/index.js";
import { CliExit, EXIT_USAGE } from "../io.js";
import { demoOptions } from "./demo-state.js";

export interface DemoCliOptions {
  dir?: string;
  state?: string;
  offline?: boolean;
  follow?: string;
  distributionPort?: string;
  approvalsPort?: string;
  grpcPort?: string;
  httpPort?: string;
  readyTimeoutMs?: string;
}

/** Demo errors that are about the environment, not a failed check: exit 2. */
const USAGE_CODES = new Set(["AECP_DEMO_PORT_IN_USE", "AECP_DEMO_NOT_RUNNING"]);

async function asUsage(run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (e) {
    if (isAecpError(e) && USAGE_CODES.has(e.code)) throw new CliExit(EXIT_USAGE, `error[${e.code}]: ${e.message}`);
    throw e;
  }
}

export async function demoCommand(o: DemoCliOptions): Promise<number> {
  const raw: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) raw[k] = v;
  const options = demoOptions(raw);
  if (options.offline) return (await import("./demo-offline.js")).offlineDemo(options);
  return asUsage(async () => (await import("./demo-stack.js")).runStack(options));
}

export async function demoRequest(kind: string, o: { state: string; timeout?: string }): Promise<number> {
  return asUsage(async () => (await import("./demo-request.js")).demoRequestCommand(kind, o));
}
