// approvals.yaml validation: unknown keys (at any level) and bad values are
// AECP_CONFIG_INVALID naming the key; the CLI exits 2 on them.

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { approvalsOptions } from "../src/approvals/index.js";
import { testConfig, TOKENS } from "./approvals-helpers.js";

const CLI = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "aecp-approvals-options-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fails = (cfg: Record<string, unknown>, key: string) => expect(() => approvalsOptions(cfg)).toThrow(expect.objectContaining({ code: "AECP_CONFIG_INVALID", message: expect.stringContaining(key) }));

describe("approvalsOptions", () => {
  it("fills defaults and hashes tokens", () => {
    const o = approvalsOptions(testConfig());
    expect(o).toMatchObject({ publicUrl: "http://127.0.0.1:8282", grantTtlS: 300, defaultTimeoutS: 3600, anyRejectionRejects: true, maxWaitS: 60 });
    expect(o.approvers.get("root")).toMatchObject({ roles: ["override"], principals: [expect.stringMatching(/^spiffe:/)] });
    expect([...o.serviceTokens.keys()][0]).toMatch(/^[0-9a-f]{64}$/);
    expect(o.slackUsers.get("UALICE")).toBe("alice");
    expect(Object.isFrozen(o)).toBe(true);
  });

  it("names unknown keys at every level and bad values", () => {
    fails({ ...testConfig(), surprise: 1 }, "surprise");
    fails(testConfig({ approvers: [{ id: "x", token: TOKENS.alice, group: ["a"] }] }), "approvers[0].group");
    fails(testConfig({ notify: { slack_webhook: "http://x" } }), "notify.slack_webhook");
    fails(testConfig({ notify: { webhooks: [{ url: "http://127.0.0.1:1/", secret: "short" }] } }), "notify.webhooks[0].secret");
    fails(testConfig({ service_tokens: ["short"] }), "service_tokens[0]");
    fails(testConfig({ approvers: [{ id: "a", token: TOKENS.alice }, { id: "b", token: TOKENS.alice }] }), "used twice");
    fails(testConfig({ approvers: [{ id: "a", token: TOKENS.alice, roles: ["admin"] }] }), "unknown role");
    fails(testConfig({ public_url: "ftp://x" }), "public_url");
    fails(testConfig({ grant_ttl_s: 0 }), "grant_ttl_s");
    const { link_secret: _drop, ...noSecret } = testConfig();
    fails(noSecret, "link_secret");
    expect(() => approvalsOptions(testConfig({ grant_key: "missing.pem" }), dir)).toThrow(/grant_key/);
  });

  it("the CLI exits 2 with the coded message on a bad config", () => {
    writeFileSync(join(dir, "bad.yaml"), stringify({ ...testConfig(), approverz: [] }));
    const r = spawnSync(process.execPath, [CLI, "approvals", "--config", join(dir, "bad.yaml"), "--db", join(dir, "x.db")], { encoding: "utf8", timeout: 30_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("error[AECP_CONFIG_INVALID]");
    expect(r.stderr).toContain("approverz");
  });
});
