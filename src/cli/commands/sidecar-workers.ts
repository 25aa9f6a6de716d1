// `aecp sidecar --workers <n>`: n processes sharing the listeners through
// node:cluster, for hosts that give the sidecar more than one core (one
// grpc-js process tops out around 15–18k Check/s on one core).
//
// The primary owns no sidecar: it clears stale Unix sockets once, forks the
// workers (each runs the whole sidecar — bundle, watcher, decision log — on
// the shared TCP and Unix listeners; cluster hands connections out round
// robin), prints one ready line when every worker is serving, restarts a
// worker that dies (with backoff; one that dies before it was ever ready
// stops the whole sidecar, since a bad configuration would only crash-loop),
// and on SIGINT/SIGTERM tells every worker to stop and waits for them.
// /status and /metrics are per worker (the answering worker's pid is in
// /status); a scrape that needs all workers scrapes each pod-local process.

import cluster, { type Worker } from "node:cluster";
import { AecpError } from "../../common/index.js";
import { removeStaleSocket, type SidecarOptions } from "../../executive/index.js";
import { EXIT_OK, EXIT_USAGE } from "../io.js";

/** Messages between primary and workers. */
type ToPrimary = { type: "ready"; line: string } | { type: "failed"; message: string };
type ToWorker = { type: "stop" };

/** Shortest wait before restarting a dead worker, doubling up to 10 s. */
const RESTART_BASE_MS = 200;
const RESTART_MAX_MS = 10_000;

export function isWorker(): boolean {
  return cluster.isWorker;
}

/** A worker reports its ready line to the primary; a single process prints it. */
export function announceReady(line: string): void {
  if (cluster.isWorker && process.send) process.send({ type: "ready", line } satisfies ToPrimary);
  else process.stdout.write(line);
}

/** A worker tells the primary why it could not start (the primary exits with it). */
export function announceFailure(e: unknown): void {
  // then leave the cluster: an open IPC channel would keep the worker alive
  if (cluster.isWorker && process.send) process.send({ type: "failed", message: e instanceof Error ? e.message : String(e) } satisfies ToPrimary, () => process.disconnect?.());
}

/** Resolves on SIGINT/SIGTERM, or (in a worker) when the primary says stop or goes away. */
export function waitForStop(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (): void => {
      // a worker leaves the cluster so that it exits once its sidecar has stopped
      if (cluster.isWorker && process.connected) process.disconnect();
      resolve();
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    if (cluster.isWorker) {
      process.on("message", (m: ToWorker) => {
        if (m?.type === "stop") stop();
      });
      process.once("disconnect", stop);
    }
  });
}

/** Run as the cluster primary until stopped; returns the exit code. */
export async function runPrimary(options: SidecarOptions): Promise<number> {
  for (const addr of options.grpc) if (addr.startsWith("unix:")) await removeStaleSocket(addr.slice(5));
  const n = options.workers;
  const ready = new Set<number>();
  let stopping = false;
  let restartDelay = RESTART_BASE_MS;
  let everReady = false;
  let firstLine = "";
  let failure: string | undefined;

  return await new Promise<number>((resolve) => {
    const finish = (code: number): void => {
      stopping = true;
      const alive = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead());
      if (alive.length === 0) return resolve(code);
      let left = alive.length;
      for (const w of alive) {
        w.once("exit", () => {
          if (--left === 0) resolve(code);
        });
        try {
          w.send({ type: "stop" } satisfies ToWorker);
        } catch {
          w.kill();
        }
      }
      // a worker that ignores stop is killed after 10 s
      setTimeout(() => alive.forEach((w) => w.isDead() || w.kill("SIGKILL")), 10_000).unref();
    };
    const fork = (): void => {
      const w = cluster.fork();
      // a failed send (the worker is already going) surfaces here; its exit is handled below
      w.on("error", () => undefined);
      w.on("message", (m: ToPrimary) => {
        if (m?.type === "ready") {
          ready.add(w.id);
          restartDelay = RESTART_BASE_MS;
          if (!everReady) firstLine ||= m.line;
          if (!everReady && ready.size === n) {
            everReady = true;
            process.stdout.write(firstLine.replace(/^aecp sidecar ready: /, `aecp sidecar ready (${n} workers, primary pid ${process.pid}): `));
          }
        } else if (m?.type === "failed") failure ??= m.message;
      });
      w.on("exit", (code, signal) => {
        ready.delete(w.id);
        if (stopping) return;
        if (!everReady) {
          process.stderr.write(`aecp: sidecar worker ${w.process.pid} could not start${failure ? `: ${failure}` : ` (exit ${code ?? signal})`}; stopping\n`);
          return finish(EXIT_USAGE);
        }
        process.stderr.write(`aecp: sidecar worker ${w.process.pid} exited (${code ?? signal}); restarting in ${restartDelay} ms\n`);
        setTimeout(() => stopping || fork(), restartDelay).unref();
        restartDelay = Math.min(RESTART_MAX_MS, restartDelay * 2);
      });
    };
    if (n < 2) throw new AecpError("AECP_INTERNAL", "runPrimary needs at least 2 workers");
    for (let i = 0; i < n; i++) fork();
    const stop = (): void => finish(EXIT_OK);
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}
