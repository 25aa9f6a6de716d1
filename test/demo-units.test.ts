// The demo's parts in process (fast): the options validator, the state
// folder's secrets and approvals config (accepted by the approvals service's
// own validator), port reservation, and the inbox that receives the approvals
// webhook (signature, window, de-duplication, token, size bound, long poll).

import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parse as parseYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { approvalsOptions, webhookSignature } from "../src/approvals/index.js";
import { isAecpError } from "../src/common/index.js";
import { DemoInbox } from "../src/cli/commands/demo-inbox.js";
import { curlCommand, DEMO_REQUESTS, shellQuote } from "../src/cli/commands/demo-requests.js";
import { DEMO_DEFAULTS, demoOptions, demoPaths, loadOrCreateSecrets, writeApprovalsConfig } from "../src/cli/commands/demo-state.js";
import { reservePort } from "../src/cli/commands/demo-supervisor.js";

const code = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return isAecpError(e) ? e.code : `not an AecpError: ${String(e)}`;
  }
  return undefined;
};

describe("demoOptions", () => {
  it("fills the documented defaults and freezes", () => {
    const o = demoOptions({});
    expect(o).toEqual(DEMO_DEFAULTS);
    expect(Object.isFrozen(o)).toBe(true);
    expect(demoOptions({ approvalsPort: "0", httpPort: "9300" })).toMatchObject({ approvalsPort: 0, httpPort: 9300 });
  });

  it("rejects unknown keys, bad ports, one port twice and bad bundle names with AECP_CONFIG_INVALID", () => {
    expect(code(() => demoOptions({ port: 1 }))).toBe("AECP_CONFIG_INVALID");
    expect(code(() => demoOptions({ approvalsPort: "70000" }))).toBe("AECP_CONFIG_INVALID");
    expect(code(() => demoOptions({ approvalsPort: "-1" }))).toBe("AECP_CONFIG_INVALID");
    expect(code(() => demoOptions({ approvalsPort: "8181" }))).toBe("AECP_CONFIG_INVALID");
    expect(code(() => demoOptions({ approvalsPort: "0", httpPort: "0" }))).toBeUndefined(); // 0 = pick: may repeat
    expect(code(() => demoOptions({ follow: "../x" }))).toBe("AECP_CONFIG_INVALID");
    expect(code(() => demoOptions({ readyTimeoutMs: "5" }))).toBe("AECP_CONFIG_INVALID");
  });
});

describe("the state folder", () => {
  const state = mkdtempSync(join(tmpdir(), "aecp-demo-units-"));
  afterAll(() => rmSync(state, { recursive: true, force: true }));

  it("creates the secrets once (0600) and writes an approvals config the service accepts", () => {
    const p = demoPaths(state);
    const s = loadOrCreateSecrets(p);
    expect(loadOrCreateSecrets(p)).toEqual(s);
    expect(statSync(p.secrets).mode & 0o777).toBe(0o600);
    expect(s.serviceToken).not.toBe(s.approverTokens["alice"]);
    writeApprovalsConfig(p, s, "http://127.0.0.1:8282", "http://127.0.0.1:1234");
    const doc = parseYaml(readFileSync(p.approvalsConfig, "utf8")) as Record<string, unknown>;
    // the grant key is not there yet: the link secret requirement names it, nothing else is wrong
    const o = approvalsOptions({ ...doc, grant_key: undefined, link_secret: "x".repeat(32) }, dirname(p.approvalsConfig));
    expect(o.publicUrl).toBe("http://127.0.0.1:8282");
    expect([...o.approvers.keys()]).toEqual(["alice", "bob"]);
    expect(o.notify.webhooks).toEqual([{ url: "http://127.0.0.1:1234/hook", secret: s.webhookSecret }]);
    expect(statSync(p.approvalsConfig).mode & 0o777).toBe(0o600);
  });
});

