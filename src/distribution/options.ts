// Options of the distribution layer's two components: the distribution
// service (`DistributionServerOptions`) and the sidecar's bundle watcher
// (`WatcherOptions`). Each validator fills defaults, freezes, and rejects
// unknown keys and bad values with AECP_CONFIG_INVALID naming the key (the
// house pattern of src/executive/options.ts).

import { AecpError } from "../common/index.js";
import { BUNDLE_NAME } from "./manifest.js";

export interface DistributionServerOptions {
  /** Data directory of the filesystem backend; required unless `oci` is set. Default undefined. */
  readonly data: string | undefined;
  /** `http(s)://registry[:port]/<repository>`: keep bundles in an OCI registry instead. Default undefined. */
  readonly oci: string | undefined;
  /** OCI registry user name / password (Basic or token flow). Default anonymous. */
  readonly ociUsername: string | undefined;
  readonly ociPassword: string | undefined;
  /** Listen address `host:port`. Default "127.0.0.1:8181". */
  readonly listen: string;
  /** Bearer token required to publish; undefined = publishes only from loopback. Default undefined. */
  readonly publishToken: string | undefined;
  /** Bearer token required to read (manifests, blobs, lists, metrics); undefined = open reads. Default undefined. */
  readonly readToken: string | undefined;
  /** Largest bundle file accepted on publish, bytes. Default 64 MiB. */
  readonly maxBundleBytes: number;
  /** Longest long poll a client may ask for (`?wait=`), seconds. Default 300. */
  readonly maxWaitS: number;
  /** Upper bound of the random spread over which a publish wakes its waiters, ms. Default 250. */
  readonly wakeSpreadMaxMs: number;
  /** Bytes of blobs kept in memory (LRU). Default 256 MiB. */
  readonly blobCacheBytes: number;
  /** Most concurrent long polls; more get 503 + Retry-After. Default 20000. */
  readonly maxWatchers: number;
  /** How often the storage is re-read for revisions published through another replica, ms; 0 = never. Default 1000 with `oci`, 0 with the filesystem. */
  readonly pollIntervalMs: number;
}

export const DISTRIBUTION_DEFAULTS = Object.freeze({
  listen: "127.0.0.1:8181",
  maxBundleBytes: 64 * 1024 * 1024,
  maxWaitS: 300,
  wakeSpreadMaxMs: 250,
  blobCacheBytes: 256 * 1024 * 1024,
  maxWatchers: 20_000,
  ociPollIntervalMs: 1000,
});

export interface WatcherOptions {
  /** Distribution service base URL, e.g. "http://127.0.0.1:8181". */
  readonly url: string;
  /** Bundle name to follow. */
  readonly name: string;
  /** Bearer token for reads. Default undefined. */
  readonly token: string | undefined;
  /** Long-poll duration asked of the server, seconds. Default 30. */
  readonly waitS: number;
  /** First retry delay after a failure, ms (doubles per failure, with jitter). Default 250. */
  readonly backoffMinMs: number;
  /** Longest retry delay, ms. Default 30000. */
  readonly backoffMaxMs: number;
  /** Timeout of a blob download and of the connection, ms. Default 30000. */
  readonly requestTimeoutMs: number;
  /** Least time between two long polls that came back unchanged, ms (guards against a server that does not hold). Default 1000. */
  readonly minPollIntervalMs: number;
  /** Largest blob accepted, bytes. Default 64 MiB (the sidecar passes its maxBundleBytes). */
  readonly maxBundleBytes: number;
}

export const WATCHER_DEFAULTS = Object.freeze({
  waitS: 30,
  backoffMinMs: 250,
  backoffMaxMs: 30_000,
  requestTimeoutMs: 30_000,
  minPollIntervalMs: 1000,
  maxBundleBytes: 64 * 1024 * 1024,
});

function bad(component: string, key: string, why: string): never {
  throw new AecpError("AECP_CONFIG_INVALID", `${component} option \`${key}\` ${why}`);
}

function record(component: string, raw: unknown, keys: readonly string[]): Record<string, unknown> {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new AecpError("AECP_CONFIG_INVALID", `${component} options must be a map`);
  const r = raw as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (!keys.includes(k)) throw new AecpError("AECP_CONFIG_INVALID", `unknown ${component} option \`${k}\` (known: ${keys.join(", ")})`);
  }
  return r;
}

function optStr(c: string, r: Record<string, unknown>, key: string): string | undefined {
  const v = r[key];
  if (v === undefined) return undefined;
  if (typeof v !== "string" || v === "") bad(c, key, "must be a non-empty string");
  return v;
}

