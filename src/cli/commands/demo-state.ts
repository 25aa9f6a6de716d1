// The demo stack's options and its state folder (default `.aecp/`, gitignored),
// shared by `aecp demo` (which writes it) and `aecp demo request` (which reads
// it). Layout, reused across runs:
//
//   keys/aecp.key|pub             development bundle + manifest signing key (created once)
//   bundles/<name>.bundle         compiled, signed bundles (rewritten every run)
//   demo/secrets.json             service, approver, webhook and inbox tokens (created once, 0600)
//   demo/approvals.yaml           the approvals service config (rewritten every run: ports)
//   demo/approvals-keys/aecp.key  the approvals service's grant + audit checkpoint key (created once)
//   demo/approvals.db             approvals SQLite database (executions, audit log)
//   demo/distribution/            distribution service storage
//   demo/sidecar-cache/<bundle>/  the sidecar's last-known-good copy of the followed bundle
//   logs/<service>.log            each child's stdout and stderr (truncated every run)
//   demo/running.json             endpoints and pids while a stack runs (removed on stop)

import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify as toYaml } from "yaml";
import { AecpError } from "../../common/index.js";

/** Host every demo service binds: the demo never listens beyond this machine. */
export const DEMO_HOST = "127.0.0.1";

/** The bundle the demo sidecar follows: it has allow, deny and REQUIRE_APPROVAL policies. */
export const DEMO_FOLLOW_DEFAULT = "ai-agent-approval";

export interface DemoOptions {
  /** Folder whose sub-folders are bundles. Default "policies". */
  readonly dir: string;
  /** State folder (keys, bundles, databases, logs). Default ".aecp". */
  readonly state: string;
  /** Run only the offline pipeline (compile, verify, test, evaluate examples). Default false. */
  readonly offline: boolean;
  /** Bundle name the sidecar follows. Default "ai-agent-approval". */
  readonly follow: string;
  /** Distribution service port; 0 = any free port. Default 8181. */
  readonly distributionPort: number;
  /** Approvals service port; 0 = any free port. Default 8282. */
  readonly approvalsPort: number;
  /** Sidecar gRPC ext_authz port; 0 = any free port. Default 9191. */
  readonly grpcPort: number;
  /** Sidecar HTTP port (/authz, /status, /metrics); 0 = any free port. Default 9192. */
  readonly httpPort: number;
  /** Longest wait for the whole stack to be ready, ms. Default 60,000. */
  readonly readyTimeoutMs: number;
}

export const DEMO_DEFAULTS = Object.freeze({
  dir: "policies",
  state: ".aecp",
  offline: false,
  follow: DEMO_FOLLOW_DEFAULT,
  distributionPort: 8181,
  approvalsPort: 8282,
  grpcPort: 9191,
  httpPort: 9192,
  readyTimeoutMs: 60_000,
});

/** The flag that sets each port (named in port errors). */
export const PORT_FLAGS = Object.freeze({
  distributionPort: "--distribution-port",
  approvalsPort: "--approvals-port",
  grpcPort: "--grpc-port",
  httpPort: "--http-port",
});

const KEYS = Object.keys(DEMO_DEFAULTS);

function bad(key: string, why: string): never {
  throw new AecpError("AECP_CONFIG_INVALID", `demo option \`${key}\` ${why}`);
}

function port(key: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  const n = typeof v === "string" && /^\d{1,5}$/.test(v) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 65535) bad(key, "must be a port number from 0 to 65535 (0 = any free port)");
  return n;
}

/**
 * Validate the demo options (CLI flags; port values may be strings), fill
 * defaults, freeze. Unknown keys and bad values are AECP_CONFIG_INVALID.
 */
