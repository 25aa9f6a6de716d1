// envoy/envoy.yaml (gRPC ext_authz) and envoy/envoy-http.yaml (http_service):
// each file is validated strictly against Envoy's own bootstrap proto
// (envoy.config.bootstrap.v3.Bootstrap from @grpc/grpc-js-xds's deps/, through
// test/helpers/strict-proto.ts), then checked for what AECP needs from it:
// fail closed, V3, a timeout above the sidecar's pause path, the body
// settings the sidecar parses, HTTP/2 to the gRPC sidecar, the health route
// without ext_authz, and an access log carrying every key of the sidecar's
// dynamic_metadata. The negative cases prove the checker catches each kind of
// mistake with its path. The test environment has no Envoy binary, so the
// files are not run here.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import {
  AUTHZ_PREFIX,
  HEADER_ADVISORY,
  HEADER_DECISION_ID,
  HEADER_REASON,
  SIDECAR_DEFAULTS,
  outcomeForDecision,
  outcomeForError,
} from "../src/executive/index.js";
import type { Decision } from "../src/bundle/index.js";
import { StrictProtoChecker, type ProtoIssue } from "./helpers/strict-proto.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BOOTSTRAP = "envoy.config.bootstrap.v3.Bootstrap";
const EXT_AUTHZ = "envoy.filters.http.ext_authz";
/** The sidecar's approvals client timeout (src/executive/approvals-client.ts, `timeoutMs` default). */
const APPROVALS_CLIENT_TIMEOUT_S = 2;

// YAML documents are walked by key; `any` keeps the assertions readable.
type Obj = Record<string, any>;

const load = (file: string): Obj => parseYaml(readFileSync(join(ROOT, file), "utf8")) as Obj;

let checker: StrictProtoChecker;
beforeAll(() => {
  checker = new StrictProtoChecker(["envoy/config/bootstrap/v3/bootstrap.proto"]);
});