function int(c: string, r: Record<string, unknown>, key: string, dflt: number, min: number, max: number): number {
  const v = r[key] ?? dflt;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) bad(c, key, `must be a whole number from ${min} to ${max}`);
  return v;
}

function httpUrl(c: string, key: string, v: string): string {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    bad(c, key, `must be an http(s) URL, not \`${v}\``);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") bad(c, key, "must be an http(s) URL");
  return v.replace(/\/+$/, "");
}

const HOST_PORT = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

const SERVER_KEYS = [
  "data", "oci", "ociUsername", "ociPassword", "listen", "publishToken", "readToken", "maxBundleBytes", "maxWaitS",
  "wakeSpreadMaxMs", "blobCacheBytes", "maxWatchers", "pollIntervalMs",
] as const;

/** Validate raw distribution-service options, fill defaults, freeze. */
export function distributionServerOptions(raw: unknown): DistributionServerOptions {
  const c = "distribution";
  const r = record(c, raw, SERVER_KEYS);
  const data = optStr(c, r, "data");
  const oci = optStr(c, r, "oci");
  if (data === undefined && oci === undefined) bad(c, "data", "is required (a data directory), unless `oci` names a registry repository");
  if (oci !== undefined) httpUrl(c, "oci", oci);
  const listen = optStr(c, r, "listen") ?? DISTRIBUTION_DEFAULTS.listen;
  const m = HOST_PORT.exec(listen);
  if (!m || Number(m[1]) > 65535) bad(c, "listen", `must be host:port, not \`${listen}\``);
  return Object.freeze({
    data,
    oci: oci?.replace(/\/+$/, ""),
    ociUsername: optStr(c, r, "ociUsername"),
    ociPassword: optStr(c, r, "ociPassword"),
    listen,
    publishToken: optStr(c, r, "publishToken"),
    readToken: optStr(c, r, "readToken"),
    maxBundleBytes: int(c, r, "maxBundleBytes", DISTRIBUTION_DEFAULTS.maxBundleBytes, 1024, 1 << 30),
    maxWaitS: int(c, r, "maxWaitS", DISTRIBUTION_DEFAULTS.maxWaitS, 1, 3600),
    wakeSpreadMaxMs: int(c, r, "wakeSpreadMaxMs", DISTRIBUTION_DEFAULTS.wakeSpreadMaxMs, 0, 10_000),
    blobCacheBytes: int(c, r, "blobCacheBytes", DISTRIBUTION_DEFAULTS.blobCacheBytes, 0, 1 << 30 /* Node's buffer sizes */),
    maxWatchers: int(c, r, "maxWatchers", DISTRIBUTION_DEFAULTS.maxWatchers, 1, 1_000_000),
    pollIntervalMs: int(c, r, "pollIntervalMs", oci !== undefined ? DISTRIBUTION_DEFAULTS.ociPollIntervalMs : 0, 0, 3_600_000),
  });
}

const WATCHER_KEYS = ["url", "name", "token", "waitS", "backoffMinMs", "backoffMaxMs", "requestTimeoutMs", "minPollIntervalMs", "maxBundleBytes"] as const;

/** Validate raw watcher options, fill defaults, freeze. */
export function watcherOptions(raw: unknown): WatcherOptions {
  const c = "watcher";
  const r = record(c, raw, WATCHER_KEYS);
  const url = optStr(c, r, "url") ?? bad(c, "url", "is required (the distribution service URL)");
  const name = optStr(c, r, "name") ?? bad(c, "name", "is required (the bundle name to follow)");
  if (!BUNDLE_NAME.test(name)) bad(c, "name", `\`${name}\` is not a valid bundle name`);
  const backoffMinMs = int(c, r, "backoffMinMs", WATCHER_DEFAULTS.backoffMinMs, 1, 600_000);
  const backoffMaxMs = int(c, r, "backoffMaxMs", WATCHER_DEFAULTS.backoffMaxMs, 1, 3_600_000);
  if (backoffMaxMs < backoffMinMs) bad(c, "backoffMaxMs", "must not be below backoffMinMs");
  return Object.freeze({
    url: httpUrl(c, "url", url),
    name,
    token: optStr(c, r, "token"),
    waitS: int(c, r, "waitS", WATCHER_DEFAULTS.waitS, 1, 3600),
    backoffMinMs,
    backoffMaxMs,
    requestTimeoutMs: int(c, r, "requestTimeoutMs", WATCHER_DEFAULTS.requestTimeoutMs, 100, 600_000),
    minPollIntervalMs: int(c, r, "minPollIntervalMs", WATCHER_DEFAULTS.minPollIntervalMs, 0, 600_000),
    maxBundleBytes: int(c, r, "maxBundleBytes", WATCHER_DEFAULTS.maxBundleBytes, 1024, 1 << 30),
  });
}
