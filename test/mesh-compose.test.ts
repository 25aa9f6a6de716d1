// docker-compose.yml and the Dockerfile it builds: the file parses, and every
// command, flag, port, file and cross-reference in it is real —
//   - each `aecp <command> --flag …` (in `command:` lists and in `sh -ec`
//     scripts) exists on the commander program that `buildProgram`
//     (src/cli/main.ts) builds, with its required options and values;
//   - the sidecar's listeners are the addresses envoy/envoy.yaml calls, and
//     the sidecar, echo and Envoy share one network namespace;
//   - service URLs name a defined service and the port it listens on; the
//     PostgreSQL URL matches the postgres service; tokens agree;
//   - the key, bundle and policy paths line up from keygen to compile to
//     publish to the sidecar; files and folders referenced exist and are in the
//     image; images are pinned.
// It does not run Docker (no registry access here). A command that is not
// registered in the CLI (yet) is skipped with a printed reason, never passed
// silently; the inline approvals config goes through the approvals service's
// own validator when src/approvals is importable.

import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command, Option } from "commander";
import { parse as parseYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SIDECAR_DEFAULTS } from "../src/executive/index.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
// YAML documents are walked by key; `any` keeps the assertions readable.
type Obj = Record<string, any>;

const compose = parseYaml(readFileSync(join(ROOT, "docker-compose.yml"), "utf8"), { merge: true }) as Obj;
const services = compose["services"] as Record<string, Obj>;
const envoyConfig = parseYaml(readFileSync(join(ROOT, "envoy/envoy.yaml"), "utf8")) as Obj;
const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };

/** One `aecp …` invocation found in a service's command. */
interface Invocation {
  service: string;
  argv: string[];
}

/** `aecp` invocations of a service: a `command:` list, or the lines of an `sh -ec` script. */
function invocationsOf(service: string): Invocation[] {
  const cmd = services[service]!["command"] as string[] | undefined;
  if (cmd === undefined) return [];
  if (cmd[0] === "aecp") return [{ service, argv: cmd.slice(1) }];
  if (cmd[0] === "sh") {
    const script = cmd.at(-1)!;
    return script
      .split(/\n|&&|\|\||;/)
      .map((part) => part.trim().split(/\s+/))
      .filter((words) => words[0] === "aecp")
      .map((words) => ({ service, argv: words.slice(1) }));
  }
  return [];
}
const invocations = Object.keys(services).flatMap(invocationsOf);
const argOf = (inv: Invocation | undefined, flag: string): string[] => (inv?.argv ?? []).flatMap((a, i, all) => (a === flag ? [all[i + 1]!] : []));
const find = (command: string): Invocation | undefined => invocations.find((i) => i.argv[0] === command);
const hostPort = (url: string): { host: string; port: number } => {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
};
const listenPort = (service: string): number => Number(argOf(invocationsOf(service)[0], "--listen")[0]!.split(":").at(-1));

/** The CLI as users get it (main.ts runs only as the entry point, so importing it is inert). */
let program: Command;
async function loadProgram(): Promise<Command> {
  const mod = await import("../src/cli/main.js");
  return mod.buildProgram(async () => {});
}
beforeAll(async () => {
  program = await loadProgram();
});

/** Problems with one invocation against commander's definition of the command; [] when fine. */
function cliProblems(inv: Invocation): string[] {
  const [name, ...rest] = inv.argv;
  const cmd = program.commands.find((c) => c.name() === name);
  if (cmd === undefined) return [`aecp ${name}: no such command`];
  const problems: string[] = [];
  const seen = new Set<Option>();
  const positional: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const word = rest[i]!;
    if (!word.startsWith("-")) {
      positional.push(word);
      continue;
    }
    const opt = cmd.options.find((o) => o.long === word || o.short === word);
    if (opt === undefined) {
      problems.push(`aecp ${name}: unknown option ${word} (known: ${cmd.options.map((o) => o.long).join(" ")})`);
      continue;
    }
    seen.add(opt);
    if (opt.required || opt.optional) {
      const value = rest[i + 1];
      if (opt.required && (value === undefined || value.startsWith("--"))) problems.push(`aecp ${name}: ${word} needs a value`);
      else i++;
    }
  }
  for (const o of cmd.options) if (o.mandatory && !seen.has(o)) problems.push(`aecp ${name}: missing required ${o.long}`);
  const requiredArgs = cmd.registeredArguments.filter((a) => a.required).length;
  if (positional.length < requiredArgs) problems.push(`aecp ${name}: needs ${requiredArgs} argument(s), got ${positional.length}`);
  if (positional.length > requiredArgs && !cmd.registeredArguments.some((a) => a.variadic) && positional.length > cmd.registeredArguments.length) {
    problems.push(`aecp ${name}: unexpected argument(s) ${positional.slice(cmd.registeredArguments.length).join(" ")}`);
  }
  return problems;
}

