// The demo's process supervisor: starts `aecp <command>` children (this same
// CLI, `process.execPath dist/cli/main.js …`), sends each one's output to
// <state>/logs/<name>.log, waits for readiness with bounded polls, reports an
// unexpected exit once, and stops children in a given order (SIGTERM, then
// SIGKILL after a grace period).
//
// Children get their own process group (a terminal's Ctrl-C reaches only the
// supervisor, which stops them in order) and an IPC channel that
// demo-guard.ts turns into a SIGTERM if the supervisor dies first.

import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import { AecpError } from "../../common/index.js";
import { displayPath } from "../io.js";
import { DEMO_HOST } from "./demo-state.js";

/** The CLI entry the children run (dist/cli/main.js next to this file's folder). */
const CLI = fileURLToPath(new URL("../main.js", import.meta.url));
const GUARD = new URL("./demo-guard.js", import.meta.url).href;

/** Grace period between SIGTERM and SIGKILL when stopping a child, ms. */
export const STOP_GRACE_MS = 10_000;

export interface ChildSpec {
  /** Service name: log file name and prefix in messages. */
  name: string;
  /** `aecp` arguments, e.g. ["approvals", "--listen", …]. */
  args: string[];
  /** Extra environment (tokens). */
  env?: Record<string, string>;
}

export interface ChildExit {
  name: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  log: string;
}

interface Running {
  spec: ChildSpec;
  proc: ChildProcess;
  log: string;
  exited: Promise<ChildExit>;
}

export class Supervisor {
  private readonly children = new Map<string, Running>();
  private stopping = false;

  /**
   * @param logDir folder of the per-child log files (created; each file is truncated at start)
   * @param onUnexpectedExit called once per child that exits while the supervisor is not stopping
   */
  constructor(
    private readonly logDir: string,
    private readonly onUnexpectedExit: (e: ChildExit) => void,
  ) {}

  /** Spawns a child. AECP_* and OTEL_* variables of this process are not inherited: the demo passes exactly what it means. */
  start(spec: ChildSpec): void {
    mkdirSync(this.logDir, { recursive: true });
    const log = join(this.logDir, `${spec.name}.log`);
    const fd = openSync(log, "w");
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("AECP_") && !k.startsWith("OTEL_")) env[k] = v;
    let proc: ChildProcess;
    try {
      proc = spawn(process.execPath, ["--import", GUARD, CLI, ...spec.args], { stdio: ["ignore", fd, fd, "ipc"], detached: true, env: { ...env, ...spec.env } });
    } finally {
      closeSync(fd);
    }
    const exited = new Promise<ChildExit>((resolve) => {
      proc.once("exit", (code, signal) => {
        const e = { name: spec.name, code, signal, log };
        if (!this.stopping) this.onUnexpectedExit(e);
        resolve(e);
      });
      proc.once("error", () => resolve({ name: spec.name, code: null, signal: null, log }));
    });
    proc.channel?.unref();
    this.children.set(spec.name, { spec, proc, log, exited });
  }

  pid(name: string): number | undefined {
    return this.children.get(name)?.proc.pid;
  }

  pids(): Record<string, number> {
    return Object.fromEntries([...this.children].filter(([, c]) => c.proc.pid !== undefined).map(([n, c]) => [n, c.proc.pid!]));
  }

  logFile(name: string): string {
    return join(this.logDir, `${name}.log`);
  }

  /**
   * Polls `check` every 100 ms until it returns true. Throws
   * AECP_DEMO_SERVICE_FAILED when the child exits first or `deadlineMs`
   * (a performance.now() time) passes.
   */
  async waitReady(name: string, what: string, check: () => Promise<boolean>, deadlineMs: number): Promise<void> {
    const c = this.children.get(name);
    if (!c) throw new AecpError("AECP_INTERNAL", `no demo child \`${name}\``);
    let gone = false;
    void c.exited.then(() => (gone = true));
    for (;;) {
      if (gone || c.proc.exitCode !== null || c.proc.signalCode !== null) throw serviceFailed(name, `exited before it was ready (${exitText(c.proc.exitCode, c.proc.signalCode)})`, c.log);
      if (await check().catch(() => false)) return;
      if (performance.now() > deadlineMs) throw serviceFailed(name, `was not ready in time (${what})`, c.log);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Stops the children group by group (each group in parallel), SIGTERM then SIGKILL after STOP_GRACE_MS. */
  async stop(order: readonly (readonly string[])[]): Promise<ChildExit[]> {
    this.stopping = true;
    const exits: ChildExit[] = [];
    const named = new Set(order.flat());
    const groups = [...order, [...this.children.keys()].filter((n) => !named.has(n))];
    for (const group of groups) {
      exits.push(...(await Promise.all(group.map((n) => this.children.get(n)).filter((c): c is Running => c !== undefined).map((c) => stopChild(c)))));
    }
    return exits;
  }

  /** SIGKILL everything at once (a second Ctrl-C). */
  kill(): void {
    this.stopping = true;
    for (const c of this.children.values()) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill("SIGKILL");
  }
}

async function stopChild(c: Running): Promise<ChildExit> {
  if (c.proc.exitCode === null && c.proc.signalCode === null) {
    c.proc.kill("SIGTERM");
    const timer = setTimeout(() => c.proc.kill("SIGKILL"), STOP_GRACE_MS);
    const e = await c.exited;
    clearTimeout(timer);
    return e;
  }
  return c.exited;
}

export function exitText(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `signal ${signal}` : `exit code ${code}`;
}

/** The last lines of a log file (bounded read), for error messages. */
export function logTail(file: string, lines = 12): string {
  try {
    const text = readFileSync(file, "utf8").slice(-8192);
    return text.trimEnd().split("\n").slice(-lines).map((l) => `    ${l}`).join("\n");
  } catch {
    return "    (no log)";
  }
}

export function serviceFailed(name: string, what: string, log: string): AecpError {
  return new AecpError("AECP_DEMO_SERVICE_FAILED", `the ${name} service ${what}; last lines of ${displayPath(log)}:\n${logTail(log)}`, { detail: { service: name } });
}

/**
 * Checks that `port` is free on the demo host, or picks a free port for 0.
 * Throws AECP_DEMO_PORT_IN_USE naming the port, the service and its flag.
 */
export async function reservePort(port: number, service: string, flag: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.once("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EADDRINUSE" || e.code === "EACCES") {
        reject(
          new AecpError(
            "AECP_DEMO_PORT_IN_USE",
            `port ${port} on ${DEMO_HOST} (${service}) is ${e.code === "EACCES" ? "not permitted" : "already in use"}; stop what holds it, or choose another port with \`${flag} <port>\` (0 = any free port)`,
            { detail: { port, flag } },
          ),
        );
      } else reject(new AecpError("AECP_IO", `cannot bind ${DEMO_HOST}:${port} (${service}): ${e.message}`, { cause: e }));
    });
    s.listen({ host: DEMO_HOST, port, exclusive: true }, () => {
      const got = (s.address() as { port: number }).port;
      s.close(() => resolve(got));
    });
  });
}

/** GET `url` → status and body text (bounded: 64 KiB, 1 s timeouts). */
export async function httpGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const res = await request(url, { headers, headersTimeout: 1000, bodyTimeout: 1000 });
  let text = "";
  for await (const chunk of res.body) {
    text += (chunk as Buffer).toString("utf8");
    if (text.length > 64 * 1024) {
      res.body.destroy();
      break;
    }
  }
  return { status: res.statusCode, text };
}