export function demoOptions(raw: Record<string, unknown>): DemoOptions {
  for (const k of Object.keys(raw)) if (!KEYS.includes(k)) bad(k, `is not a known option (known: ${KEYS.join(", ")})`);
  const D = DEMO_DEFAULTS;
  const str = (k: string, fallback: string): string => {
    const v = raw[k];
    if (v === undefined) return fallback;
    if (typeof v !== "string" || v === "") bad(k, "must be a non-empty string");
    return v;
  };
  const follow = str("follow", D.follow);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(follow)) bad("follow", "must be a bundle name (letters, digits, '.', '_', '-')");
  const o: DemoOptions = {
    dir: str("dir", D.dir),
    state: str("state", D.state),
    offline: raw["offline"] === undefined ? D.offline : raw["offline"] === true,
    follow,
    distributionPort: port("distributionPort", raw["distributionPort"], D.distributionPort),
    approvalsPort: port("approvalsPort", raw["approvalsPort"], D.approvalsPort),
    grpcPort: port("grpcPort", raw["grpcPort"], D.grpcPort),
    httpPort: port("httpPort", raw["httpPort"], D.httpPort),
    readyTimeoutMs: raw["readyTimeoutMs"] === undefined ? D.readyTimeoutMs : Number(raw["readyTimeoutMs"]),
  };
  if (!Number.isInteger(o.readyTimeoutMs) || o.readyTimeoutMs < 1000 || o.readyTimeoutMs > 600_000) bad("readyTimeoutMs", "must be a whole number of ms from 1,000 to 600,000");
  const fixed = (["distributionPort", "approvalsPort", "grpcPort", "httpPort"] as const).filter((k) => o[k] !== 0);
  for (const k of fixed) for (const j of fixed) if (k < j && o[k] === o[j]) bad(k, `uses port ${o[k]}, which \`${j}\` uses too`);
  return Object.freeze(o);
}

// ---------------------------------------------------------------------------
// the state folder

export interface DemoPaths {
  state: string;
  keyDir: string;
  demoDir: string;
  secrets: string;
  approvalsConfig: string;
  approvalsKeyDir: string;
  approvalsDb: string;
  distributionData: string;
  sidecarCache: string;
  logDir: string;
  running: string;
}

export function demoPaths(state: string): DemoPaths {
  const demoDir = join(state, "demo");
  return {
    state,
    keyDir: join(state, "keys"),
    demoDir,
    secrets: join(demoDir, "secrets.json"),
    approvalsConfig: join(demoDir, "approvals.yaml"),
    approvalsKeyDir: join(demoDir, "approvals-keys"),
    approvalsDb: join(demoDir, "approvals.db"),
    distributionData: join(demoDir, "distribution"),
    sidecarCache: join(demoDir, "sidecar-cache"),
    logDir: join(state, "logs"),
    running: join(demoDir, "running.json"),
  };
}

/** Development credentials, created once per state folder. */
export interface DemoSecrets {
  /** The sidecar's bearer token at the approvals service (pause, consume, decision log). */
  serviceToken: string;
  /** Approver id → API token. */
  approverTokens: Record<string, string>;
  /** HMAC secret of the approvals service's webhook to the demo's inbox. */
  webhookSecret: string;
  /** Bearer token of the inbox's read endpoint (used by `aecp demo request`). */
  inboxToken: string;
}

/** The demo approvers: alice decides agent changes (sre-oncall); a production delete needs bob too. */
export const DEMO_APPROVERS = Object.freeze([
  { id: "alice", groups: ["sre-oncall", "platform-leads"], roles: ["approver", "override"] },
  { id: "bob", groups: ["platform-leads"], roles: ["approver"] },
]);

const token = (prefix: string): string => `${prefix}-${randomBytes(18).toString("base64url")}`;

