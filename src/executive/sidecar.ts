// The enforcement sidecar: serves Envoy's ext_authz gRPC API (and gRPC
// health) on TCP and Unix sockets, and over HTTP the ext_authz HTTP mode under
// /authz (Envoy http_service, nginx auth_request; ./http-authz.ts) besides
// health/status/metrics, evaluating the active signed bundle in process.
//
// Bundle lifecycle: bytes → verify + ABI check + instantiate (LoadedBundle)
// → warm-up evaluations off the request path → atomic swap of the `active`
// reference. A request reads `active` once, so it never sees a half-loaded
// bundle, and a bundle that fails any step never replaces a good one.
// Readiness (HTTP /readyz, gRPC health SERVING) requires an active bundle.
//
// Not yet here (issue 3 continues): pause via the
// approvals service (pause currently fails closed with 503), decision log,
// OpenTelemetry, shadow evaluation, last-known-good cache, workers.

import { lstatSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { createServer, type Server as HttpServer } from "node:http";
import type { Http2Server, ServerHttp2Session } from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { AecpError, ERROR_CODES, isAecpError, type ErrorCode } from "../common/index.js";
import { LoadedBundle, TrustedKeys, type Decision, type RequestAttributes } from "../bundle/index.js";
import { attributesFromCheckRequestJson, attributesFromGrpcFields, type GrpcCheckFields } from "./checkrequest.js";
import { envoyAuthPackageDefinition } from "./envoy.js";
import { authzMode, serveAuthz, type AuthzDecider } from "./http-authz.js";
import type { SidecarOptions } from "./options.js";
import { outcomeForDecision, outcomeForError, type CheckOutcome } from "./response.js";
import { encodeCheckResponse } from "./check-response-wire.js";
import { decodeCheckRequest, MalformedCheckRequest } from "./check-request-wire.js";
import { HEADER_EXCEPTION_GRANT, verifyExceptionGrant } from "./exception-grant.js";
import { requestFingerprint } from "./fingerprint.js";
import { newDecisionId } from "./decision-id.js";
import { BundleStore, type BundleMeta } from "./bundle-store.js";
import { HttpApprovalsClient, type ApprovalsClient } from "./approvals-client.js";
import { PauseHandler } from "./pause.js";
import { DecisionLog } from "./decision-log.js";
import { ShadowEvaluator, type ShadowStatus } from "./shadow.js";
import { LatencyHistogram } from "./histogram.js";
import type { Telemetry } from "./telemetry.js";

const AUTH_SERVICE = "envoy.service.auth.v3.Authorization";
/** Largest request head (request line + headers) the HTTP listener accepts. */
const HTTP_MAX_HEADER_BYTES = 64 * 1024;

/** Where the active bundle came from. */
export type BundleSource = "file" | "cache" | "distribution";

/** The active bundle as the distribution watcher and /status see it. */
export interface ActiveBundleInfo {
  readonly name: string;
  /** "sha256:<hex>" of the bundle file. */
  readonly digest: string;
  readonly revision: number | null;
  readonly source: BundleSource;
  /** When it was activated here (RFC 3339). */
  readonly loadedAt: string;
  /** Its manifest's issued-at, when it came through distribution. */
  readonly issuedAt: string | null;
}

/** Health of a long-lived part beside the sidecar core (watcher, shipper, …), OPA-plugin style. */
export interface ComponentStatus {
  readonly state: "ok" | "degraded" | "error";
  /** Stable reason code (an AECP_* code) when not ok. */
  readonly code?: string;
  readonly reason?: string;
  /** Safe-to-show structured detail (no secrets). */
  readonly detail?: Readonly<Record<string, unknown>>;
}

export interface SidecarStatus {
  ready: boolean;
  /** The process answering (one of several with `--workers`). */
  pid: number;
  bundle: { name: string; digest: string; revision: number | null; keyId: string | null; policies: number; loadedAt: string; issuedAt: string | null; source: BundleSource } | null;
  /** True while serving a bundle other than the configured one because the configured one failed, or while a component is not ok. */
  degraded: boolean;
  /** Long-lived parts reporting through `reportComponent` (e.g. "distribution"). */
  components: Record<string, ComponentStatus & { since: string }>;
  lastError: { code: string; message: string; at: string } | null;
  decisions: Record<string, number>;
  errors: Record<string, number>;
  listening: { grpc: string[]; http: string | null };
  decisionLog: ReturnType<DecisionLog["status"]>;
  /** Shadow evaluation of a candidate bundle (`--shadow-bundle`); null when off. */
  shadow: ShadowStatus | null;
}

export class Sidecar {
  private current: LoadedBundle | undefined;
  private currentInfo: ActiveBundleInfo | undefined;
  private degraded = false;
  private readonly components = new Map<string, ComponentStatus & { since: string }>();
  private readonly metricSources: Array<() => string> = [];
  private shadow: ShadowEvaluator | undefined;
  private telemetry: Telemetry | undefined;
  private readonly violationCounts = new Map<string, number>();
  private readonly evalHistogram = new LatencyHistogram("aecp_eval_duration_seconds", "Attribute extraction + policy evaluation time.");
  private readonly checkHistograms = {
    grpc: new LatencyHistogram("aecp_check_duration_seconds", "Check handler time, request in to response out, by transport."),
    http: new LatencyHistogram("aecp_check_duration_seconds", ""),
  };
  private readonly store: BundleStore | undefined;
  private lastError: SidecarStatus["lastError"] = null;
  private readonly trusted: TrustedKeys;
  /** Keys trusted to sign exception grants; undefined = every presented grant is refused. */
  private readonly grantKeys: TrustedKeys | undefined;
  private readonly grpcServer: grpc.Server;
  private readonly health = new HealthImplementation({ "": "NOT_SERVING", [AUTH_SERVICE]: "NOT_SERVING" });
  private httpServer: HttpServer | undefined;
  private readonly boundGrpc: string[] = [];
  private boundHttp: string | null = null;
  private readonly decisionCounts: Record<string, number> = { allow: 0, deny: 0, pause: 0 };
  private readonly errorCounts: Record<string, number> = {};
  private evalNsSum = 0;
  private evalCount = 0;

  private readonly approvals: ApprovalsClient | undefined;
  /** Every decision (and failure to decide) is recorded here; never blocks a decision. */
  readonly decisionLog: DecisionLog;

  /** The CheckRequest adapter's options (one object, not one per request). */
  private readonly adapterOptions: { readonly maxBodyBytes: number };

  private readonly sharedListeners: boolean;

  /**
   * `deps.approvals` replaces the HTTP approvals client (tests use an in-memory double).
   * `deps.sharedListeners`: the listeners are shared by a node:cluster primary
   * (`--workers`), which clears stale Unix sockets itself; workers must not.
   */
  constructor(
    readonly options: SidecarOptions,
    deps: { approvals?: ApprovalsClient; sharedListeners?: boolean } = {},
  ) {
    this.sharedListeners = deps.sharedListeners ?? false;
    this.approvals =
      deps.approvals ?? (options.approvals === undefined ? undefined : new HttpApprovalsClient({ url: options.approvals, ...(options.approvalsToken ? { token: options.approvalsToken } : {}) }));
    this.trusted = TrustedKeys.fromPems(
      options.pub.map((p) => {
        try {
          return readFileSync(p, "utf8");
        } catch (cause) {
          throw new AecpError("AECP_IO", `cannot read trusted key \`${p}\``, { cause });
        }
      }),
    );
    this.grantKeys =
      options.grantPub.length === 0
        ? undefined
        : TrustedKeys.fromPems(
            options.grantPub.map((p) => {
              try {
                return readFileSync(p, "utf8");
              } catch (cause) {
                throw new AecpError("AECP_IO", `cannot read grant key \`${p}\``, { cause });
              }
            }),
          );
    this.store = options.cacheDir === undefined ? undefined : new BundleStore(options.cacheDir);
    this.decisionLog = new DecisionLog(options.decisionLog);
    this.adapterOptions = Object.freeze({ maxBodyBytes: options.maxBodyBytes });
    this.grpcServer = new grpc.Server(GRPC_SERVER_OPTIONS);
    raiseConnectionWindow(this.grpcServer, H2_CONNECTION_WINDOW_BYTES);
    const pkg = grpc.loadPackageDefinition(envoyAuthPackageDefinition()) as unknown as {
      envoy: { service: { auth: { v3: { Authorization: { service: grpc.ServiceDefinition } } } } };
    };
    // Our own wire code on both sides of Check (check-request-wire.ts,
    // check-response-wire.ts): requests are read straight into the fields the
    // adapter uses, responses written straight from the outcome. Both are
    // checked against protobufjs with Envoy's protos in the tests.
    const service = pkg.envoy.service.auth.v3.Authorization.service;
    const checkMethod = service["Check"]!;
    const wire: grpc.ServiceDefinition = {
      ...service,
      Check: { ...checkMethod, requestDeserialize: (b: Buffer) => decodeCheckRequest(b), responseSerialize: (o: CheckOutcome) => encodeCheckResponse(o) },
    };
    this.grpcServer.addService(wire, {
      Check: (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        // INVARIANT: a policy decision (and any failure to decide) is a CheckResponse, never a gRPC error.
        const t0 = performance.now();
        const outcome = this.checkGrpc(call.request as GrpcCheckFields | MalformedCheckRequest);
        if (outcome.pending === undefined) {
          callback(null, outcome);
          this.observeCheck(outcome, t0, "grpc");
        } else
          void this.settle(outcome).then((o) => {
            callback(null, o);
            this.observeCheck(o, t0, "grpc");
          });
      },
    });
    this.health.addToServer(this.grpcServer);
  }

  /**
   * Load and activate a bundle from bytes. Throws (and keeps the current
   * bundle) if it is not valid: AECP_BUNDLE_* codes from verification, ABI
   * check and instantiation. A bundle activated from a source other than the
   * cache becomes the last-known-good copy (when `cacheDir` is set), with its
   * `meta` (distribution revision, manifest issued-at) beside it.
   */
  activate(bytes: Uint8Array, source: BundleSource = "file", meta: BundleMeta = {}): LoadedBundle {
    return this.swapIn(this.prepare(bytes, meta), bytes, source, meta);
  }

  /** Verify, instantiate and warm up a bundle off the request path; records and throws on failure. */
  private prepare(bytes: Uint8Array, meta: BundleMeta): LoadedBundle {
    let next: LoadedBundle;
    try {
      next = LoadedBundle.load(bytes, {
        trustedKeys: this.trusted,
        maxBundleBytes: this.options.maxBundleBytes,
        ...(meta.revision !== undefined ? { revision: meta.revision } : {}),
      });
      next.warmUp(); // self-test and JIT warm-up, off the request path
    } catch (e) {
      const err = isAecpError(e) ? e : new AecpError("AECP_BUNDLE_WASM_INVALID", "bundle failed its self-test", { cause: e });
      this.lastError = { code: err.code, message: err.message, at: new Date().toISOString() };
      throw err;
    }
    return next;
  }

  private swapIn(next: LoadedBundle, bytes: Uint8Array, source: BundleSource, meta: BundleMeta): LoadedBundle {
    this.current = next; // INVARIANT: the only write of `current`; one reference swap
    this.currentInfo = Object.freeze({
      name: next.name,
      digest: next.ref.digest,
      revision: next.ref.revision,
      source,
      loadedAt: new Date().toISOString(),
      issuedAt: meta.issuedAt ?? null,
    });
    this.degraded = false;
    if (this.store && source !== "cache") {
      try {
        this.store.save(bytes, meta);
      } catch (e) {
        // serving continues; only the restart safety net is missing
        const err = isAecpError(e) ? e : new AecpError("AECP_IO", String(e));
        this.lastError = { code: err.code, message: err.message, at: new Date().toISOString() };
      }
    }
    this.health.setStatus("", "SERVING");
    this.health.setStatus(AUTH_SERVICE, "SERVING");
    return next;
  }

  get ready(): boolean {
    return this.current !== undefined;
  }

  /** The active bundle (name, digest, revision, source, times), or undefined before the first activation. */
  get active(): ActiveBundleInfo | undefined {
    return this.currentInfo;
  }

  /**
   * Report the health of a long-lived part (the distribution watcher, …).
   * Shown under /status `components`; any state other than "ok" makes the
   * sidecar `degraded` (still serving — readiness depends on the bundle only).
   */
  reportComponent(name: string, status: ComponentStatus): void {
    const prev = this.components.get(name);
    const same = prev && prev.state === status.state && prev.code === status.code;
    this.components.set(name, Object.freeze({ ...status, since: same ? prev.since : new Date().toISOString() }));
  }

  /** Add Prometheus text lines (complete HELP/TYPE blocks) to /metrics. */
  addMetrics(source: () => string): void {
    this.metricSources.push(source);
  }

  /** Decide one request given as attributes (shared by gRPC and HTTP modes). */
  decide(attrs: RequestAttributes): CheckOutcome {
    const decisionId = newDecisionId();
    const bundle = this.current; // read once: a swap mid-request cannot mix bundles
    if (!bundle) return this.failure("AECP_NO_BUNDLE", 503, decisionId, attrs);
    // An exception grant (break-glass override from the approvals service) is
    // verified offline and waives its exceptions for this request only. A
    // presented grant that does not verify is refused outright — never with
    // fail-open, since it is a claim the caller made, not a failure of ours.
    let waivers: string[] | undefined;
    const grant = attrs.headers[HEADER_EXCEPTION_GRANT];
    if (grant !== undefined) {
      try {
        if (this.grantKeys === undefined) throw new AecpError("AECP_GRANT_INVALID", "exception grants are not accepted here (no --grant-pub)");
        waivers = verifyExceptionGrant(grant, { trustedKeys: this.grantKeys, fingerprint: requestFingerprint(attrs) }).exceptions;
      } catch (e) {
        const code = isAecpError(e) ? e.code : "AECP_GRANT_INVALID";
        this.errorCounts[code] = (this.errorCounts[code] ?? 0) + 1;
        const o = outcomeForError(code, 403, decisionId, { failOpen: false, failStatus: 403 });
        if (this.telemetry !== undefined) o.observed = { attrs, decision: undefined, reason: code };
        this.decisionLog.record(o, attrs);
        return o;
      }
    }
    let d: Decision;
    try {
      d = bundle.evaluate(attrs, waivers);
    } catch (e) {
      return this.failure(isAecpError(e) ? e.code : "AECP_EVAL_FAILED", this.options.failStatus, decisionId, attrs);
    }
    this.decisionCounts[d.effect]!++;
    this.evalNsSum += d.evalNs;
    this.evalCount++;
    this.evalHistogram.observe(d.evalNs / 1e9);
    for (let i = 0; i < d.violations.length; i++) {
      const v = d.violations[i]!;
      const key = `policy="${v.policy}",enforcement="${v.enforcement}"`;
      this.violationCounts.set(key, (this.violationCounts.get(key) ?? 0) + 1);
    }
    if (this.shadow !== undefined) this.shadow.offer(attrs, decisionId, d, waivers);
    const o = outcomeForDecision(d, decisionId);
    if (this.telemetry !== undefined) o.observed = { attrs, decision: d, reason: undefined };
    if (o.pending) {
      // recorded once settled: the log shows what was enforced (defer, allow-once, deny, 503)
      o.pending.attrs = attrs;
      // APPROVAL settings and EXCEPTION names of a violated policy (an override's grant names the exceptions)
      o.pending.approvalOf = (name) => {
        const p = bundle.policies.find((x) => x.name === name);
        return p?.approval === undefined ? undefined : { ...p.approval, exceptions: p.exceptions };
      };
    } else this.decisionLog.record(o, attrs, d);
    return o;
  }

  /**
   * Finish a paused outcome through the approvals service (defer / hold /
   * allow-once). Any other outcome is returned as is. Never rejects: a
   * failure fails closed with the outcome's own 503.
   */
  async settle(o: CheckOutcome): Promise<CheckOutcome> {
    const p = o.pending;
    if (!p || !p.attrs) return o;
    let final: CheckOutcome;
    try {
      final = await new PauseHandler(this.approvals, this.pauseOptions, p.approvalOf ?? (() => undefined)).settle(p.decision, p.attrs, o.decisionId);
    } catch {
      this.errorCounts["AECP_APPROVALS_UNAVAILABLE"] = (this.errorCounts["AECP_APPROVALS_UNAVAILABLE"] ?? 0) + 1;
      final = o;
    }
    if (o.observed !== undefined) final.observed = { ...o.observed, reason: final.allowed ? undefined : (final.metadata["aecp_reason"] as string | undefined) };
    this.decisionLog.record(final, p.attrs, p.decision);
    return final;
  }

  private get pauseOptions() {
    return { mode: this.options.pauseMode, holdMs: this.options.holdMs, deferStatus: this.options.deferStatus, retryAfterS: 5 };
  }

  private checkGrpc(request: GrpcCheckFields | MalformedCheckRequest): CheckOutcome {
    if (request instanceof MalformedCheckRequest) return this.failure(request.error.code, ERROR_CODES[request.error.code].http, newDecisionId());
    return this.decideFrom(() => {
      try {
        return attributesFromGrpcFields(request, this.adapterOptions);
      } finally {
        // grpc-js holds the decoded request until the call's stream closes, and
        // under load its calls outlive two scavenges, so the request's header
        // strings and peers were promoted to the old generation with them
        // (measured: +1.2 KB promoted per Check over the no-op's at 64 in
        // flight). Past this point only the attributes are used: drop the rest.
        request.attributes = undefined;
      }
    });
  }

  /**
   * Decide a request given as a CheckRequest in JSON form (any shape
   * `attributesFromCheckRequestJson` accepts; the HTTP mode builds one).
   * Never throws: a request that cannot be mapped fails closed.
   */
  decideCheckRequest(checkRequest: unknown): CheckOutcome {
    return this.decideFrom(() => attributesFromCheckRequestJson(checkRequest, this.adapterOptions));
  }

  /**
   * The outcome for a request that cannot be decided (fail closed, or allow
   * with x-aecp-fail-open when fail-open), counted under `code`. Internal
   * errors use `failStatus`; every other code its registry HTTP status.
   */
  failureOutcome(code: ErrorCode): CheckOutcome {
    const status = code === "AECP_INTERNAL" || code === "AECP_EVAL_FAILED" ? this.options.failStatus : ERROR_CODES[code].http;
    return this.failure(code, status, newDecisionId());
  }

  /** The one path from a transport's request to a decision: map, then decide; a mapping error fails closed. */
  private decideFrom(toAttributes: () => RequestAttributes): CheckOutcome {
    let attrs: RequestAttributes;
    try {
      attrs = toAttributes();
    } catch (e) {
      const code: ErrorCode = isAecpError(e) ? e.code : "AECP_REQUEST_MALFORMED";
      return this.failure(code, ERROR_CODES[code].http, newDecisionId());
    }
    return this.decide(attrs);
  }

  private failure(code: string, httpStatus: number, decisionId: string, attrs?: RequestAttributes): CheckOutcome {
    this.errorCounts[code] = (this.errorCounts[code] ?? 0) + 1;
    const o = outcomeForError(code, httpStatus, decisionId, { failOpen: this.options.failOpen, failStatus: this.options.failStatus });
    if (this.telemetry !== undefined) o.observed = { attrs, decision: undefined, reason: code };
    this.decisionLog.record(o, attrs);
    return o;
  }

  /** After the response: handler latency, and the OpenTelemetry span + metrics when on. */
  private observeCheck(o: CheckOutcome, t0: number, transport: "grpc" | "http"): void {
    const t1 = performance.now();
    this.checkHistograms[transport].observe((t1 - t0) / 1000);
    const t = this.telemetry;
    const obs = o.observed;
    if (t === undefined || obs === undefined) return;
    const a = obs.attrs;
    t.record({
      headers: a?.headers,
      method: a?.method ?? null,
      path: a?.path ?? null,
      decisionId: o.decisionId,
      effect: String(o.metadata["aecp_effect"] ?? (o.allowed ? "allow" : "deny")),
      reason: obs.reason,
      decision: obs.decision,
      transport,
      startMs: t0,
      endMs: t1,
    });
  }

  status(): SidecarStatus {
    const b = this.current;
    const info = this.currentInfo;
    const components = Object.fromEntries(this.components);
    return {
      ready: this.ready,
      pid: process.pid,
      bundle:
        b && info
          ? { name: b.name, digest: b.ref.digest, revision: b.ref.revision, keyId: b.ref.keyId, policies: b.policies.length, loadedAt: info.loadedAt, issuedAt: info.issuedAt, source: info.source }
          : null,
      degraded: this.degraded || Object.values(components).some((c) => c.state !== "ok"),
      components,
      lastError: this.lastError,
      decisions: { ...this.decisionCounts },
      errors: { ...this.errorCounts },
      listening: { grpc: [...this.boundGrpc], http: this.boundHttp },
      decisionLog: this.decisionLog.status(),
      shadow: this.shadow?.status() ?? null,
    };
  }

  /** Prometheus text exposition. */
  metrics(): string {
    const lines = [
      "# HELP aecp_decisions_total Decisions by effect.",
      "# TYPE aecp_decisions_total counter",
      ...Object.entries(this.decisionCounts).map(([e, n]) => `aecp_decisions_total{effect="${e}"} ${n}`),
      "# HELP aecp_decision_errors_total Requests that could not be decided, by reason code.",
      "# TYPE aecp_decision_errors_total counter",
      ...Object.entries(this.errorCounts).map(([c, n]) => `aecp_decision_errors_total{code="${c}"} ${n}`),
      "# HELP aecp_policy_violations_total Violated policies by name and enforcement.",
      "# TYPE aecp_policy_violations_total counter",
      ...[...this.violationCounts].map(([k, n]) => `aecp_policy_violations_total{${k}} ${n}`),
      "# HELP aecp_eval_seconds Extraction + evaluation time.",
      "# TYPE aecp_eval_seconds summary",
      `aecp_eval_seconds_sum ${(this.evalNsSum / 1e9).toFixed(9)}`,
      `aecp_eval_seconds_count ${this.evalCount}`,
      "# HELP aecp_bundle_active 1 when a bundle is active.",
      "# TYPE aecp_bundle_active gauge",
      `aecp_bundle_active ${this.ready ? 1 : 0}`,
      "# HELP aecp_bundle_revision Distribution revision of the active bundle (-1 for a file or none).",
      "# TYPE aecp_bundle_revision gauge",
      `aecp_bundle_revision ${this.currentInfo?.revision ?? -1}`,
      "# HELP aecp_bundle_age_seconds Seconds since the active bundle was activated.",
      "# TYPE aecp_bundle_age_seconds gauge",
      `aecp_bundle_age_seconds ${this.currentInfo ? ((Date.now() - Date.parse(this.currentInfo.loadedAt)) / 1000).toFixed(3) : 0}`,
    ];
    const histograms =
      this.evalHistogram.header() +
      this.evalHistogram.render() +
      this.checkHistograms.grpc.header() +
      this.checkHistograms.grpc.render('transport="grpc"') +
      this.checkHistograms.http.render('transport="http"');
    return lines.join("\n") + "\n" + histograms + this.decisionLog.metrics() + (this.shadow?.metrics() ?? "") + this.metricSources.map((f) => f()).join("");
  }

  /**
   * Load bundles, then listen. Resolves when every listener is bound.
   * Order: the last-known-good copy first (so a restart serves even when the
   * configured source is unreachable or bad), then the configured bundle
   * file, which replaces it when valid. With a file, fails only when neither
   * yields a bundle. With `distribution`, the watcher (src/distribution)
   * activates bundles later: until then the sidecar listens NOT_SERVING and
   * every Check fails closed with AECP_NO_BUNDLE.
   */
  async start(): Promise<void> {
    const cached = this.store?.load();
    if (cached) {
      try {
        const meta = this.store!.loadMeta(cached);
        const loaded = this.prepare(cached, meta);
        // a cached bundle of another name (the configuration changed) is not served
        if (this.options.name === undefined || loaded.name === this.options.name) this.swapIn(loaded, cached, "cache", meta);
        else this.lastError = { code: "AECP_BUNDLE_MALFORMED", message: `the cached bundle is \`${loaded.name}\`, not \`${this.options.name}\`; ignored`, at: new Date().toISOString() };
      } catch {
        // recorded in lastError; a bad cache never blocks the configured bundle
      }
    }
    const file = this.options.bundle;
    let bytes: Uint8Array | undefined;
    if (file !== undefined) {
      try {
        bytes = new Uint8Array(readFileSync(file));
      } catch (cause) {
        const err = new AecpError("AECP_IO", `cannot read bundle \`${file}\``, { cause });
        if (!this.current) throw err;
        this.lastError = { code: err.code, message: err.message, at: new Date().toISOString() };
        this.degraded = true;
      }
    }
    if (bytes) {
      try {
        this.activate(bytes, "file");
      } catch (e) {
        if (!this.current) throw e;
        this.degraded = true; // serving the last-known-good bundle; lastError says why
      }
    }
    this.loadShadow();
    if (this.options.telemetry.otlpEndpoint !== undefined) {
      const { Telemetry } = await import("./telemetry.js");
      this.telemetry = await Telemetry.start(this.options.telemetry, () => {
        const b = this.currentInfo;
        return b ? { name: b.name, revision: b.revision, loadedAtMs: Date.parse(b.loadedAt) } : undefined;
      });
    }
    for (const addr of this.options.grpc) {
      if (addr.startsWith("unix:") && !this.sharedListeners) await removeStaleSocket(addr.slice(5));
      const port = await new Promise<number>((resolve, reject) =>
        this.grpcServer.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
      ).catch((cause: unknown) => {
        throw new AecpError("AECP_IO", `cannot listen for gRPC on \`${addr}\``, { cause });
      });
      this.boundGrpc.push(addr.startsWith("unix:") ? addr : addr.replace(/:\d+$/, `:${port}`));
    }
    await this.startHttp();
    this.decisionLog.start();
  }

  /**
   * Load the `--shadow-bundle` candidate (verified like any bundle). A bad
   * candidate never stops the sidecar: the component reports why.
   */
  private loadShadow(): void {
    const file = this.options.shadowBundle;
    if (file === undefined) return;
    try {
      this.activateShadow(new Uint8Array(readFileSync(file)));
    } catch (e) {
      const err = isAecpError(e) ? e : new AecpError("AECP_IO", `cannot read shadow bundle \`${file}\``, { cause: e });
      this.reportComponent("shadow", { state: "error", code: err.code, reason: `shadow bundle \`${file}\` not loaded: ${err.message}` });
    }
  }

  /**
   * Make `bytes` the shadow candidate (from `--shadow-bundle`, or the
   * distribution watcher following `--shadow-name`): verified against the
   * trusted keys and warmed up like any bundle; counters start afresh. Throws
   * (AECP_BUNDLE_*) and keeps the current candidate when invalid.
   */
  activateShadow(bytes: Uint8Array, meta: BundleMeta = {}): LoadedBundle {
    const b = LoadedBundle.load(bytes, {
      trustedKeys: this.trusted,
      maxBundleBytes: this.options.maxBundleBytes,
      ...(meta.revision !== undefined ? { revision: meta.revision } : {}),
    });
    b.warmUp();
    this.shadow = new ShadowEvaluator(b);
    this.reportComponent("shadow", { state: "ok" });
    return b;
  }

  /** The shadow candidate (name, digest, revision), or undefined. */
  get shadowActive(): { name: string; digest: string; revision: number | null } | undefined {
    const b = this.shadow?.bundle;
    return b === undefined ? undefined : { name: b.name, digest: b.ref.digest, revision: b.ref.revision };
  }

  /** The shadow evaluator, when a candidate bundle is loaded (tests flush it). */
  get shadowEvaluator(): ShadowEvaluator | undefined {
    return this.shadow;
  }

  private async startHttp(): Promise<void> {
    const [host, portText] = splitHostPort(this.options.http);
    const decider: AuthzDecider = {
      maxBodyBytes: this.options.maxBodyBytes,
      // a pause is finished through the approvals service, as in gRPC Check
      decideCheckRequest: (checkRequest) => {
        const t0 = performance.now();
        const outcome = this.decideCheckRequest(checkRequest);
        if (outcome.pending === undefined) {
          this.observeCheck(outcome, t0, "http");
          return outcome;
        }
        return this.settle(outcome).then((o) => {
          this.observeCheck(o, t0, "http");
          return o;
        });
      },
      failureOutcome: (code) => this.failureOutcome(code),
    };
    // Header limit as Envoy's default (max_request_headers_kb 60): Envoy
    // forwards the original headers; larger ones get Node's 431.
    this.httpServer = createServer({ maxHeaderSize: HTTP_MAX_HEADER_BYTES }, (req, res) => {
      // ext_authz HTTP mode: any method, under /authz (./http-authz.ts)
      const mode = authzMode(req.url ?? "");
      if (mode !== undefined) return void serveAuthz(mode, req, res, decider);
      const send = (status: number, type: string, body: string): void => {
        res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
        res.end(body);
      };
      const path = (req.url ?? "/").split("?")[0];
      if (req.method !== "GET" && req.method !== "HEAD") return send(405, "text/plain", "method not allowed\n");
      switch (path) {
        case "/healthz":
          return send(200, "text/plain", "ok\n");
        case "/readyz":
          return this.ready ? send(200, "text/plain", "ready\n") : send(503, "text/plain", "no active bundle\n");
        case "/status":
          return send(200, "application/json", JSON.stringify(this.status()) + "\n");
        case "/metrics":
          return send(200, "text/plain; version=0.0.4", this.metrics());
        case "/shadow":
          return this.shadow ? send(200, "application/json", JSON.stringify(this.shadow.status()) + "\n") : send(404, "text/plain", "no shadow bundle\n");
        default:
          return send(404, "text/plain", "not found\n");
      }
    });
    await new Promise<void>((resolve, reject) => {
      this.httpServer!.once("error", (cause) => reject(new AecpError("AECP_IO", `cannot listen for HTTP on \`${this.options.http}\``, { cause })));
      this.httpServer!.listen(Number(portText), host, () => resolve());
    });
    const addr = this.httpServer.address();
    this.boundHttp = typeof addr === "object" && addr ? `${host.includes(":") ? `[${host}]` : host}:${addr.port}` : this.options.http;
  }

  async stop(): Promise<void> {
    this.health.setStatus("", "NOT_SERVING");
    this.health.setStatus(AUTH_SERVICE, "NOT_SERVING");
    await new Promise<void>((resolve) => this.grpcServer.tryShutdown(() => resolve()));
    await this.approvals?.close();
    await this.decisionLog.stop(); // after the servers: the last decisions are shipped too
    await this.telemetry?.shutdown(); // flushes the last spans and metrics
    this.telemetry = undefined;
    if (this.httpServer) await new Promise<void>((resolve) => this.httpServer!.close(() => resolve()));
  }
}

/**
 * Remove a socket file left by a previous run — but never one that a live
 * process (another sidecar) is still serving: that is AECP_IO "in use".
 */
export async function removeStaleSocket(path: string): Promise<void> {
  let isSocket = false;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw new AecpError("AECP_IO", `\`${path}\` exists and is not a socket; refusing to replace it`);
  const live = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
  if (live) throw new AecpError("AECP_IO", `another process is listening on \`unix:${path}\``);
  rmSync(path, { force: true });
}

/**
 * HTTP/2 connection receive window for gRPC sessions. Node's default 64 KiB
 * holds only ~70 in-flight CheckRequests; with 256 in flight on one connection
 * (Envoy multiplexes a worker's checks) clients starve waiting for window
 * updates: measured p99 244 ms → 42 ms with 8 MiB (loadtest/h2-window-sweep.mjs,
 * docs/performance.md). 8 MiB stays under the 64 MB session-memory cap.
 */
export const H2_CONNECTION_WINDOW_BYTES = 8 * 1024 * 1024;

/**
 * grpc-js server options of the ext_authz listener (the no-op server of
 * `npm run bench:authz` uses the same). Envoy multiplexes a worker's checks
 * over one HTTP/2 connection: keep many streams in flight.
 */
export const GRPC_SERVER_OPTIONS: Readonly<grpc.ServerOptions> = Object.freeze({
  "grpc.max_concurrent_streams": 4096,
  "grpc-node.max_session_memory": 64,
  "grpc-node.flow_control_window": H2_CONNECTION_WINDOW_BYTES, // honoured by the server once grpc/grpc-node#3058 lands
});

/**
 * grpc-js 1.14 has no server option for the connection window, so raise it on
 * each new session through its (internal, version-pinned) createHttp2Server.
 * test/sidecar-h2.test.ts fails if an upgrade removes the hook.
 */
export function raiseConnectionWindow(server: grpc.Server, bytes: number): void {
  const s = server as unknown as { createHttp2Server?: (creds: grpc.ServerCredentials) => Http2Server };
  if (typeof s.createHttp2Server !== "function") throw new AecpError("AECP_INTERNAL", "@grpc/grpc-js internals changed: no createHttp2Server");
  const create = s.createHttp2Server.bind(server);
  s.createHttp2Server = (creds) => {
    const h2 = create(creds);
    h2.on("session", (session: ServerHttp2Session) => {
      try {
        session.setLocalWindowSize(bytes);
      } catch {
        // the session closed before we got to it
      }
    });
    return h2;
  };
}

function splitHostPort(a: string): [string, string] {
  const i = a.lastIndexOf(":");
  return [a.slice(0, i).replace(/^\[|\]$/g, ""), a.slice(i + 1)];
}