describe("docker-compose.yml: aecp commands match the CLI", () => {
  it("finds the stack's aecp invocations", () => {
    expect(invocations.map((i) => `${i.service}: ${i.argv[0]}`)).toEqual([
      "init: keygen",
      "init: compile",
      "distribution: distribution",
      "publish: publish",
      "approvals: approvals",
      "sidecar: sidecar",
    ]);
  });

  for (const inv of invocations) {
    const name = inv.argv[0]!;
    // registration is known only after beforeAll; decide inside the test
    it(`${inv.service}: aecp ${name} uses only registered flags, with required options and values`, (ctx) => {
      if (!program.commands.some((c) => c.name() === name)) {
        console.warn(`mesh-compose: \`aecp ${name}\` is not registered in src/cli/main.ts yet (being written for another issue); its flags in docker-compose.yml are not checked`);
        ctx.skip();
      }
      expect(cliProblems(inv)).toEqual([]);
    });
  }

  it("the flag checker itself catches an unknown flag, a missing value and a missing required option", () => {
    expect(cliProblems({ service: "t", argv: ["sidecar", "--grpcc"] })).toEqual([expect.stringContaining("unknown option --grpcc")]);
    expect(cliProblems({ service: "t", argv: ["sidecar", "stray"] })).toEqual(["aecp sidecar: unexpected argument(s) stray"]);
    expect(cliProblems({ service: "t", argv: ["sidecar", "--name"] })).toEqual(["aecp sidecar: --name needs a value"]);
    expect(cliProblems({ service: "t", argv: ["publish", "b.bundle", "--to", "http://x"] })).toEqual(["aecp publish: missing required --key"]);
    expect(cliProblems({ service: "t", argv: ["nosuch"] })).toEqual(["aecp nosuch: no such command"]);
  });
});