describe("reservePort", () => {
  it("picks a free port for 0, and names the port and flag of a busy one (AECP_DEMO_PORT_IN_USE)", async () => {
    const free = await reservePort(0, "x", "--x-port");
    expect(free).toBeGreaterThan(0);
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, "127.0.0.1", () => r()));
    const busy = (holder.address() as { port: number }).port;
    try {
      const err = await reservePort(busy, "approvals service", "--approvals-port").catch((e: unknown) => e);
      expect(isAecpError(err, "AECP_DEMO_PORT_IN_USE")).toBe(true);
      expect((err as Error).message).toContain(`port ${busy} on 127.0.0.1 (approvals service) is already in use`);
      expect((err as Error).message).toContain("--approvals-port <port>");
    } finally {
      await new Promise((r) => holder.close(r));
    }
  });
});

describe("the printed curl commands", () => {
  it("quote every header and the body for a POSIX shell", () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(curlCommand("http://127.0.0.1:9192", DEMO_REQUESTS.pause)).toBe(
      `curl -i -X PUT http://127.0.0.1:9192/authz/config/feature-flags -H 'x-agent-id: agent-7' -H 'x-agent-on-behalf-of: INC-4711' -H 'x-environment: production' -H 'content-type: application/json' -d '{"checkout_v2":false}'`,
    );
  });
});

describe("DemoInbox (the approvals webhook receiver)", () => {
  const secret = "demo-webhook-secret-0123456789";
  const token = "demo-inbox-token-0123456789";
  const printed: string[][] = [];
  const inbox = new DemoInbox(secret, token, (lines) => printed.push(lines));
  const created = (id: string) =>
    JSON.stringify({
      event: "execution.created",
      execution: { id, state: "pending", location: "http://a/ui/executions/" + id, action: "PUT h/config", policies: [{ policy: "p", approvers: ["sre-oncall"], quorum: 1 }], expires_at: "2030-01-01T00:00:00Z" },
      links: [{ approver: "alice", approve: "http://a/l/approve-token", reject: "http://a/l/reject-token" }],
    });
  const post = (body: string, headers: Record<string, string>) => fetch(`${inbox.url}/hook`, { method: "POST", body, headers: { "content-type": "application/json", ...headers } });
  const signed = (body: string, delivery: string, ts = Math.floor(Date.now() / 1000)) => ({ "x-aecp-timestamp": String(ts), "x-aecp-signature": webhookSignature(secret, ts, body), "x-aecp-delivery-id": delivery });

  beforeAll(async () => {
    await inbox.listen();
  });
  afterAll(() => inbox.close());

  it("prints a signed execution.created once (a re-delivery is acknowledged, not shown again)", async () => {
    const body = created("ex_one");
    expect((await post(body, signed(body, "1"))).status).toBe(200);
    expect((await post(body, signed(body, "1"))).status).toBe(200);
    expect(printed.length).toBe(1);
    expect(printed[0]!.join("\n")).toContain("approve as alice: http://a/l/approve-token");
  });

  it("refuses a wrong, missing or stale signature (401) and a body over 1 MiB (413)", async () => {
    const body = created("ex_two");
    expect((await post(body, { ...signed(body, "2"), "x-aecp-signature": "v1=00" })).status).toBe(401);
    expect((await post(body, {})).status).toBe(401);
    expect((await post(body, signed(body, "3", Math.floor(Date.now() / 1000) - 3600))).status).toBe(401);
    expect((await post("x".repeat(1024 * 1024 + 1), signed("x", "4"))).status).toBe(413);
    expect(printed.length).toBe(1);
  });

  it("serves the links to the inbox token only, and long-polls until they arrive", async () => {
    expect((await fetch(`${inbox.url}/executions/ex_one`)).status).toBe(401);
    const got = await fetch(`${inbox.url}/executions/ex_one`, { headers: { authorization: `Bearer ${token}` } });
    expect(((await got.json()) as { links: Array<{ approve: string }> }).links[0]!.approve).toBe("http://a/l/approve-token");
    const waiting = fetch(`${inbox.url}/executions/ex_late?wait=5`, { headers: { authorization: `Bearer ${token}` } });
    const body = created("ex_late");
    await post(body, signed(body, "5"));
    expect((await waiting).status).toBe(200);
    expect((await fetch(`${inbox.url}/executions/ex_none`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(404);
  });
});