function hcmOf(b: Obj): Obj {
  const f = b["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0];
  expect(f["name"]).toBe("envoy.filters.network.http_connection_manager");
  return f["typed_config"];
}
const extAuthzOf = (b: Obj): Obj => hcmOf(b)["http_filters"].find((f: Obj) => f["name"] === EXT_AUTHZ)["typed_config"];
const clusterOf = (b: Obj, name: string): Obj | undefined => b["static_resources"]["clusters"].find((c: Obj) => c["name"] === name);
const routesOf = (b: Obj): Obj[] => hcmOf(b)["route_config"]["virtual_hosts"].flatMap((v: Obj) => v["routes"]);
function seconds(d: string): number {
  expect(d).toMatch(/^\d+(\.\d+)?s$/);
  return Number(d.slice(0, -1));
}
function endpointOf(c: Obj): string {
  const a = c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"];
  return `${a["address"]}:${a["port_value"]}`;
}
/** Envoy StringMatcher semantics for the patterns used here. */
function matches(patterns: Obj[], value: string): boolean {
  return patterns.some((p) =>
    p["exact"] !== undefined ? p["exact"] === value
    : p["prefix"] !== undefined ? value.startsWith(p["prefix"])
    : p["suffix"] !== undefined ? value.endsWith(p["suffix"])
    : p["safe_regex"] !== undefined ? new RegExp(`^(?:${p["safe_regex"]["regex"]})$`).test(value)
    : false,
  );
}

/** Every dynamic_metadata key the sidecar can put on a CheckResponse (src/executive/response.ts). */
function sidecarMetadataKeys(): string[] {
  const d = {
    effect: "deny",
    violations: [{ policy: "p", enforcement: "BLOCKING" }],
    waived: [],
    defaulted: false,
    bundle: { name: "b", digest: "sha256:00", revision: 1, keyId: "k", verified: true },
    evalNs: 1,
  } as unknown as Decision;
  const keys = new Set([
    ...Object.keys(outcomeForDecision(d, "id").metadata),
    ...Object.keys(outcomeForError("AECP_INTERNAL", 403, "id", { failOpen: false, failStatus: 403 }).metadata),
    "aecp_execution_id", // set by the defer / approved / execution-denied outcomes
  ]);
  return [...keys].sort();
}

function commonRequirements(file: string, b: Obj): void {
  const issues = checker.check(BOOTSTRAP, b);
  expect(issues, `${file}:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join("\n")}`).toEqual([]);

  const hcm = hcmOf(b);
  const names = hcm["http_filters"].map((f: Obj) => f["name"]);
  expect(names[0], "ext_authz runs first").toBe(EXT_AUTHZ);
  expect(names.at(-1), "the router is last").toBe("envoy.filters.http.router");

  const authz = extAuthzOf(b);
  expect(authz["transport_api_version"]).toBe("V3");
  expect(Object.hasOwn(authz, "failure_mode_allow"), "failure_mode_allow is explicit").toBe(true);
  expect(authz["failure_mode_allow"]).toBe(false);
  expect(authz["with_request_body"]["max_request_bytes"]).toBe(SIDECAR_DEFAULTS.maxBodyBytes);
  expect(authz["with_request_body"]["allow_partial_message"], "no decisions on truncated bodies").toBe(false);

  // the health route, and only it, skips ext_authz
  const routes = routesOf(b);
  const disabled = routes.filter((r) => r["typed_per_filter_config"]?.[EXT_AUTHZ]?.["disabled"] === true);
  expect(disabled.map((r) => r["match"])).toEqual([{ path: "/healthz" }]);
  expect(disabled[0]!["typed_per_filter_config"][EXT_AUTHZ]["@type"]).toBe("type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute");
  for (const r of routes) expect(clusterOf(b, r["route"]["cluster"]), `route ${r["name"]} → a defined cluster`).toBeDefined();
  expect(endpointOf(clusterOf(b, "app")!)).toBe("127.0.0.1:8080");
}

describe("envoy/envoy.yaml (gRPC ext_authz)", () => {
  const b = load("envoy/envoy.yaml");

  it("is a valid Bootstrap and meets the common requirements", () => commonRequirements("envoy/envoy.yaml", b));

  it("talks gRPC over HTTP/2 to the colocated sidecar, with a timeout above the pause path", () => {
    const authz = extAuthzOf(b);
    expect(authz["http_service"]).toBeUndefined();
    const grpc = authz["grpc_service"];
    expect(seconds(grpc["timeout"])).toBeGreaterThan(APPROVALS_CLIENT_TIMEOUT_S);
    expect(authz["with_request_body"]["pack_as_bytes"], "raw_body bytes for JSON bodies").toBe(true);
    const cluster = clusterOf(b, grpc["envoy_grpc"]["cluster_name"])!;
    expect(cluster).toBeDefined();
    expect(endpointOf(cluster)).toBe(SIDECAR_DEFAULTS.grpc[0]);
    const opts = cluster["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
    expect(opts["@type"]).toBe("type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions");
    expect(opts["explicit_http_config"]["http2_protocol_options"]).toBeTypeOf("object");
    expect(cluster["health_checks"][0]["grpc_health_check"]["service_name"]).toBe("envoy.service.auth.v3.Authorization");
  });

  it("logs every key of the sidecar's dynamic_metadata", () => {
    const format = hcmOf(b)["access_log"][0]["typed_config"]["log_format"]["json_format"] as Record<string, string>;
    const logged = Object.values(format).join(" ");
    const keys = sidecarMetadataKeys();
    expect(keys).toContain("aecp_decision_id");
    for (const k of keys) expect(logged, k).toContain(`%DYNAMIC_METADATA(${EXT_AUTHZ}:${k})%`);
  });
});

describe("envoy/envoy-http.yaml (http_service)", () => {
  const b = load("envoy/envoy-http.yaml");

  it("is a valid Bootstrap and meets the common requirements", () => commonRequirements("envoy/envoy-http.yaml", b));

  it("calls the sidecar's /authz prefix and passes the decision headers on", () => {
    const authz = extAuthzOf(b);
    expect(authz["grpc_service"]).toBeUndefined();
    const http = authz["http_service"];
    expect(http["path_prefix"]).toBe(AUTHZ_PREFIX);
    expect(http["server_uri"]["uri"]).toBe(`http://${SIDECAR_DEFAULTS.http}`);
    expect(seconds(http["server_uri"]["timeout"])).toBeGreaterThan(APPROVALS_CLIENT_TIMEOUT_S);
    const cluster = clusterOf(b, http["server_uri"]["cluster"])!;
    expect(endpointOf(cluster)).toBe(SIDECAR_DEFAULTS.http);
    expect(cluster["health_checks"][0]["http_health_check"]["path"]).toBe("/readyz");

    const upstream = http["authorization_response"]["allowed_upstream_headers"]["patterns"];
    for (const h of [HEADER_DECISION_ID, HEADER_ADVISORY, "x-aecp-fail-open", "x-aecp-execution-id"]) expect(matches(upstream, h), h).toBe(true);
    const toMetadata = http["authorization_response"]["dynamic_metadata_from_headers"]["patterns"];
    for (const h of [HEADER_DECISION_ID, HEADER_REASON]) expect(matches(toMetadata, h), h).toBe(true);
    // the sidecar sees what policies and the pause fingerprint read, and a retry's execution id
    for (const h of ["content-type", "x-aecp-execution-id", "x-request-id", "x-customer-region"]) expect(matches(authz["allowed_headers"]["patterns"], h), h).toBe(true);
    const format = hcmOf(b)["access_log"][0]["typed_config"]["log_format"]["json_format"] as Record<string, string>;
    for (const h of [HEADER_DECISION_ID, HEADER_REASON]) expect(Object.values(format).join(" ")).toContain(`%DYNAMIC_METADATA(${EXT_AUTHZ}:${h})%`);
  });
});

describe("the strict checker", () => {
  const base = (): Obj => load("envoy/envoy.yaml");
  const check = (b: Obj): ProtoIssue[] => checker.check(BOOTSTRAP, b);
  const AUTHZ_PATH = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config";

  it("rejects a misspelled top-level field, with its path and a hint", () => {
    const b = base();
    b["static_resource"] = b["static_resources"];
    delete b["static_resources"];
    const issues = check(b);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toEqual({ path: "static_resource", message: expect.stringContaining("unknown field `static_resource` in envoy.config.bootstrap.v3.Bootstrap (did you mean `static_resources`?)") });
  });

  it("rejects a misspelled field inside typed_config (plain protobufjs would drop it)", () => {
    const b = base();
    const authz = extAuthzOf(b);
    authz["failure_mode_alow"] = true;
    expect(check(b)).toEqual([{ path: `${AUTHZ_PATH}.failure_mode_alow`, message: expect.stringContaining("did you mean `failure_mode_allow`") }]);
  });

  it("rejects a wrong enum value", () => {
    const b = base();
    extAuthzOf(b)["transport_api_version"] = "V4";
    expect(check(b)).toEqual([{ path: `${AUTHZ_PATH}.transport_api_version`, message: expect.stringContaining("not a value of enum envoy.config.core.v3.ApiVersion") }]);
  });

  it("rejects wrong types: a number for a Duration, a string for a port, a list for a message", () => {
    const b = base();
    extAuthzOf(b)["grpc_service"]["timeout"] = 5;
    b["static_resources"]["clusters"][0]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]["port_value"] = "9191x";
    b["admin"]["address"] = [];
    expect(check(b).map((i) => i.path)).toEqual([
      "admin.address",
      `${AUTHZ_PATH}.grpc_service.timeout`,
      "static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value",
    ]);
  });

  it("accepts camelCase JSON names but not the same field twice", () => {
    const b = base();
    const authz = extAuthzOf(b);
    authz["failureModeAllow"] = false;
    expect(check(b)).toEqual([{ path: `${AUTHZ_PATH}.failureModeAllow`, message: "field `failure_mode_allow` is given twice (as `failure_mode_allow` and `failureModeAllow`)" }]);
    delete authz["failure_mode_allow"];
    expect(check(b)).toEqual([]);
  });

  it("rejects two members of a oneof, an unknown @type, a deprecated field and a missing required field", () => {
    const b = base();
    const authz = extAuthzOf(b);
    authz["http_service"] = { path_prefix: "/authz" };
    b["static_resources"]["clusters"][1]["http2_protocol_options"] = {};
    b["static_resources"]["clusters"][1]["health_checks"] = [{ interval: "5s", unhealthy_threshold: 2, healthy_threshold: 1, tcp_health_check: {} }];
    hcmOf(b)["http_filters"][1]["typed_config"]["@type"] = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Routr";
    const messages = check(b).map((i) => `${i.path}: ${i.message}`);
    expect(messages).toEqual([
      expect.stringMatching(/http_filters\[0\]\.typed_config: oneof `services` .* grpc_service, http_service$/),
      expect.stringMatching(/http_filters\[1\]\.typed_config\.@type: unknown type `envoy\.extensions\.filters\.http\.router\.v3\.Routr`/),
      "static_resources.clusters[1].http2_protocol_options: field `http2_protocol_options` of envoy.config.cluster.v3.Cluster is deprecated",
      "static_resources.clusters[1].health_checks[0]: required field `timeout` of envoy.config.core.v3.HealthCheck is missing",
    ]);
  });

  it("checks the per-route override's own rules (disabled must be true)", () => {
    const b = base();
    routesOf(b)[0]!["typed_per_filter_config"][EXT_AUTHZ]["disabled"] = false;
    expect(check(b)).toEqual([{ path: expect.stringMatching(/routes\[0\]\.typed_per_filter_config\["envoy\.filters\.http\.ext_authz"\]\.disabled$/), message: "`disabled` must be true" }]);
  });
});
