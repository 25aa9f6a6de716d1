// `aecp demo` (what `npm start` runs): the whole AECP stack on this machine,
// in one supervised process tree, with requests to try.
//
// Start (timed, printed as "ready in N s"):
//   1. ports checked (or picked, for 0); development key, tokens and the
//      approvals config created once in the state folder (demo-state.ts);
//   2. the inbox (demo-inbox.ts) listens; `aecp distribution` and
//      `aecp approvals` (SQLite) start as children while every bundle of
//      policies/ is compiled and verified in this process;
//   3. distribution ready → `aecp sidecar --distribution … --name <follow>`
//      starts and every bundle is published (followed bundle first);
//   4. ready = approvals /readyz, and the sidecar's /status shows the
//      published revision of the followed bundle active;
//   5. the endpoints and the commands to try are printed, and
//      demo/running.json lets `aecp demo request` find the stack.
// Stop (Ctrl-C / SIGINT, SIGTERM): sidecar first (it flushes its decision
// log to approvals), then approvals and distribution; exit 0. A child that
// exits unexpectedly stops the rest and the demo exits 1, naming it and
// showing the end of its log.

import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parsePrivateKeyPem } from "../../bundle/index.js";
import { AecpError, isAecpError } from "../../common/index.js";
import { publishBundle } from "../../distribution/index.js";
import { displayPath, readBytes, readText, EXIT_FAIL, EXIT_OK, EXIT_USAGE } from "../io.js";
import { compileAll, ensureSigningKey, type BuiltBundle } from "./demo-offline.js";
import { DemoInbox } from "./demo-inbox.js";
import { curlCommand, DEMO_REQUESTS, shellQuote } from "./demo-requests.js";
import {
  DEMO_APPROVERS,
  DEMO_DEFAULTS,
  DEMO_FOLLOW_DEFAULT,
  DEMO_HOST,
  PORT_FLAGS,
  demoPaths,
  isAlive,
  loadOrCreateSecrets,
  removeRunning,
  writeApprovalsConfig,
  writeRunning,
  type DemoOptions,
} from "./demo-state.js";
import { exitText, httpGet, reservePort, serviceFailed, STOP_GRACE_MS, Supervisor, type ChildExit } from "./demo-supervisor.js";
import { keygen } from "./keygen.js";

/** Manifest lifetime of the demo's publishes (renewed on every start). */
const DEMO_MANIFEST_LIFETIME_MS = 30 * 24 * 3600 * 1000;

