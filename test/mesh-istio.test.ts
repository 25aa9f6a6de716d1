// istio/: the `aecp` extension provider (meshconfig.yaml), the ServiceEntry
// that maps it to 127.0.0.1 (serviceentry.yaml), the CUSTOM AuthorizationPolicy
// (authorizationpolicy.yaml) and the Deployment patch adding the sidecar
// container (sidecar-patch.yaml). Checked four ways:
//   1. the CRD schemas of @kubernetes-models/istio (`validate()`);
//   2. a strict unknown-field check against the same package's TypeScript
//      types: each document is compiled as an object literal of its model's
//      interface, so an unknown or misspelled key anywhere is an excess-property
//      error, reported with its path (the CRD schemas accept unknown keys).
//      TypeScript stops at the first problem of each document and skips
//      excess-property checks inside intersected unions, so every object
//      literal is also walked against its contextual type;
//   3. istiod's own AuthorizationPolicy rules for CUSTOM (re-stated below);
//   4. consistency: provider ↔ ServiceEntry ↔ sidecar flags ↔ CLI defaults.
// MeshConfig and Kubernetes core types have no models installed here (only
// @kubernetes-models/istio), so the extension provider is checked against the
// fields of Istio's MeshConfig.ExtensionProvider proto and the Deployment
// patch against the core/v1 field names, both re-stated in this file.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { parseAllDocuments } from "yaml";
import { describe, expect, it } from "vitest";
import { AuthorizationPolicy } from "@kubernetes-models/istio/security.istio.io/v1/AuthorizationPolicy";
import { ServiceEntry } from "@kubernetes-models/istio/networking.istio.io/v1/ServiceEntry";
import { IstioOperator } from "@kubernetes-models/istio/install.istio.io/v1alpha1/IstioOperator";
import { SIDECAR_DEFAULTS } from "../src/executive/index.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
// YAML documents are walked by key; `any` keeps the assertions readable.
type Obj = Record<string, any>;

function docs(file: string): Obj[] {
  return parseAllDocuments(readFileSync(join(ROOT, file), "utf8")).map((d) => {
    expect(d.errors, file).toEqual([]);
    return d.toJS() as Obj;
  });
}

// --- 2. strict unknown-field check with the models' TypeScript types ---------------------

const MODEL_TYPES: Record<string, { from: string; name: string }> = {
  ServiceEntry: { from: "@kubernetes-models/istio/networking.istio.io/v1/ServiceEntry", name: "IServiceEntry" },
  AuthorizationPolicy: { from: "@kubernetes-models/istio/security.istio.io/v1/AuthorizationPolicy", name: "IAuthorizationPolicy" },
};

/** Path of the innermost property at `pos` in `const docN: T = {...}`: `doc0.spec.rules[0].to`. */
function pathAt(sf: ts.SourceFile, pos: number): string {
  let node: ts.Node = sf;
  for (;;) {
    const next: ts.Node | undefined = node.getChildren(sf).find((c) => c.getStart(sf) <= pos && pos < c.getEnd());
    if (next === undefined) break;
    node = next;
  }
  const parts: string[] = [];
  for (let n: ts.Node | undefined = node; n !== undefined; n = n.parent) {
    if (ts.isPropertyAssignment(n)) parts.unshift(`.${(n.name as ts.StringLiteral).text}`);
    if (ts.isArrayLiteralExpression(n.parent ?? sf) && n.parent !== undefined) {
      const i = (n.parent as ts.ArrayLiteralExpression).elements.indexOf(n as ts.Expression);
      if (i >= 0) parts.unshift(`[${i}]`);
    }
    if (ts.isVariableDeclaration(n)) {
      parts.unshift(n.name.getText(sf));
      break;
    }
  }
  return parts.join("");
}