function writePrivate(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

/** The secrets of this state folder, created on first use. */
export function loadOrCreateSecrets(p: DemoPaths): DemoSecrets {
  if (existsSync(p.secrets)) {
    const s = readJson(p.secrets) as Partial<DemoSecrets>;
    const ok = typeof s.serviceToken === "string" && typeof s.webhookSecret === "string" && typeof s.inboxToken === "string" && s.approverTokens !== null && typeof s.approverTokens === "object" && DEMO_APPROVERS.every((a) => typeof s.approverTokens?.[a.id] === "string");
    if (ok) return s as DemoSecrets;
    throw new AecpError("AECP_CONFIG_INVALID", `\`${p.secrets}\` is not a demo secrets file; delete it to create new development tokens`);
  }
  mkdirSync(p.demoDir, { recursive: true });
  const s: DemoSecrets = {
    serviceToken: token("demo-sidecar"),
    approverTokens: Object.fromEntries(DEMO_APPROVERS.map((a) => [a.id, token(`demo-${a.id}`)])),
    webhookSecret: token("demo-webhook"),
    inboxToken: token("demo-inbox"),
  };
  writePrivate(p.secrets, JSON.stringify(s, null, 2) + "\n");
  return s;
}

/** Writes demo/approvals.yaml for this run's ports (the grant key path is relative to it). */
export function writeApprovalsConfig(p: DemoPaths, s: DemoSecrets, approvalsUrl: string, inboxUrl: string): void {
  const doc = {
    public_url: approvalsUrl,
    service_tokens: [s.serviceToken],
    approvers: DEMO_APPROVERS.map((a) => ({ id: a.id, token: s.approverTokens[a.id], groups: [...a.groups], roles: [...a.roles] })),
    grant_key: "approvals-keys/aecp.key",
    notify: { webhooks: [{ url: `${inboxUrl}/hook`, secret: s.webhookSecret }] },
  };
  writePrivate(p.approvalsConfig, "# Written by `aecp demo` on every start (development tokens from secrets.json).\n" + toYaml(doc));
}

/** What `aecp demo request` needs to find a running stack. */
export interface RunningDemo {
  pid: number;
  startedAt: string;
  follow: string;
  distribution: string;
  approvals: string;
  sidecarHttp: string;
  sidecarGrpc: string;
  inbox: string;
  children: Record<string, number>;
}

export function writeRunning(p: DemoPaths, r: RunningDemo): void {
  writePrivate(p.running, JSON.stringify(r, null, 2) + "\n");
}

export function removeRunning(p: DemoPaths, pid: number): void {
  try {
    if ((readJson(p.running) as { pid?: unknown }).pid === pid) rmSync(p.running, { force: true });
  } catch {
    // already gone or not ours
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The running stack of this state folder. Throws AECP_DEMO_NOT_RUNNING naming what is missing. */
export function readRunning(state: string): { running: RunningDemo; secrets: DemoSecrets } {
  const p = demoPaths(state);
  const hint = state === DEMO_DEFAULTS.state ? "start it with `npm start`" : `start it with \`node dist/cli/main.js demo --state ${state}\``;
  if (!existsSync(p.running)) throw new AecpError("AECP_DEMO_NOT_RUNNING", `no demo stack is running for state folder \`${state}\` (${hint})`);
  const r = readJson(p.running) as RunningDemo;
  if (typeof r.pid !== "number" || typeof r.sidecarHttp !== "string" || typeof r.approvals !== "string" || typeof r.inbox !== "string") {
    throw new AecpError("AECP_DEMO_NOT_RUNNING", `\`${p.running}\` is not a demo state file (${hint})`);
  }
  if (!isAlive(r.pid)) throw new AecpError("AECP_DEMO_NOT_RUNNING", `the demo stack of \`${state}\` (pid ${r.pid}) is no longer running (${hint})`);
  return { running: r, secrets: loadOrCreateSecretsReadOnly(p) };
}

function loadOrCreateSecretsReadOnly(p: DemoPaths): DemoSecrets {
  if (!existsSync(p.secrets)) throw new AecpError("AECP_DEMO_NOT_RUNNING", `\`${p.secrets}\` is missing; restart the demo`);
  return loadOrCreateSecrets(p);
}

function readJson(file: string): unknown {
  try {
    const text = readFileSync(file, "utf8");
    if (text.length > 1024 * 1024) throw new Error("larger than 1 MiB");
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new AecpError("AECP_IO", `cannot read \`${file}\`: ${(cause as Error).message}`, { cause });
  }
}
