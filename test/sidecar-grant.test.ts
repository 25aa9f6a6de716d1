// Exception grants at the sidecar (`--grant-pub`): a break-glass grant signed
// by the approvals service's grant key waives its EXCEPTION for exactly the
// request it is bound to, verified offline; every bad grant is refused
// (403 AECP_GRANT_INVALID), even with --fail-open.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { emptyRequestAttributes, generateKeyPairPem, parsePrivateKeyPem, type RequestAttributes } from "../src/bundle/index.js";
import { encodeExceptionGrant, HEADER_EXCEPTION_GRANT, Sidecar, sidecarOptions, type CheckOutcome } from "../src/executive/index.js";
import { requestFingerprint } from "../src/executive/fingerprint.js";
import { compile } from "../src/judicial/index.js";

let dir: string;
let bundlePath: string;
let pubPath: string;
let grantPubPath: string;
let grantKeyPem: string;
let otherKeyPem: string;
const running: Sidecar[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "aecp-grant-"));
  const bundleKey = generateKeyPairPem();
  const grantKey = generateKeyPairPem();
  grantKeyPem = grantKey.privatePem;
  otherKeyPem = generateKeyPairPem().privatePem;
  pubPath = join(dir, "aecp.pub");
  grantPubPath = join(dir, "grant.pub");
  writeFileSync(pubPath, bundleKey.publicPem);
  writeFileSync(grantPubPath, grantKey.publicPem);
  const text = `POLICY no_delete {
  SCOPE: requests
  CONSTRAINT: request.method != "DELETE"
  ENFORCEMENT: BLOCKING
  EXCEPTION: incident_break_glass
}
POLICY no_purge {
  SCOPE: requests
  CONSTRAINT: request.path != "/purge"
  ENFORCEMENT: BLOCKING
}`;
  const r = await compile([{ path: "p.policy", text }], { name: "grants", key: parsePrivateKeyPem(bundleKey.privatePem) });
  expect(r.ok).toBe(true);
  bundlePath = join(dir, "b.bundle");
  writeFileSync(bundlePath, r.bundle!);
});

afterAll(async () => {
  for (const s of running) await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function start(extra: Record<string, unknown> = {}): Promise<Sidecar> {
  const s = new Sidecar(sidecarOptions({ bundle: bundlePath, pub: [pubPath], grpc: ["127.0.0.1:0"], http: "127.0.0.1:0", ...extra }));
  running.push(s);
  await s.start();
  return s;
}

function del(path = "/orders/7"): RequestAttributes {
  const a = emptyRequestAttributes();
  a.method = "DELETE";
  a.path = path;
  a.host = "shop.local";
  a.source.principal = "spiffe://cluster.local/ns/agents/sa/remediator";
  return a;
}

function grant(a: RequestAttributes, o: { key?: string; exceptions?: string[]; exp?: number; fingerprint?: string } = {}): string {
  const now = Math.floor(Date.now() / 1000);
  return encodeExceptionGrant(
    {
      execution_id: "ex-1",
      fingerprint: o.fingerprint ?? requestFingerprint(a),
      exceptions: o.exceptions ?? ["incident_break_glass"],
      policies: ["no_delete"],
      approver: "alice",
      iat: now,
      exp: o.exp ?? now + 300,
    },
    parsePrivateKeyPem(o.key ?? grantKeyPem),
  );
}

function withGrant(a: RequestAttributes, token: string): RequestAttributes {
  a.headers = { ...a.headers, [HEADER_EXCEPTION_GRANT]: token };
  return a;
}

const reason = (o: CheckOutcome): unknown => o.metadata["aecp_reason"];

/**
 * The token with one bit of its signature's first byte flipped. (Editing the
 * last base64url character is not enough: its low bits are padding, so some
 * edits decode to the same signature — a flaky test once.)
 */
function flipSignatureBit(token: string): string {
  const [payload, sig] = token.split(".") as [string, string];
  const bytes = Buffer.from(sig, "base64url");
  bytes[0] = bytes[0]! ^ 0x01;
  return `${payload}.${bytes.toString("base64url")}`;
}

describe("exception grants", () => {
  it("a valid grant waives its exception for the request it is bound to, and only that policy", async () => {
    const s = await start({ grantPub: [grantPubPath] });
    expect(s.decide(del()).allowed).toBe(false);
    const ok = s.decide(withGrant(del(), grant(del())));
    expect(ok.allowed).toBe(true);
    expect(ok.metadata["aecp_waived"]).toBe("no_delete");
    // a policy without that EXCEPTION still blocks
    const purge = s.decide(withGrant(del("/purge"), grant(del("/purge"))));
    expect(purge.allowed).toBe(false);
    expect(purge.metadata["aecp_policies"]).toBe("no_purge");
  });

  it("refuses a grant for another request, expired, signed by another key, for another exception, or mangled", async () => {
    const s = await start({ grantPub: [grantPubPath] });
    const cases: Array<[string, string]> = [
      ["other request", grant(del("/orders/8"))],
      ["expired", grant(del(), { exp: Math.floor(Date.now() / 1000) - 1 })],
      ["untrusted key", grant(del(), { key: otherKeyPem })],
      ["garbage", "not-a-grant"],
      ["flipped signature", flipSignatureBit(grant(del()))],
    ];
    for (const [what, token] of cases) {
      const o = s.decide(withGrant(del(), token));
      expect(o.allowed, what).toBe(false);
      expect(o.httpStatus, what).toBe(403);
      expect(reason(o), what).toBe("AECP_GRANT_INVALID");
    }
    // another exception name: verifies, but waives nothing here
    const other = s.decide(withGrant(del(), grant(del(), { exceptions: ["something_else"] })));
    expect(other.allowed).toBe(false);
    expect(reason(other)).toBe("AECP_POLICY_VIOLATION");
    expect(s.status().errors["AECP_GRANT_INVALID"]).toBe(5);
  });

  it("without --grant-pub every grant is refused, and --fail-open never turns a bad grant into an allow", async () => {
    const s = await start({ failOpen: true });
    const o = s.decide(withGrant(del(), grant(del())));
    expect(o.allowed).toBe(false);
    expect(reason(o)).toBe("AECP_GRANT_INVALID");
    const open = await start({ failOpen: true, grantPub: [grantPubPath] });
    expect(open.decide(withGrant(del(), "garbage")).allowed).toBe(false);
  });

  it("a missing grant key file is AECP_IO at start", () => {
    expect(() => new Sidecar(sidecarOptions({ bundle: bundlePath, pub: [pubPath], grantPub: [join(dir, "missing.pub")] }))).toThrow(/grant key/);
  });
});