describe("docker-compose.yml: ports, services and paths line up", () => {
  it("the sidecar serves exactly what envoy/envoy.yaml calls, in Envoy's network namespace", () => {
    const cluster = (name: string): string => {
      const c = envoyConfig["static_resources"]["clusters"].find((x: Obj) => x["name"] === name);
      const a = c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"];
      return `${a["address"]}:${a["port_value"]}`;
    };
    const sidecar = find("sidecar")!;
    expect(argOf(sidecar, "--grpc")).toEqual([cluster("aecp_sidecar")]);
    expect(argOf(sidecar, "--http")).toEqual([SIDECAR_DEFAULTS.http]);
    expect(services["sidecar"]!["network_mode"]).toBe("service:envoy");
    expect(services["echo"]!["network_mode"]).toBe("service:envoy");
    expect(services["echo"]!["command"].at(-1)).toBe(cluster("app"));
    // the mounted file is the one validated by test/mesh-envoy.test.ts, and its listener is published
    expect(services["envoy"]!["volumes"]).toContain("./envoy/envoy.yaml:/etc/envoy/envoy.yaml:ro");
    const listener = envoyConfig["static_resources"]["listeners"][0]["address"]["socket_address"]["port_value"];
    expect(services["envoy"]!["ports"]).toContain(`127.0.0.1:${listener}:${listener}`);
  });

  it("service URLs name a defined service on the port it listens on and publishes", () => {
    const sidecar = find("sidecar")!;
    const urls: Array<[string, string]> = [
      [argOf(sidecar, "--distribution")[0]!, "distribution"],
      [argOf(sidecar, "--approvals")[0]!, "approvals"],
      [argOf(find("publish"), "--to")[0]!, "distribution"],
    ];
    for (const [url, service] of urls) {
      const { host, port } = hostPort(url);
      expect(host).toBe(service);
      expect(services[service], service).toBeDefined();
      expect(listenPort(service)).toBe(port);
      expect(services[service]!["ports"]).toContain(`127.0.0.1:${port}:${port}`);
    }
  });

  it("approvals uses the postgres service with its credentials, and the tokens agree", () => {
    const db = new URL(argOf(find("approvals"), "--db")[0]!);
    const pg = services["postgres"]!;
    expect(db.protocol).toBe("postgres:");
    expect(db.hostname).toBe("postgres");
    expect(db.port).toBe("5432");
    expect(db.username).toBe(pg["environment"]["POSTGRES_USER"]);
    expect(db.password).toBe(pg["environment"]["POSTGRES_PASSWORD"]);
    expect(db.pathname).toBe(`/${pg["environment"]["POSTGRES_DB"]}`);
    expect(services["distribution"]!["environment"]["AECP_PUBLISH_TOKEN"]).toBe(services["publish"]!["environment"]["AECP_PUBLISH_TOKEN"]);

    // the inline approvals config: issue 5's keys, the sidecar's token, approvers for the bundle's groups
    const target = services["approvals"]!["configs"][0];
    expect(argOf(find("approvals"), "--config")).toEqual([target["target"]]);
    const config = parseYaml(compose["configs"][target["source"]]["content"]) as Obj;
    for (const k of Object.keys(config)) expect(["public_url", "service_tokens", "approvers", "notify", "link_secret", "grant_key"]).toContain(k);
    for (const a of config["approvers"] as Obj[]) for (const k of Object.keys(a)) expect(["id", "token", "groups", "roles", "slack_user_id"]).toContain(k);
    expect(config["service_tokens"]).toContain(services["sidecar"]!["environment"]["AECP_APPROVALS_TOKEN"]);
    const bundleDir = join(ROOT, "policies", argOf(find("sidecar"), "--name")[0]!);
    const groups = readdirSync(bundleDir)
      .filter((f) => f.endsWith(".policy"))
      .flatMap((f) => [...readFileSync(join(bundleDir, f), "utf8").matchAll(/APPROVERS:\s*(.+)/g)].flatMap((m) => [...m[1]!.matchAll(/"([^"]+)"/g)].map((g) => g[1]!)));
    expect(groups.length).toBeGreaterThan(0);
    const covered = new Set((config["approvers"] as Obj[]).flatMap((a) => a["groups"] as string[]));
    for (const g of groups) expect(covered.has(g), `an approver in group ${g}`).toBe(true);
  });

  it("the inline approvals config passes the approvals service's own validator", async (ctx) => {
    let approvalsOptions: ((raw: unknown, baseDir: string) => unknown) | undefined;
    try {
      ({ approvalsOptions } = (await import("../src/approvals/index.js")) as { approvalsOptions: typeof approvalsOptions });
    } catch (e) {
      console.warn(`mesh-compose: src/approvals (issue 5) not importable yet (${(e as Error).message.split("\n")[0]}); the compose approvals config is checked by key names only`);
      ctx.skip();
    }
    const target = services["approvals"]!["configs"][0];
    const config = parseYaml(compose["configs"][target["source"]]["content"]) as Obj;
    expect(() => approvalsOptions!(config, ROOT)).not.toThrow();
  });

  it("keys and bundles flow keygen → compile → publish → sidecar, from a policy folder that exists", () => {
    const keygen = find("keygen")!;
    const compile = find("compile")!;
    const keyDir = argOf(keygen, "--out")[0]!;
    expect(argOf(compile, "--key")).toEqual([`${keyDir}/aecp.key`]);
    expect(argOf(find("publish"), "--key")).toEqual([`${keyDir}/aecp.key`]);
    expect(argOf(find("sidecar"), "--pub")).toEqual([`${keyDir}/aecp.pub`]);
    const bundle = argOf(compile, "-o")[0]!;
    expect(find("publish")!.argv[1]).toBe(bundle);
    const name = argOf(compile, "--name")[0]!;
    expect(argOf(find("sidecar"), "--name")).toEqual([name]);
    expect(compile.argv[1]).toBe(`/app/policies/${name}`);
    expect(statSync(join(ROOT, "policies", name)).isDirectory()).toBe(true);
    // the state volume is mounted where the keys and bundles live
    for (const s of ["init", "publish", "sidecar"]) expect((services[s]!["volumes"] as string[]).some((v) => v.startsWith("aecp-state:/state"))).toBe(true);
  });

  it("references only defined services, volumes and configs; waits on the right conditions", () => {
    for (const [name, s] of Object.entries(services)) {
      for (const dep of Object.keys(s["depends_on"] ?? {})) expect(services[dep], `${name} depends on ${dep}`).toBeDefined();
      for (const v of (s["volumes"] ?? []) as string[]) {
        const source = v.split(":")[0]!;
        if (source.startsWith(".")) expect(existsSync(join(ROOT, source)), `${name}: ${source}`).toBe(true);
        else expect(Object.keys(compose["volumes"])).toContain(source);
      }
      for (const c of (s["configs"] ?? []) as Obj[]) expect(compose["configs"][c["source"]]).toBeDefined();
      const mode = s["network_mode"] as string | undefined;
      if (mode !== undefined) {
        expect(services[mode.replace(/^service:/, "")]).toBeDefined();
        expect(s["ports"], `${name} shares a namespace: publish on its owner`).toBeUndefined();
      }
    }
    expect(services["publish"]!["depends_on"]["init"]["condition"]).toBe("service_completed_successfully");
    expect(services["sidecar"]!["depends_on"]["publish"]["condition"]).toBe("service_completed_successfully");
    expect(services["approvals"]!["depends_on"]["postgres"]["condition"]).toBe("service_healthy");
  });

  it("images are pinned: the official Envoy v1.3x, PostgreSQL, and aecp built from the Dockerfile", () => {
    expect(services["envoy"]!["image"]).toMatch(/^envoyproxy\/envoy:v1\.3\d\.\d+$/);
    expect(services["postgres"]!["image"]).toMatch(/^postgres:\d+\.\d+$/);
    for (const s of ["init", "distribution", "publish", "approvals", "sidecar", "echo"]) {
      expect(services[s]!["image"]).toBe(`aecp:${pkg.version}`);
      expect(services[s]!["build"]).toEqual({ context: ".", dockerfile: "Dockerfile" });
    }
  });

  it("the Dockerfile builds from node:20-slim with npm ci + npm run build and copies only paths that exist", () => {
    expect([...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1])).toEqual(["node:20-slim", "node:20-slim"]);
    expect(dockerfile).toMatch(/^RUN npm ci && npm run build/m);
    expect(dockerfile).toMatch(/^USER node$/m);
    const copies = [...dockerfile.matchAll(/^COPY (?!--from)(.+)$/gm)].map((m) => m[1]!.trim().split(/\s+/).slice(0, -1)).flat();
    expect(copies.length).toBeGreaterThan(0);
    for (const src of copies) expect(existsSync(join(ROOT, src)), src).toBe(true);
    // what the compose commands run from /app is in the image
    const inImage = (p: string): boolean => copies.some((c) => p === c || p.startsWith(`${c.replace(/\/$/, "")}/`));
    for (const s of Object.values(services)) {
      for (const word of JSON.stringify(s["command"] ?? []).match(/\/app\/[\w./-]+/g) ?? []) {
        const rel = word.slice("/app/".length);
        expect(existsSync(join(ROOT, rel)), word).toBe(true);
        expect(inImage(rel), `${word} is copied into the image`).toBe(true);
      }
    }
  });
});

describe("docs stay true to these files", () => {
  const srcText = (dir: string): string =>
    readdirSync(dir, { withFileTypes: true })
      .map((e) => (e.isDirectory() ? srcText(join(dir, e.name)) : e.name.endsWith(".ts") ? readFileSync(join(dir, e.name), "utf8") : ""))
      .join("\n");

  it("docs/operations.md names only metrics and metadata keys the code (or envoy.yaml) defines", () => {
    // the code, plus Envoy's names for our cluster (`cluster.aecp_sidecar.…`)
    const src = srcText(join(ROOT, "src")) + readFileSync(join(ROOT, "envoy/envoy.yaml"), "utf8");
    const names = new Set([...readFileSync(join(ROOT, "docs/operations.md"), "utf8").matchAll(/\baecp_[a-z_]*[a-z]\b(?!_\*)/g)].map((m) => m[0]));
    expect(names.size).toBeGreaterThan(10);
    // Prometheus derives _bucket/_sum/_count series from a histogram's or summary's name
    for (const n of names) expect(src.includes(n.replace(/_(bucket|sum|count)$/, "")), n).toBe(true);
  });

  it("docs/deployment.md shows the images and addresses docker-compose.yml uses", () => {
    const doc = readFileSync(join(ROOT, "docs/deployment.md"), "utf8");
    for (const s of ["envoy", "postgres"]) expect(doc).toContain(`\`${services[s]!["image"]}\``);
    for (const p of ["8000", "8181", "8282"]) expect(doc).toContain(`http://127.0.0.1:${p}`);
  });
});

describe("envoy/echo-server.mjs (the echo upstream)", () => {
  let child: ReturnType<typeof spawn> | undefined;
  let port = 0;
  beforeAll(async () => {
    child = spawn(process.execPath, [join(ROOT, "envoy/echo-server.mjs"), "127.0.0.1:0"], { stdio: ["ignore", "pipe", "inherit"] });
    port = await new Promise<number>((resolve, reject) => {
      let out = "";
      child!.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child!.once("exit", (code) => reject(new Error(`echo server exited with ${code}`)));
    });
  });
  afterAll(() => {
    child?.kill("SIGTERM");
  });

  const get = (path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, path, method: "POST", headers }, (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      req.end("{\"a\":1}");
    });

  it("echoes method, path, headers (the decision id Envoy adds) and body size; /healthz is ok", async () => {
    const r = await get("/config/x?y=1", { "x-aecp-decision-id": "d-1", "content-type": "application/json" });
    expect(r.status).toBe(200);
    const echoed = JSON.parse(r.body) as Obj;
    expect(echoed).toMatchObject({ method: "POST", path: "/config/x?y=1", body_bytes: 7 });
    expect(echoed["headers"]["x-aecp-decision-id"]).toBe("d-1");
    expect(await get("/healthz")).toEqual({ status: 200, body: "ok\n" });
  });
});
