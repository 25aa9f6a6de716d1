#!/usr/bin/env node
// The `aecp` command line: the top layer, composing the others. Command names
// and flags are a contract (scripts, CI and later tools depend on them).
// Exit codes: 0 ok, 1 a check failed (diagnostics, verification, tests), 2 usage or I/O error.

import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Command, CommanderError, Option } from "commander";
import { AECP_VERSION, isAecpError } from "../common/index.js";
import { CliExit, EXIT_USAGE } from "./io.js";
// Commands are imported when they run: `aecp sidecar` never loads the
// compiler, jco or the YAML test runner (measured ~17 MB RSS of code).

const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** Runs a command body and records its exit code. */
type Runner = (run: () => number | Promise<number>) => Promise<void>;

export function buildProgram(runner: Runner): Command {
  const program = new Command("aecp")
    .description("AECP: policy language, WebAssembly policy compiler and signed bundles for Envoy ext_authz")
    .version(AECP_VERSION)
    .exitOverride()
    .showHelpAfterError();

  program
    .command("keygen")
    .description("create an Ed25519 signing key pair: <dir>/aecp.key (PKCS#8 PEM) and <dir>/aecp.pub (SPKI PEM)")
    .requiredOption("--out <dir>", "output directory")
    .option("--force", "overwrite existing key files")
    .action((o) => runner(async () => (await import("./commands/keygen.js")).keygen(o)));

  program
    .command("compile")
    .description("compile *.policy files into a signed bundle")
    .argument("<paths...>", "policy files or directories")
    .option("-o, --output <bundle>", "bundle file to write")
    .option("--key <private.pem>", "Ed25519 private key (PKCS#8 PEM) to sign with")
    .option("--name <bundle-name>", "bundle name (default: the first folder's name)")
    .addOption(new Option("--dump-after <stage>", "print a stage's output and stop").choices(["parse", "check", "plan", "optimize", "codegen", "package", "sign"]))
    .option("--timings", "print per-stage timings to stderr")
    .action((paths, o) => runner(async () => (await import("./commands/compile.js")).compileCommand(paths, o)));

  program
    .command("verify")
    .description("verify a bundle's digest, signature and module; exit 0 only when valid")
    .argument("<bundle>")
    .requiredOption("--pub <public.pem>", "trusted public key (repeatable)", collect, [])
    .action((b, o) => runner(async () => (await import("./commands/verify.js")).verifyCommand(b, o)));

  program
    .command("eval")
    .description("evaluate one Envoy CheckRequest (JSON) against a bundle; prints the decision as JSON")
    .argument("<bundle>")
    .requiredOption("--input <request.json>", "CheckRequest JSON file, or - for stdin")
    .option("--pub <public.pem>", "trusted public key (repeatable); without it the signature is not verified", collect, [])
    .option("--waiver <exception>", "treat this exception as granted (repeatable)", collect, [])
    .action((b, o) => runner(async () => (await import("./commands/eval.js")).evalCommand(b, o)));

  program
    .command("test")
    .description("run policy test files (*.test.yaml)")
    .argument("<paths...>", "test files or directories")
    .option("-q, --quiet", "print only failures and the summary")
    .action((paths, o) => runner(async () => (await import("./commands/test.js")).testCommand(paths, { verbose: !o.quiet })));

  program
    .command("fmt")
    .description("print policy files in canonical format")
    .argument("<paths...>", "policy files or directories")
    .option("--check", "exit 1 and list the files that are not formatted")
    .option("-w, --write", "rewrite the files in place")
    .action((paths, o) => runner(async () => (await import("./commands/fmt.js")).fmtCommand(paths, o)));

  program
    .command("inspect")
    .description("print a bundle's metadata as JSON")
    .argument("<bundle>")
    .option("--pub <public.pem>", "verify against this trusted key first (repeatable)", collect, [])
    .action((b, o) => runner(async () => (await import("./commands/inspect.js")).inspectCommand(b, o)));

  program
    .command("sidecar")
    .description("run the Envoy ext_authz sidecar (gRPC Check + health, HTTP health/status/metrics) on a signed bundle")
    .option("--bundle <file>", "signed bundle to serve (or --distribution + --name)")
    .option("--distribution <url>", "follow bundle --name on this distribution service (token from AECP_DISTRIBUTION_TOKEN)")
    .option("--name <bundle-name>", "bundle name to follow with --distribution")
    .option("--pub <public.pem>", "trusted public key (repeatable)", collect, [])
    .option("--grant-pub <public.pem>", "public key trusted to sign exception grants (the approvals service's grant key; repeatable)", collect, [])
    .option("--grpc <addr>", "gRPC listen address, host:port or unix:/path (repeatable; default 127.0.0.1:9191)", collect, [])
    .option("--http <addr>", "HTTP listen address for /healthz /readyz /status /metrics (default 127.0.0.1:9192)")
    .option("--fail-open", "allow requests the sidecar cannot decide (default: fail closed)")
    .option("--fail-status <code>", "HTTP status when failing closed on an internal error (default 403)")
    .option("--cache-dir <dir>", "keep the last-known-good bundle here and serve it at start if the configured one fails")
    .option("--approvals <url>", "approvals service for REQUIRE_APPROVAL (token from AECP_APPROVALS_TOKEN); without it paused requests get 503")
    .option("--pause-mode <mode>", "defer (answer 428 at once; default) or hold (wait up to --hold-ms)")
    .option("--hold-ms <ms>", "hold mode: longest wait for a human decision (keep below Envoy's ext_authz timeout)")
    .option("--decision-log <url>", "ship decision records in batches to this HTTP sink (token from AECP_DECISION_LOG_TOKEN)")
    .option("--shadow-bundle <file>", "evaluate this candidate bundle beside the active one and record where decisions differ (responses unaffected)")
    .option("--shadow-name <bundle-name>", "with --distribution: follow this bundle name as the shadow candidate")
    .option("--workers <n>", "processes sharing the listeners via node:cluster (default 1)")
    .option("--otlp-endpoint <url>", "export OpenTelemetry traces and metrics over OTLP/HTTP to this base URL (default off; also OTEL_EXPORTER_OTLP_ENDPOINT)")
    .option("--config <sidecar.yaml>", "YAML file with the same options (camelCase keys); flags override it")
    .action((o) => runner(async () => (await import("./commands/sidecar.js")).sidecarCommand(o)));

  program
    .command("distribution")
    .description("run the distribution service: stores published bundles (filesystem or OCI registry) and pushes them to sidecars by long poll")
    .option("--data <dir>", "data directory (filesystem storage; not needed with --oci)")
    .option("--listen <host:port>", "listen address (default 127.0.0.1:8181)")
    .option("--publish-token <token>", "bearer token required to publish (also AECP_PUBLISH_TOKEN); without one, only loopback may publish")
    .option("--oci <registry-url/repository>", "keep bundles as OCI artifacts in this registry repository (credentials from AECP_OCI_USERNAME/AECP_OCI_PASSWORD)")
    .action((o) => runner(async () => (await import("./commands/distribution.js")).distributionCommand(o)));

  program
    .command("publish")
    .description("upload a signed bundle to a distribution service and publish it at the next revision with a signed manifest")
    .argument("<bundle>")
    .requiredOption("--to <url>", "distribution service URL")
    .requiredOption("--key <private.pem>", "Ed25519 key signing the manifest (repeatable, e.g. during a key rotation)", collect, [])
    .option("--token <token>", "publish bearer token (also AECP_PUBLISH_TOKEN)")
    .option("--expires <duration>", "manifest lifetime, e.g. 30d, 12h, 90m (default 30d)")
    .action((b, o) => runner(async () => (await import("./commands/publish.js")).publishCommand(b, o)));

  const audit = program.command("audit").description("verify the tamper-evident audit log and print inclusion proofs (token for --approvals from AECP_APPROVALS_TOKEN)");
  audit
    .command("verify")
    .description("recompute every entry, tree node, checkpoint root and signature offline; exit 0 only when all verify, else name the first bad entry")
    .option("--db <sqlite-file|postgres-url>", "the approvals database")
    .option("--approvals <url>", "read the log through a running approvals service instead")
    .option("--pub <public.pem>", "trusted checkpoint key (repeatable); without it signatures are not checked", collect, [])
    .option("--schema <name>", "PostgreSQL schema holding the audit tables")
    .option("--strict", "also parse every entry and check it is RFC 8785 canonical JSON (slower)")
    .action((o) => runner(async () => (await import("./commands/audit.js")).auditVerifyCommand(o)));
  audit
    .command("proof")
    .description("print an execution's audit entries with inclusion proofs against the latest checkpoint (JSON, verifiable offline)")
    .argument("<execution-id>")
    .option("--db <sqlite-file|postgres-url>", "the approvals database")
    .option("--approvals <url>", "read the log through a running approvals service instead")
    .option("--pub <public.pem>", "trusted checkpoint key (repeatable)", collect, [])
    .option("--schema <name>", "PostgreSQL schema holding the audit tables")
    .action((id, o) => runner(async () => (await import("./commands/audit.js")).auditProofCommand(id, o)));
  audit
    .command("check-proof")
    .description("verify a proof document printed by `aecp audit proof`, offline; exit 0 only when every proof and (with --pub) the checkpoint signature verify")
    .argument("<proof.json>")
    .option("--pub <public.pem>", "trusted checkpoint key (repeatable)", collect, [])
    .action((f, o) => runner(async () => (await import("./commands/audit.js")).auditCheckProofCommand(f, o)));

  program
    .command("replay")
    .description("reconstruct an execution from the approvals record, re-evaluate it on the recorded bundle and prove its audit entries; exit 0 only when all agree")
    .argument("<execution-id>")
    .requiredOption("--approvals <url>", "approvals service (token from AECP_APPROVALS_TOKEN)")
    .option("--bundle <file>", "the bundle file the execution was decided with")
    .option("--distribution <url>", "fetch that bundle from a distribution service instead")
    .option("--pub <public.pem>", "trusted bundle key (repeatable)", collect, [])
    .option("--audit-pub <public.pem>", "trusted audit checkpoint key (repeatable)", collect, [])
    .action((id, o) => runner(async () => (await import("./commands/replay.js")).replayCommand(id, o)));

  program
    .command("approvals")
    .description("run the approvals service: paused executions, human decisions (API, signed links, Slack), audit log")
    .option("--db <sqlite-file | postgres-url>", "SQLite file or postgres:// URL (default approvals.db, or AECP_APPROVALS_DB)")
    .option("--listen <host:port>", "HTTP listen address (default 127.0.0.1:8282)")
    .requiredOption("--config <approvals.yaml>", "service configuration (tokens, approvers, notifications, keys)")
    .action((o) => runner(async () => (await import("./commands/approvals.js")).approvalsCommand(o)));

  const demo = program
    .command("demo")
    .description("what `npm start` runs: compile and publish policies/, run distribution, approvals (SQLite) and a sidecar in one supervised process tree, print requests to try; Ctrl-C stops all")
    .option("--offline", "only compile, verify, test and evaluate every bundle (no services)")
    .option("--dir <policies>", "folder whose sub-folders are bundles", "policies")
    .option("--state <dir>", "keys, bundles, databases and logs, reused across runs", ".aecp")
    .option("--follow <bundle>", "bundle the sidecar follows (default ai-agent-approval)")
    .option("--distribution-port <port>", "distribution service port (default 8181; 0 = any free port)")
    .option("--approvals-port <port>", "approvals service port (default 8282; 0 = any free port)")
    .option("--grpc-port <port>", "sidecar gRPC ext_authz port (default 9191; 0 = any free port)")
    .option("--http-port <port>", "sidecar HTTP port: /authz, /status, /metrics (default 9192; 0 = any free port)")
    .option("--ready-timeout-ms <ms>", "longest wait for the stack to be ready (default 60000)")
    .action((o) => runner(async () => (await import("./commands/demo.js")).demoCommand(o)));
  demo
    .command("request")
    .description("send a demo request to the running stack's sidecar: allow, deny, or pause (approve in the browser, then the retry goes through once)")
    .argument("<kind>", "allow | deny | pause")
    .option("--timeout <duration>", "pause: longest wait for the decision, e.g. 90s, 15m (default 15m)")
    // --state is the demo command's own (commander accepts it after `request` too)
    .action((k, _o, cmd: Command) => runner(async () => (await import("./commands/demo.js")).demoRequest(k, cmd.optsWithGlobals())));

  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  let result = 0;
  const program = buildProgram(async (run) => {
    result = await run();
  });
  try {
    await program.parseAsync(argv as string[], { from: "user" });
    return result;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version exit 0; usage errors were already printed by commander
      return e.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (e instanceof CliExit) {
      if (e.message) process.stderr.write(e.message + "\n");
      return e.exitCode;
    }
    if (isAecpError(e)) {
      process.stderr.write(`error[${e.code}]: ${e.message}\n`);
      if (process.env["AECP_DEBUG"] && e.cause) process.stderr.write(`cause: ${String((e.cause as Error).stack ?? e.cause)}\n`);
      return e.code === "AECP_USAGE" || e.code === "AECP_IO" || e.code === "AECP_NO_SOURCES" || e.code === "AECP_CONFIG_INVALID" ? EXIT_USAGE : 1;
    }
    process.stderr.write(`internal error (a bug in aecp): ${(e as Error).stack ?? String(e)}\n`);
    return 70;
  }
}

/** True when this module is the program being run (`node dist/cli/main.js`, the `aecp` bin link), not an import. */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`internal error: ${String(e)}\n`);
      process.exitCode = 70;
    },
  );
}