export async function runStack(o: DemoOptions): Promise<number> {
  const t0 = performance.now();
  const deadline = t0 + o.readyTimeoutMs;
  const out = (s: string): void => {
    try {
      process.stdout.write(s + "\n");
    } catch {
      // a closed stdout must not stop the stack
    }
  };
  const p = demoPaths(o.state);
  if (existsSync(p.running)) {
    const pid = Number((/"pid":\s*(\d+)/.exec(readFileSync(p.running, "utf8").slice(0, 4096)) ?? [])[1]);
    if (pid && pid !== process.pid && isAlive(pid)) {
      throw new AecpError("AECP_USAGE", `a demo stack already runs on state folder \`${o.state}\` (pid ${pid}); stop it with Ctrl-C in its terminal, or use another --state`);
    }
    rmSync(p.running, { force: true }); // left by a demo that was killed
  }

  // 1. ports, credentials, configuration
  const ports = {
    distributionPort: await reservePort(o.distributionPort, "distribution service", PORT_FLAGS.distributionPort),
    approvalsPort: await reservePort(o.approvalsPort, "approvals service", PORT_FLAGS.approvalsPort),
    grpcPort: await reservePort(o.grpcPort, "sidecar gRPC", PORT_FLAGS.grpcPort),
    httpPort: await reservePort(o.httpPort, "sidecar HTTP", PORT_FLAGS.httpPort),
  };
  const url = (port: number): string => `http://${DEMO_HOST}:${port}`;
  const distributionUrl = url(ports.distributionPort);
  const approvalsUrl = url(ports.approvalsPort);
  const sidecarHttp = url(ports.httpPort);
  const sidecarGrpc = `${DEMO_HOST}:${ports.grpcPort}`;
  out(`AECP demo: distribution ${distributionUrl}, approvals ${approvalsUrl}, sidecar ${sidecarHttp} (gRPC ${sidecarGrpc}); logs in ${displayPath(p.logDir)}/`);
  mkdirSync(p.demoDir, { recursive: true });
  const secrets = loadOrCreateSecrets(p);
  if (!existsSync(join(p.approvalsKeyDir, "aecp.key"))) keygen({ out: p.approvalsKeyDir });
  const inbox = new DemoInbox(secrets.webhookSecret, secrets.inboxToken, (lines) => out(lines.join("\n")));

  // supervision and shutdown, armed before the first child starts
  let failure: AecpError | undefined;
  let wake: () => void = () => undefined;
  const stopRequested = new Promise<void>((resolve) => (wake = resolve));
  const sup = new Supervisor(p.logDir, (e: ChildExit) => {
    failure ??= serviceFailed(e.name, `exited unexpectedly (${exitText(e.code, e.signal)})`, e.log);
    wake();
  });
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    if (signals === 1) {
      out(`\n${sig === "SIGINT" ? "Ctrl-C" : sig}: stopping the sidecar, then approvals and distribution… (again to force)`);
      wake();
    } else {
      sup.kill();
      process.exit(130);
    }
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("SIGHUP", onSignal); // the terminal closed: stop in order too
  // `npm start` killed by a process manager dies without passing the signal
  // on; an orphaned demo would keep the stack (and its ports) alive.
  const parent = process.ppid;
  const orphanWatch = setInterval(() => {
    if (process.ppid !== parent && signals === 0) {
      out(`\nthe process that started the demo (pid ${parent}) exited`);
      onSignal("SIGHUP");
    }
  }, 1000);
  orphanWatch.unref();
  const shutdown = async (): Promise<void> => {
    const exits = await sup.stop([["sidecar"], ["approvals", "distribution"]]);
    await inbox.close();
    removeRunning(p, process.pid);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.off("SIGHUP", onSignal);
    clearInterval(orphanWatch);
    for (const e of exits.filter((x) => x.signal === "SIGKILL")) out(`  ${e.name} did not stop within ${STOP_GRACE_MS / 1000} s and was killed; see ${displayPath(e.log)}`);
  };
  // startup aborts as soon as a child fails or a signal arrives
  const STOPPED = new AecpError("AECP_DEMO_SERVICE_FAILED", "stopped before the stack was ready");
  const aborted = stopRequested.then(() => {
    throw failure ?? STOPPED;
  });
  aborted.catch(() => undefined);
  const race = <T>(work: Promise<T>): Promise<T> => Promise.race([work, aborted]);

  try {
    await inbox.listen();
    writeApprovalsConfig(p, secrets, approvalsUrl, inbox.url);
    // 2. all three services start while the policies compile; the sidecar
    // serves its last-known-good bundle (if any) until the new revision arrives
    const keyDir = ensureSigningKey(o.state, out);
    sup.start({ name: "distribution", args: ["distribution", "--data", p.distributionData, "--listen", `${DEMO_HOST}:${ports.distributionPort}`] });
    sup.start({ name: "approvals", args: ["approvals", "--db", p.approvalsDb, "--listen", `${DEMO_HOST}:${ports.approvalsPort}`, "--config", p.approvalsConfig] });
    sup.start({
      name: "sidecar",
      args: [
        "sidecar", "--distribution", distributionUrl, "--name", o.follow, "--pub", join(keyDir, "aecp.pub"),
        "--grpc", sidecarGrpc, "--http", `${DEMO_HOST}:${ports.httpPort}`, "--cache-dir", join(p.sidecarCache, o.follow),
        "--approvals", approvalsUrl, "--decision-log", `${approvalsUrl}/v1/audit/decisions`,
        // break-glass overrides: the approvals service's grants verify offline
        "--grant-pub", join(p.approvalsKeyDir, "aecp.pub"),
      ],
      env: { AECP_APPROVALS_TOKEN: secrets.serviceToken, AECP_DECISION_LOG_TOKEN: secrets.serviceToken },
    });
    const since = (t: number): string => `${((performance.now() - t) / 1000).toFixed(1)} s`;

    // 3. compile and verify (the followed bundle first); each bundle is
    // published as soon as it is built and the distribution service is ready
    const ready = (u: string) => async () => (await httpGet(u)).status === 200;
    const distributionReady = race(sup.waitReady("distribution", `${distributionUrl}/readyz`, ready(`${distributionUrl}/readyz`), deadline));
    distributionReady.catch(() => undefined);
    const key = parsePrivateKeyPem(readText(join(keyDir, "aecp.key")), "the demo signing key");
    const published: Record<string, number> = {};
    let publishing: Promise<void> = distributionReady;
    const publish = (b: BuiltBundle): void => {
      publishing = publishing.then(async () => {
        const r = await race(publishBundle({ url: distributionUrl, bundle: readBytes(b.file), keys: [key], lifetimeMs: DEMO_MANIFEST_LIFETIME_MS, timeoutMs: 10_000 }));
        published[r.name] = r.revision;
      });
      publishing.catch(() => undefined);
    };
    const tBuild = performance.now();
    const built = await race(compileAll(o.dir, keyDir, join(o.state, "bundles"), { first: o.follow, onBuilt: publish, stopped: () => signals > 0 || failure !== undefined }));
    if (built.failed > 0) out(`  ${built.failed} bundle folder${built.failed === 1 ? "" : "s"} did not compile (diagnostics above); continuing with the others`);
    const follow = built.built.find((b) => b.name === o.follow);
    if (!follow) throw new AecpError("AECP_CONFIG_INVALID", `no bundle \`${o.follow}\` was built from \`${o.dir}\` (built: ${built.built.map((b) => b.name).join(", ") || "none"}); choose one with --follow <name>`);
    out(`• compiled and verified ${built.built.length} bundles in ${since(tBuild)}: ${built.built.map((b) => `${b.name} (${b.bundle.policies.length})`).join(", ")}`);
    await publishing;
    out(`• published at ${since(t0)}: ${Object.entries(published).map(([n, r]) => `${n} r${r}`).join(", ")}`);

    // 4. ready
    const revision = published[o.follow]!;
    await race(sup.waitReady("approvals", `${approvalsUrl}/readyz`, ready(`${approvalsUrl}/readyz`), deadline));
    await race(
      sup.waitReady("sidecar", `revision ${revision} of \`${o.follow}\` active`, async () => {
        const s = await httpGet(`${sidecarHttp}/status`);
        const b = (JSON.parse(s.text) as { bundle?: { name?: string; revision?: number | null } }).bundle;
        return s.status === 200 && b?.name === o.follow && (b.revision ?? 0) >= revision;
      }, deadline),
    );
    const readyS = (performance.now() - t0) / 1000;
    out(`• sidecar serving \`${o.follow}\` r${revision}, approvals ready at ${since(t0)}`);
    writeRunning(p, {
      pid: process.pid,
      startedAt: new Date().toISOString(),
      follow: o.follow,
      distribution: distributionUrl,
      approvals: approvalsUrl,
      sidecarHttp,
      sidecarGrpc,
      inbox: inbox.url,
      children: sup.pids(),
    });
    out(banner({ o, readyS, distributionUrl, approvalsUrl, sidecarHttp, sidecarGrpc, revision, policies: follow.bundle.policies.length, published, secrets, logDir: p.logDir }));
    await stopRequested;
  } catch (e) {
    if (e !== STOPPED) {
      if (!isAecpError(e)) {
        await shutdown();
        throw e;
      }
      failure ??= e;
    }
  }
  await shutdown();
  if (failure) {
    process.stderr.write(`error[${failure.code}]: ${failure.message}\n`);
    return failure.code === "AECP_DEMO_SERVICE_FAILED" ? EXIT_FAIL : EXIT_USAGE;
  }
  out("stopped.");
  return EXIT_OK;
}

