// Override (break-glass) end to end, offline at the enforcement point:
// automation asks for an override of a BLOCKING policy that has an EXCEPTION,
// an approver with the `override` role decides with a justification, the
// service signs a short-lived grant bound to the request fingerprint, and
// the sidecar side — verifyExceptionGrant + LoadedBundle.evaluate(attrs,
// waivers) — lets exactly that request through while the grant is valid.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { ApprovalsService, SqliteStore } from "../src/approvals/index.js";
import { LoadedBundle, TrustedKeys, generateKeyPairPem, parsePrivateKeyPem } from "../src/bundle/index.js";
import { attributesFromCheckRequestJson, HEADER_EXCEPTION_GRANT, verifyExceptionGrant } from "../src/executive/index.js";
import { requestFingerprint } from "../src/executive/fingerprint.js";
import { compile } from "../src/judicial/index.js";
import { pauseRequest, testOptions } from "./approvals-helpers.js";

const dir = mkdtempSync(join(tmpdir(), "aecp-grant-e2e-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const POLICY = `
POLICY no_prod_writes {
  SCOPE: requests WHERE request.method == "PUT" AND request.path STARTS_WITH "/config/"
  ENFORCEMENT: BLOCKING
  EXCEPTION: emergency_change
}`;

const req = (body: string, grant?: string) =>
  attributesFromCheckRequestJson({
    attributes: {
      source: { principal: "spiffe://cluster.local/ns/agents/sa/remediator" },
      request: { http: { method: "PUT", path: "/config/limits", host: "config.internal", headers: { "content-type": "application/json", ...(grant ? { [HEADER_EXCEPTION_GRANT]: grant } : {}) }, body } },
    },
  });

it("an override grant waives the policy's exception for exactly the approved request, until it expires", async () => {
  const kp = generateKeyPairPem();
  writeFileSync(join(dir, "grant.key"), kp.privatePem);
  const trustedKeys = TrustedKeys.fromPems([kp.publicPem]);
  const compiled = await compile([{ path: "p.policy", text: POLICY }], { name: "grant", key: parsePrivateKeyPem(kp.privatePem) });
  const bundle = LoadedBundle.load(compiled.bundle!, { trustedKeys });
  const attrs = req('{"limit":10}');
  expect(bundle.evaluate(attrs).effect).toBe("deny");

  const store = new SqliteStore(join(dir, "approvals.db"));
  await store.migrate();
  const svc = new ApprovalsService(store, testOptions({ grant_key: join(dir, "grant.key"), grant_ttl_s: 120 }));
  try {
    const { execution } = await svc.create(
      pauseRequest("grant", {
        fingerprint: requestFingerprint(attrs),
        requester: attrs.source.principal,
        policies: [{ policy: "no_prod_writes", enforcement: "BLOCKING", approvers: ["sre-oncall"], quorum: 1, timeout_ms: 600_000, exceptions: ["emergency_change"] }],
        violations: [{ policy: "no_prod_writes", enforcement: "BLOCKING" }],
      }),
      "service:1",
    );
    const decided = await svc.decide(execution.id, svc.options.approvers.get("root")!, { decision: "override", justification: "INC-7: limits too low, outage", channel: "api" });
    expect(decided.state).toBe("overridden");
    const token = decided.grant!.token;

    // the retried request carries the grant; the grant header is not part of the fingerprint
    const retry = req('{"limit":10}', token);
    const g = verifyExceptionGrant(token, { trustedKeys, fingerprint: requestFingerprint(retry) });
    expect(g.exceptions).toEqual(["emergency_change"]);
    const d = bundle.evaluate(retry, g.exceptions);
    expect(d.effect).toBe("allow");
    expect(d.waived.map((p) => p.policy)).toEqual(["no_prod_writes"]);

    // a different body is a different request: the grant does not apply
    expect(() => verifyExceptionGrant(token, { trustedKeys, fingerprint: requestFingerprint(req('{"limit":99999}', token)) })).toThrow(/different request/);
    // and it expires
    expect(() => verifyExceptionGrant(token, { trustedKeys, fingerprint: requestFingerprint(retry), now: Date.now() + 121_000 })).toThrow(/expired/);
  } finally {
    svc.stop();
    await store.close();
  }
});