/** Type-check each document against its model interface; returns `path: message` per problem. */
function strictModelCheck(documents: Obj[]): string[] {
  const file = join(ROOT, "test", "__istio_models_check__.ts");
  const imports = Object.values(MODEL_TYPES).map((m) => `import type { ${m.name} } from "${m.from}";`);
  const decls = documents.map((d, i) => {
    const m = MODEL_TYPES[d["kind"] as string];
    if (m === undefined) throw new Error(`no model type for kind ${String(d["kind"])}`);
    return `export const doc${i}: ${m.name} = ${JSON.stringify(d, null, 1)};`;
  });
  const source = [...imports, ...decls].join("\n") + "\n";
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    skipLibCheck: true,
    types: [],
    lib: ["lib.es2022.d.ts"],
  };
  const host = ts.createCompilerHost(options);
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.ES2022, true);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, ...rest) => (name === file ? sf : getSourceFile(name, ...rest));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  const all = ts.getPreEmitDiagnostics(program);
  const foreign = all.filter((d) => d.file?.fileName !== file);
  if (foreign.length > 0) throw new Error(`model types did not load: ${ts.flattenDiagnosticMessageText(foreign[0]!.messageText, "\n")}`);
  const problems = all.map((d) => `${pathAt(sf, d.start ?? 0)}: ${ts.flattenDiagnosticMessageText(d.messageText, " ").slice(0, 200)}`);
  // TypeScript skips excess-property checks where the models intersect unions
  // (AuthorizationPolicy's spec is `A & (B | C)`), so also walk every object
  // literal: each key must be a property of some member of its contextual type.
  const checker = program.getTypeChecker();
  const members = (t: ts.Type): ts.Type[] => (t.isUnionOrIntersection() ? t.types.flatMap(members) : [t]);
  const visit = (node: ts.Node): void => {
    if (ts.isObjectLiteralExpression(node)) {
      const type = checker.getContextualType(node);
      const candidates = type === undefined ? [] : members(type);
      const open = candidates.some((t) => checker.getIndexInfosOfType(t).length > 0);
      for (const prop of node.properties) {
        const name = (prop.name as ts.StringLiteral).text;
        if (type === undefined || open || candidates.some((t) => checker.getPropertyOfType(t, name) !== undefined)) continue;
        const at = pathAt(sf, prop.getStart(sf));
        if (!problems.some((p) => p.startsWith(`${at}:`))) problems.push(`${at}: unknown field \`${name}\``);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return problems.sort();
}

// --- 3. istiod's AuthorizationPolicy rules for CUSTOM (pkg/config/validation) -----------

/** The errors istiod's validation webhook gives for these rules; [] when accepted. */
export function istiodCustomRuleErrors(spec: Obj): string[] {
  const errors: string[] = [];
  const action = spec["action"] ?? "ALLOW";
  const rules = spec["rules"] as Obj[] | undefined;
  if (action === "CUSTOM") {
    if (rules === undefined) errors.push("CUSTOM action without `rules` is meaningless as it will never be triggered");
    else if (!spec["provider"]?.["name"]) errors.push("`provider.name` must not be empty");
    for (const rule of rules ?? []) {
      for (const from of rule["from"] ?? []) {
        for (const k of ["namespaces", "notNamespaces", "serviceAccounts", "notServiceAccounts", "principals", "notPrincipals", "requestPrincipals", "notRequestPrincipals"]) {
          if ((from["source"]?.[k] ?? []).length > 0) errors.push(`From.${k} is currently not supported with CUSTOM action`);
        }
      }
      for (const when of rule["when"] ?? []) {
        const key = String(when["key"]);
        if (["source.namespace", "source.serviceAccount", "source.principal"].includes(key) || key.startsWith("request.auth.")) errors.push(`${key} is currently not supported with CUSTOM action`);
      }
    }
  }
  if (spec["provider"] !== undefined && action !== "CUSTOM") errors.push(`\`provider\` must not be with non CUSTOM action, found ${action}`);
  if (action === "DENY" && rules === undefined) errors.push("DENY action without `rules` is meaningless as it will never be triggered");
  (rules ?? []).forEach((rule, i) => {
    if (rule["from"] !== undefined && rule["from"].length === 0) errors.push(`\`from\` must not be empty, found at rule ${i}`);
    if (rule["to"] !== undefined && rule["to"].length === 0) errors.push(`\`to\` must not be empty, found at rule ${i}`);
    for (const to of rule["to"] ?? []) {
      const op = to["operation"] as Obj | undefined;
      if (op === undefined) errors.push(`\`to.operation\` must not be nil, found at rule ${i}`);
      else if (!["ports", "methods", "paths", "hosts", "notPorts", "notMethods", "notPaths", "notHosts"].some((k) => (op[k] ?? []).length > 0)) errors.push(`\`to.operation\` must not be empty, found at rule ${i}`);
      else for (const [k, v] of Object.entries(op)) if ((v as string[]).some((s) => s === "")) errors.push(`empty value not allowed in ${k}, found at rule ${i}`);
    }
  });
  return errors;
}

// --- MeshConfig.ExtensionProvider (istio.mesh.v1alpha1), JSON names --------------------------

type FieldKind = "string" | "uint32" | "bool" | "duration" | Record<string, unknown>;
const REQUEST_BODY: Record<string, FieldKind> = { maxRequestBytes: "uint32", allowPartialMessage: "bool", packAsBytes: "bool" };
const GRPC_PROVIDER: Record<string, FieldKind> = { service: "string", port: "uint32", timeout: "duration", failOpen: "bool", statusOnError: "string", includeRequestBodyInCheck: REQUEST_BODY };
/** The oneof `provider` of ExtensionProvider; only envoyExtAuthzGrpc is described field by field. */
const PROVIDER_KINDS = ["envoyExtAuthzHttp", "envoyExtAuthzGrpc", "zipkin", "lightstep", "datadog", "stackdriver", "opencensus", "skywalking", "opentelemetry", "prometheus", "envoyFileAccessLog", "envoyHttpAls", "envoyTcpAls", "envoyOtelAls"];

function checkFields(value: unknown, fields: Record<string, FieldKind>, path: string, out: string[]): void {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return void out.push(`${path}: expected an object`);
  for (const [k, v] of Object.entries(value)) {
    const kind = fields[k];
    if (kind === undefined) out.push(`${path}.${k}: unknown field`);
    else if (typeof kind === "object") checkFields(v, kind as Record<string, FieldKind>, `${path}.${k}`, out);
    else if (kind === "string" && typeof v !== "string") out.push(`${path}.${k}: expected a string`);
    else if (kind === "bool" && typeof v !== "boolean") out.push(`${path}.${k}: expected true or false`);
    else if (kind === "uint32" && !(Number.isInteger(v) && (v as number) >= 0 && (v as number) < 2 ** 32)) out.push(`${path}.${k}: expected a uint32`);
    else if (kind === "duration" && !(typeof v === "string" && /^\d+(\.\d{1,9})?s$/.test(v))) out.push(`${path}.${k}: expected a duration such as "5s"`);
  }
}

export function extensionProviderErrors(p: Obj, path: string): string[] {
  const out: string[] = [];
  if (typeof p["name"] !== "string" || p["name"] === "") out.push(`${path}.name: required`);
  const kinds = Object.keys(p).filter((k) => k !== "name");
  for (const k of kinds) if (!PROVIDER_KINDS.includes(k)) out.push(`${path}.${k}: unknown field`);
  if (kinds.length !== 1) out.push(`${path}: exactly one provider kind, found ${kinds.length}`);
  if (p["envoyExtAuthzGrpc"] !== undefined) checkFields(p["envoyExtAuthzGrpc"], GRPC_PROVIDER, `${path}.envoyExtAuthzGrpc`, out);
  return out;
}

// --- core/v1 field names for the Deployment patch ----------------------------------------

type Shape = "scalar" | "any" | "map" | Shape[] | { [key: string]: Shape };
const S = "scalar" as const;
const ANY = "any" as const;
const SECRET_KEY_REF: Shape = { name: S, key: S, optional: S };
const PROBE: Shape = {
  exec: ANY, httpGet: { path: S, port: S, host: S, scheme: S, httpHeaders: ANY }, tcpSocket: ANY, grpc: ANY,
  initialDelaySeconds: S, timeoutSeconds: S, periodSeconds: S, successThreshold: S, failureThreshold: S, terminationGracePeriodSeconds: S,
};
const CONTAINER: Shape = {
  name: S, image: S, command: [S], args: [S], workingDir: S,
  ports: [{ name: S, containerPort: S, hostPort: S, hostIP: S, protocol: S }],
  envFrom: ANY, env: [{ name: S, value: S, valueFrom: { secretKeyRef: SECRET_KEY_REF, configMapKeyRef: ANY, fieldRef: ANY, resourceFieldRef: ANY } }],
  resources: { limits: "map", requests: "map", claims: ANY }, resizePolicy: ANY, restartPolicy: S,
  volumeMounts: [{ name: S, mountPath: S, readOnly: S, subPath: S, subPathExpr: S, mountPropagation: S, recursiveReadOnly: S }], volumeDevices: ANY,
  livenessProbe: PROBE, readinessProbe: PROBE, startupProbe: PROBE, lifecycle: ANY, terminationMessagePath: S, terminationMessagePolicy: S, imagePullPolicy: S,
  securityContext: {
    capabilities: { add: [S], drop: [S] }, privileged: S, seLinuxOptions: ANY, windowsOptions: ANY, runAsUser: S, runAsGroup: S, runAsNonRoot: S,
    readOnlyRootFilesystem: S, allowPrivilegeEscalation: S, procMount: S, seccompProfile: ANY, appArmorProfile: ANY,
  },
  stdin: S, stdinOnce: S, tty: S,
};
const POD_SPEC_KEYS = [
  "volumes", "initContainers", "containers", "ephemeralContainers", "restartPolicy", "terminationGracePeriodSeconds", "activeDeadlineSeconds", "dnsPolicy",
  "nodeSelector", "serviceAccountName", "serviceAccount", "automountServiceAccountToken", "nodeName", "hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace",
  "securityContext", "imagePullSecrets", "hostname", "subdomain", "affinity", "schedulerName", "tolerations", "hostAliases", "priorityClassName", "priority",
  "dnsConfig", "readinessGates", "runtimeClassName", "enableServiceLinks", "preemptionPolicy", "overhead", "topologySpreadConstraints", "setHostnameAsFQDN",
  "os", "hostUsers", "schedulingGates", "resourceClaims",
];
const POD_SPEC: Shape = {
  ...Object.fromEntries(POD_SPEC_KEYS.map((k) => [k, ANY])),
  containers: [CONTAINER],
  volumes: [{ name: S, secret: { secretName: S, items: ANY, defaultMode: S, optional: S }, emptyDir: { medium: S, sizeLimit: S }, configMap: ANY, persistentVolumeClaim: ANY, projected: ANY, downwardAPI: ANY, csi: ANY, ephemeral: ANY, hostPath: ANY, image: ANY }],
};
const OBJECT_META: Shape = { name: S, namespace: S, labels: "map", annotations: "map", generateName: S, finalizers: ANY, ownerReferences: ANY };
const DEPLOYMENT_PATCH: Shape = {
  metadata: OBJECT_META,
  spec: { replicas: S, selector: ANY, strategy: ANY, minReadySeconds: S, revisionHistoryLimit: S, paused: S, progressDeadlineSeconds: S, template: { metadata: OBJECT_META, spec: POD_SPEC } },
};

function shapeErrors(value: unknown, shape: Shape, path: string, out: string[] = []): string[] {
  if (shape === ANY) return out;
  if (shape === S) {
    if (value === null || typeof value === "object") out.push(`${path}: expected a scalar`);
    return out;
  }
  if (shape === "map") {
    if (value === null || typeof value !== "object" || Array.isArray(value)) out.push(`${path}: expected a map`);
    else for (const [k, v] of Object.entries(value)) if (typeof v !== "string" && typeof v !== "number") out.push(`${path}.${k}: expected a string`);
    return out;
  }
  if (Array.isArray(shape)) {
    if (!Array.isArray(value)) out.push(`${path}: expected a list`);
    else value.forEach((v, i) => shapeErrors(v, shape[0]!, `${path}[${i}]`, out));
    return out;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) return out.concat(`${path}: expected an object`);
  for (const [k, v] of Object.entries(value)) {
    const sub = shape[k];
    if (sub === undefined) out.push(`${path}.${k}: unknown field`);
    else shapeErrors(v, sub, `${path}.${k}`, out);
  }
  return out;
}

// --- the tests -------------------------------------------------------------------------------

const [operator] = docs("istio/meshconfig.yaml") as [Obj];
const [serviceEntry] = docs("istio/serviceentry.yaml") as [Obj];
const policies = docs("istio/authorizationpolicy.yaml");
const [patch] = docs("istio/sidecar-patch.yaml") as [Obj];
const provider = (operator["spec"]["meshConfig"]["extensionProviders"] as Obj[]).find((p) => p["name"] === "aecp")!;
const sidecar = (patch["spec"]["template"]["spec"]["containers"] as Obj[]).find((c) => c["name"] === "aecp-sidecar")!;
const argValues = (flag: string): string[] => (sidecar["args"] as string[]).flatMap((a, i, all) => (a === flag ? [all[i + 1]!] : []));

describe("istio/ resources", () => {
  it("pass the CRD schemas of @kubernetes-models/istio", () => {
    expect(() => new IstioOperator(operator as never).validate()).not.toThrow();
    expect(() => new ServiceEntry(serviceEntry as never).validate()).not.toThrow();
    for (const p of policies) expect(() => new AuthorizationPolicy(p as never).validate()).not.toThrow();
    expect(policies.map((p) => p["spec"]["action"])).toEqual(["CUSTOM", "DENY"]);
  });

  it("have no unknown fields (strict check against the models' types)", () => {
    expect(strictModelCheck([serviceEntry, ...policies])).toEqual([]);
  });

  it("the strict check names a misspelled or unknown field and a wrong type, with its path", () => {
    // TypeScript reports the first problem of each document, so one per document
    const misspelled = structuredClone(policies[0]!);
    misspelled["spec"]["provider"]["nmae"] = "aecp";
    const nested = structuredClone(policies[0]!);
    nested["spec"]["rules"][0]["to"][0]["operation"]["notPath"] = ["/x"];
    const wrongType = structuredClone(serviceEntry);
    wrongType["spec"]["ports"][0]["number"] = "9191";
    const problems = strictModelCheck([misspelled, nested, wrongType]);
    expect(problems).toEqual([
      expect.stringMatching(/^doc0\.spec\.provider\.nmae: Object literal may only specify known properties/),
      "doc1.spec.rules[0].to[0].operation.notPath: unknown field `notPath`",
      expect.stringMatching(/^doc2\.spec\.ports\[0\]\.number: Type 'string' is not assignable to type 'number'/),
    ]);
  });

  it("the AuthorizationPolicies pass istiod's rules; the CUSTOM one names the aecp provider", () => {
    for (const p of policies) expect(istiodCustomRuleErrors(p["spec"])).toEqual([]);
    expect(policies[0]!["spec"]["provider"]["name"]).toBe(provider["name"]);
    // both select the patched pods
    const labels = patch["spec"]["template"]["metadata"]["labels"];
    for (const p of policies) for (const [k, v] of Object.entries(p["spec"]["selector"]["matchLabels"] as Obj)) expect(labels[k]).toBe(v);
  });

  it("istiod's rules: CUSTOM needs rules and a provider name; a provider only goes with CUSTOM", () => {
    const spec = structuredClone(policies[0]!["spec"]);
    expect(istiodCustomRuleErrors({ ...spec, rules: undefined })).toEqual([expect.stringContaining("CUSTOM action without `rules`")]);
    expect(istiodCustomRuleErrors({ ...spec, provider: { name: "" } })).toEqual(["`provider.name` must not be empty"]);
    expect(istiodCustomRuleErrors({ ...spec, action: "ALLOW" })).toEqual(["`provider` must not be with non CUSTOM action, found ALLOW"]);
    expect(istiodCustomRuleErrors({ ...spec, rules: [{ from: [{ source: { principals: ["x"] } }] }] })).toEqual(["From.principals is currently not supported with CUSTOM action"]);
    expect(istiodCustomRuleErrors({ ...spec, rules: [{ to: [{ operation: {} }] }] })).toEqual(["`to.operation` must not be empty, found at rule 0"]);
  });

  it("the extension provider has only EnvoyExternalAuthorizationGrpcProvider fields, fails closed and outlasts the pause path", () => {
    const providers = operator["spec"]["meshConfig"]["extensionProviders"] as Obj[];
    providers.forEach((p, i) => expect(extensionProviderErrors(p, `extensionProviders[${i}]`)).toEqual([]));
    expect(Object.keys(operator["spec"])).toEqual(["meshConfig"]);
    expect(Object.keys(operator["spec"]["meshConfig"])).toEqual(["extensionProviders"]);
    const grpc = provider["envoyExtAuthzGrpc"];
    expect(grpc["failOpen"]).toBe(false);
    expect(Number(String(grpc["timeout"]).slice(0, -1))).toBeGreaterThan(2); // the sidecar's 2 s approvals client timeout
    expect(grpc["includeRequestBodyInCheck"]).toEqual({ maxRequestBytes: SIDECAR_DEFAULTS.maxBodyBytes, allowPartialMessage: false, packAsBytes: true });
    // negative: a misspelling and a second provider kind are caught
    const bad = structuredClone(provider);
    bad["envoyExtAuthzGrpc"]["failopen"] = false;
    bad["envoyExtAuthzHttp"] = {};
    expect(extensionProviderErrors(bad, "p")).toEqual(["p: exactly one provider kind, found 2", "p.envoyExtAuthzGrpc.failopen: unknown field"]);
  });

  it("the ServiceEntry maps the provider's host and port to the sidecar's gRPC listener on 127.0.0.1", () => {
    const grpc = provider["envoyExtAuthzGrpc"];
    const spec = serviceEntry["spec"];
    expect(spec["hosts"]).toEqual([grpc["service"]]);
    expect(spec["endpoints"]).toEqual([{ address: "127.0.0.1" }]);
    expect(spec["resolution"]).toBe("STATIC");
    expect(spec["ports"]).toEqual([expect.objectContaining({ number: grpc["port"], protocol: "GRPC" })]);
    expect(argValues("--grpc")).toEqual([`127.0.0.1:${grpc["port"]}`]);
    expect(SIDECAR_DEFAULTS.grpc).toEqual([`127.0.0.1:${grpc["port"]}`]);
  });

  it("the Deployment patch: core/v1 fields only; keys from a Secret, cache on an emptyDir, readiness on /readyz:9192", () => {
    expect(shapeErrors(patch, DEPLOYMENT_PATCH, "patch")).toEqual([]);
    expect(shapeErrors({ spec: { template: { spec: { containers: [{ name: "x", imagePullPolcy: "Always" }] } } } }, DEPLOYMENT_PATCH, "p")).toEqual(["p.spec.template.spec.containers[0].imagePullPolcy: unknown field"]);
    const pod = patch["spec"]["template"]["spec"];
    const volume = (name: string): Obj => (pod["volumes"] as Obj[]).find((v) => v["name"] === name)!;
    const mountOf = (dir: string): Obj => (sidecar["volumeMounts"] as Obj[]).find((m) => dir.startsWith(m["mountPath"]))!;
    expect(sidecar["args"][0]).toBe("sidecar");
    for (const pub of argValues("--pub")) {
      const m = mountOf(pub);
      expect(m["readOnly"]).toBe(true);
      expect(volume(m["name"])["secret"]["secretName"]).toBe("aecp-trusted-keys");
    }
    const [cacheDir] = argValues("--cache-dir");
    expect(volume(mountOf(cacheDir!)["name"])["emptyDir"]).toBeDefined();
    const httpPort = Number(argValues("--http")[0]!.split(":")[1]);
    expect(httpPort).toBe(Number(SIDECAR_DEFAULTS.http.split(":")[1]));
    expect(sidecar["readinessProbe"]["httpGet"]).toEqual({ path: "/readyz", port: httpPort });
    expect(sidecar["resources"]["requests"]).toBeDefined();
    expect(sidecar["resources"]["limits"]["memory"]).toBeDefined();
    expect(sidecar["securityContext"]["readOnlyRootFilesystem"]).toBe(true);
    expect(sidecar["env"]).toEqual([{ name: "AECP_APPROVALS_TOKEN", valueFrom: { secretKeyRef: { name: "aecp-approvals-token", key: "token" } } }]);
    // the DENY policy keeps the mesh off that port
    expect(policies[1]!["spec"]["rules"][0]["to"][0]["operation"]["ports"]).toEqual([String(httpPort)]);
  });
});