interface BannerFacts {
  o: DemoOptions;
  readyS: number;
  distributionUrl: string;
  approvalsUrl: string;
  sidecarHttp: string;
  sidecarGrpc: string;
  revision: number;
  policies: number;
  published: Record<string, number>;
  secrets: { approverTokens: Record<string, string> };
  logDir: string;
}

function banner(f: BannerFacts): string {
  const cli = `node ${shellQuote(displayPath(new URL("../main.js", import.meta.url).pathname))}`;
  const stateFlag = f.o.state === DEMO_DEFAULTS.state ? "" : ` --state ${shellQuote(f.o.state)}`;
  const request = (k: string): string => `${cli} demo request ${k}${stateFlag}`;
  const alice = DEMO_APPROVERS[0]!;
  return [
    "",
    `AECP demo ready in ${f.readyS.toFixed(1)} s`,
    "",
    `  distribution  ${f.distributionUrl}   bundles: ${Object.entries(f.published).map(([n, r]) => `${n} r${r}`).join(", ")}`,
    `  approvals     ${f.approvalsUrl}   SQLite ${displayPath(join(f.o.state, "demo", "approvals.db"))}; approver ${alice.id} (${alice.groups.join(", ")}) API token ${f.secrets.approverTokens[alice.id]}`,
    `  sidecar       gRPC ext_authz ${f.sidecarGrpc} · HTTP ${f.sidecarHttp} (/authz/<path>, /status, /metrics)`,
    `                following \`${f.o.follow}\` revision ${f.revision} (${f.policies} policies) from the distribution service`,
    `  logs          ${displayPath(f.logDir)}/{distribution,approvals,sidecar}.log`,
    "",
    ...(f.o.follow === DEMO_FOLLOW_DEFAULT
      ? [
          "Try it in another terminal: an AI agent (agent-7) and production config.",
          `  # ${DEMO_REQUESTS.allow.what}: 200`,
          `  ${request("allow")}`,
          `  # ${DEMO_REQUESTS.deny.what}: 403`,
          `  ${request("deny")}`,
          `  # ${DEMO_REQUESTS.pause.what}: 428, then approve in your browser with the printed link; the retry goes through once`,
          `  ${request("pause")}`,
          "",
          "The same requests with curl (what Envoy's http_service asks the sidecar):",
          `  ${curlCommand(f.sidecarHttp, DEMO_REQUESTS.allow)}`,
          `  ${curlCommand(f.sidecarHttp, DEMO_REQUESTS.deny)}`,
          `  ${curlCommand(f.sidecarHttp, DEMO_REQUESTS.pause)}`,
          "  # the 428 names an execution (x-aecp-execution-id); its approval links appear below; once approved,",
          "  # repeat the identical PUT with -H 'x-aecp-execution-id: <id>': allowed once, a second time denied",
        ]
      : [
          // the demo requests are written for ai-agent-approval's policies
          `Send requests as Envoy's http_service would: curl -i ${f.sidecarHttp}/authz/<path> -H '<header>: <value>'`,
          `(see policies/${f.o.follow}/ for what its policies read; the demo requests are for \`${DEMO_FOLLOW_DEFAULT}\`)`,
        ]),
    "",
    "Approval requests appear here (the demo's stand-in for Slack). Ctrl-C stops everything.",
  ].join("\n");
}
