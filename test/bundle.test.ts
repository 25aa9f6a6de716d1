// The signed bundle file and the evaluator host's load path: every tampering
// or malformation is rejected with its own stable code, before any
// WebAssembly is instantiated; key rotation (several trusted keys) works.

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { beforeAll, describe, expect, it } from "vitest";
import {
  BundleFileSchema,
  LoadedBundle,
  MAGIC,
  SignedContentSchema,
  TrustedKeys,
  emptyRequestAttributes,
  extractCoreModule,
  generateKeyPairPem,
  parsePrivateKeyPem,
  parsePublicKeyPem,
  readBundle,
  writeBundle,
  type BundleMetadata,
  type PrivateKey,
} from "../src/bundle/index.js";
import { codeOf } from "./helpers/error-code.js";
import { compile } from "../src/judicial/index.js";

const SOURCES = [
  {
    path: "p.policy",
    text: `ATTRIBUTE resource.type = request.headers["x-resource-type"]
POLICY admin_only {
  SCOPE: requests WHERE request.path STARTS_WITH "/admin"
  CONSTRAINT: source.namespace == "ops"
  ENFORCEMENT: BLOCKING
}`,
  },
];

let key: PrivateKey;
let trusted: TrustedKeys;
let bundle: Uint8Array;
let metadata: BundleMetadata;
let component: Uint8Array;


function withBody(mutate: (f: ReturnType<typeof fromBinary<typeof BundleFileSchema>>) => void): Uint8Array {
  const f = fromBinary(BundleFileSchema, bundle.subarray(MAGIC.length));
  mutate(f);
  const body = toBinary(BundleFileSchema, f);
  const out = new Uint8Array(MAGIC.length + body.length);
  out.set(MAGIC);
  out.set(body, MAGIC.length);
  return out;
}

beforeAll(async () => {
  const kp = generateKeyPairPem();
  key = parsePrivateKeyPem(kp.privatePem);
  trusted = new TrustedKeys([parsePublicKeyPem(kp.publicPem)]);
  const r = await compile(SOURCES, { name: "t", key });
  expect(r.ok).toBe(true);
  bundle = r.bundle!;
  metadata = r.metadata!;
  component = r.component!;
});

describe("bundle verification", () => {
  it("loads and evaluates a valid bundle", () => {
    const b = LoadedBundle.load(bundle, { trustedKeys: trusted });
    const a = emptyRequestAttributes();
    a.path = "/admin/users";
    a.source = { namespace: "dev" };
    const d = b.evaluate(a);
    expect(d.effect).toBe("deny");
    expect(d.violations).toEqual([{ policy: "admin_only", enforcement: "BLOCKING" }]);
    expect(d.bundle.keyId).toBe(key.keyId);
    expect(d.bundle.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("rejects a flipped byte anywhere in the signed content", () => {
    const f = fromBinary(BundleFileSchema, bundle.subarray(MAGIC.length));
    // flip bytes at several positions inside `signed` (metadata and component)
    for (const pos of [3, Math.floor(f.signed.length / 2), f.signed.length - 2]) {
      const bad = withBody((x) => {
        x.signed = x.signed.slice();
        x.signed[pos]! ^= 0x01;
      });
      expect(codeOf(() => readBundle(bad, { trustedKeys: trusted }))).toBe("AECP_BUNDLE_DIGEST_MISMATCH");
    }
  });

  it("rejects a recomputed digest without a matching signature", async () => {
    const { createHash } = await import("node:crypto");
    const bad = withBody((x) => {
      x.signed = x.signed.slice();
      x.signed[10]! ^= 0x01;
      x.digest = new Uint8Array(createHash("sha256").update(x.signed).digest());
    });
    expect(codeOf(() => readBundle(bad, { trustedKeys: trusted }))).toBe("AECP_BUNDLE_SIGNATURE_INVALID");
  });

  it("rejects a flipped signature bit", () => {
    const bad = withBody((x) => {
      x.signatures[0]!.signature = x.signatures[0]!.signature.slice();
      x.signatures[0]!.signature[0]! ^= 0x80;
    });
    expect(codeOf(() => readBundle(bad, { trustedKeys: trusted }))).toBe("AECP_BUNDLE_SIGNATURE_INVALID");
  });

  it("rejects an unsigned bundle and one signed by an untrusted key", () => {
    expect(codeOf(() => readBundle(withBody((x) => (x.signatures = [])), { trustedKeys: trusted }))).toBe("AECP_BUNDLE_UNSIGNED");
    const other = new TrustedKeys([parsePublicKeyPem(generateKeyPairPem().publicPem)]);
    expect(codeOf(() => readBundle(bundle, { trustedKeys: other }))).toBe("AECP_BUNDLE_UNTRUSTED_KEY");
    expect(codeOf(() => readBundle(bundle, { trustedKeys: new TrustedKeys() }))).toBe("AECP_BUNDLE_UNTRUSTED_KEY");
  });

  it("accepts any of several trusted keys (rotation) and reports which one signed", () => {
    const newKp = generateKeyPairPem();
    const both = new TrustedKeys([parsePublicKeyPem(newKp.publicPem), ...trusted.ids().map((id) => trusted.get(id)!)]);
    expect(readBundle(bundle, { trustedKeys: both }).keyId).toBe(key.keyId);
    const rotated = writeBundle(metadata, component, parsePrivateKeyPem(newKp.privatePem));
    expect(readBundle(rotated, { trustedKeys: both }).keyId).toBe(parsePublicKeyPem(newKp.publicPem).keyId);
    // after the old key is retired, bundles signed with it no longer load
    const onlyNew = new TrustedKeys([parsePublicKeyPem(newKp.publicPem)]);
    expect(codeOf(() => readBundle(bundle, { trustedKeys: onlyNew }))).toBe("AECP_BUNDLE_UNTRUSTED_KEY");
  });

  it("rejects bad magic, truncation, garbage, wrong format version and oversize", () => {
    const noMagic = bundle.slice();
    noMagic[0] = 0x41 + 1;
    expect(codeOf(() => readBundle(noMagic, { trustedKeys: trusted }))).toBe("AECP_BUNDLE_MALFORMED");
    expect(codeOf(() => readBundle(bundle.subarray(0, bundle.length - 7), { trustedKeys: trusted }))).toMatch(/AECP_BUNDLE_(MALFORMED|DIGEST_MISMATCH)/);
    expect(codeOf(() => readBundle(new Uint8Array([...MAGIC, 0xff, 0xff, 0xff]), { trustedKeys: trusted }))).toBe("AECP_BUNDLE_MALFORMED");
    expect(codeOf(() => readBundle(new Uint8Array(3), { trustedKeys: trusted }))).toBe("AECP_BUNDLE_MALFORMED");
    expect(codeOf(() => readBundle(withBody((x) => (x.formatVersion = 2)), { trustedKeys: trusted }))).toBe("AECP_BUNDLE_FORMAT_VERSION");
    expect(codeOf(() => readBundle(bundle, { trustedKeys: trusted, maxBundleBytes: 100 }))).toBe("AECP_BUNDLE_TOO_LARGE");
  });

  it("rejects a correctly signed bundle with the wrong ABI version or invalid WebAssembly", () => {
    const wrongAbi = writeBundle({ ...metadata, abiVersion: 99 }, component, key);
    expect(codeOf(() => LoadedBundle.load(wrongAbi, { trustedKeys: trusted }))).toBe("AECP_BUNDLE_ABI_MISMATCH");
    const garbage = writeBundle(metadata, new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0, 1, 3, 1, 2, 3]), key);
    expect(codeOf(() => LoadedBundle.load(garbage, { trustedKeys: trusted }))).toBe("AECP_BUNDLE_WASM_INVALID");
    const notComponent = writeBundle(metadata, extractCoreModule(component), key);
    expect(codeOf(() => LoadedBundle.load(notComponent, { trustedKeys: trusted }))).toBe("AECP_BUNDLE_WASM_INVALID");
  });

  it("signs SHA-256 of the exact SignedContent bytes (the documented format)", async () => {
    const { createHash } = await import("node:crypto");
    const f = fromBinary(BundleFileSchema, bundle.subarray(MAGIC.length));
    expect(Buffer.from(f.digest).toString("hex")).toBe(createHash("sha256").update(f.signed).digest("hex"));
    const content = fromBinary(SignedContentSchema, f.signed);
    expect(content.metadata?.name).toBe("t");
    expect(toBinary(SignedContentSchema, create(SignedContentSchema, content))).toEqual(f.signed);
  });
});

describe("keys", () => {
  it("rejects non-PEM and non-Ed25519 keys with AECP_KEY_INVALID", async () => {
    const { generateKeyPairSync } = await import("node:crypto");
    expect(codeOf(() => parsePrivateKeyPem("not a key"))).toBe("AECP_KEY_INVALID");
    expect(codeOf(() => parsePublicKeyPem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))).toBe("AECP_KEY_INVALID");
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
    expect(codeOf(() => parsePublicKeyPem(ec.publicKey.export({ type: "spki", format: "pem" }).toString()))).toBe("AECP_KEY_INVALID");
    const kp = generateKeyPairPem();
    expect(codeOf(() => parsePublicKeyPem(kp.privatePem))).toBe("AECP_KEY_INVALID");
  });

  it("derives the same key id from the private and the public PEM", () => {
    const kp = generateKeyPairPem();
    expect(parsePrivateKeyPem(kp.privatePem).keyId).toBe(parsePublicKeyPem(kp.publicPem).keyId);
    expect(parsePublicKeyPem(kp.publicPem).keyId).toMatch(/^[0-9a-f]{32}$/);
  });
});

/** One policy file compiled and loaded (it must compile). */
async function loadPolicies(name: string, text: string): Promise<LoadedBundle> {
  const r = await compile([{ path: `${name}.policy`, text }], { name, key });
  expect(r.ok).toBe(true);
  return LoadedBundle.load(r.bundle!, { trustedKeys: trusted });
}

describe("evaluation keeps nothing of a request", () => {
  // Regression: strings not in the bundle's dictionary were given ids in one
  // Map shared by every evaluation and cleared at the next. That Map lived in
  // the old generation, and V8 allocates the tables clear() and rehashing
  // make there too: ~135 bytes of old-generation garbage per request, which
  // only a mark-compact reclaims. Each evaluation now gives them ids from a
  // short list cleared when it returns (a fresh Map past 16 strings); unknown
  // strings still compare by content within it.
  it("gives unknown strings per-evaluation ids and drops them when the evaluation returns", async () => {
    const b = await loadPolicies(
      "eq",
      `ATTRIBUTE app.a = request.headers["x-a"]
ATTRIBUTE app.b = request.headers["x-b"]
POLICY a_is_b { SCOPE: requests CONSTRAINT: app.a == app.b ENFORCEMENT: BLOCKING }`,
    );
    // nothing of a request is held after an evaluation: no Map, and the list's used entries cleared
    const held = () => {
      const h = b as unknown as { unknown?: Map<string, number>; unknownList: string[]; unknownCount: number };
      return h.unknown !== undefined || h.unknownCount !== 0 || h.unknownList.some((x) => x !== "") ? "held" : undefined;
    };
    const decide = (a: string, bv: string) => {
      const attrs = emptyRequestAttributes();
      attrs.headers = { "x-a": a, "x-b": bv };
      return b.evaluate(attrs).effect;
    };
    const unknowns = Array.from({ length: 200 }, (_, i) => `never-in-the-dictionary-${i}`);
    for (let i = 0; i < unknowns.length; i++) {
      const u = unknowns[i]!;
      const other = unknowns[(i + 1) % unknowns.length]!;
      // the same unknown string in both slots, then two different ones, in
      // alternating order: an id left over from an earlier evaluation must
      // never make two different strings equal, or equal ones different
      expect(decide(u, u)).toBe("allow");
      expect(held()).toBeUndefined();
      expect(decide(u, other)).toBe("deny");
      expect(decide(other, u)).toBe("deny");
      expect(held()).toBeUndefined();
    }
    // and slot values given directly (replay, conformance) take the same path
    expect(b.evaluateSlots(["x", "x"]).effect).toBe("allow");
    expect(held()).toBeUndefined();
  });

  it("gives the same ids past the short list, where a Map takes over (more than 16 unknown strings)", async () => {
    // 20 attributes, used in order x-0 … x-19 (slots 0-19: the last four get Map ids); the policy
    // holds when x-19 equals x-0 (a Map id and a list id) and x-18 equals x-17 (two Map ids)
    const attrsText = Array.from({ length: 20 }, (_, i) => `ATTRIBUTE app.a${i} = request.headers["x-${i}"]`).join("\n");
    const ne = Array.from({ length: 20 }, (_, i) => `app.a${i} != "k"`).join(" AND ");
    const b = await loadPolicies("many", `${attrsText}\nPOLICY same { SCOPE: requests CONSTRAINT: ${ne} AND app.a19 == app.a0 AND app.a18 == app.a17 ENFORCEMENT: BLOCKING }`);
    expect(b.slots.map((x) => x.name)).toEqual(Array.from({ length: 20 }, (_, i) => `app.a${i}`));
    const h = b as unknown as { unknown?: Map<string, number>; unknownList: string[]; unknownCount: number };
    const decide = (same: boolean, round: number) => {
      const attrs = emptyRequestAttributes();
      const headers: Record<string, string> = {};
      for (let i = 0; i < 20; i++) headers[`x-${i}`] = `unknown-${round}-${i}`;
      if (same) {
        headers["x-19"] = headers["x-0"]!;
        headers["x-18"] = headers["x-17"]!;
      }
      attrs.headers = headers;
      return b.evaluate(attrs).effect;
    };
    for (let round = 0; round < 50; round++) {
      expect(decide(true, round)).toBe("allow");
      expect(decide(false, round)).toBe("deny");
      expect(h.unknown).toBeUndefined();
      expect(h.unknownCount).toBe(0);
      expect(h.unknownList.every((x) => x === "")).toBe(true);
    }
  });
});

describe("per-slot memo of the last dictionary match", () => {
  // The host remembers, per slot, the dictionary string the slot's value last
  // matched and compares the next value with it before looking it up. A
  // remembered match must never decide a request whose value differs, an
  // unknown value must never take a remembered id, and the memo keeps
  // dictionary strings only (the dictionary's own string objects, so nothing
  // of a request outlives its evaluation).
  it("decides every request as a bundle that never saw the previous one, over random sequences", async () => {
    const text = `ATTRIBUTE app.region = request.headers["x-region"]
ATTRIBUTE app.tenant = request.headers["x-tenant"]
POLICY eu_only { SCOPE: requests CONSTRAINT: app.region IN ["eu", "eu-west"] ENFORCEMENT: BLOCKING }
POLICY tenant_match { SCOPE: requests CONSTRAINT: app.tenant == app.region OR app.tenant == "acme" ENFORCEMENT: BLOCKING }`;
    const memo = await loadPolicies("memo", text);
    const reference = await loadPolicies("memo", text);
    // dictionary strings, strings that are not in it, and equal strings built anew each time
    const values = () => ["eu", "eu-west", "acme", "us", "e", "eu-", "acm", ["e", "u"].join(""), "ac" + "me".slice(0), "", "EU"];
    let seed = 11;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
    const forget = () => (reference as unknown as { lastDictId: Int32Array }).lastDictId.fill(-1);
    const effects = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const vs = values();
      const attrs = emptyRequestAttributes();
      attrs.headers = { "x-region": vs[rnd(vs.length)]!, "x-tenant": vs[rnd(vs.length)]! };
      if (rnd(5) === 0) delete (attrs.headers as Record<string, string>)["x-tenant"];
      forget(); // the reference remembers nothing of the previous request
      const want = reference.evaluate(attrs);
      const got = memo.evaluate(attrs);
      expect({ i, effect: got.effect, violations: got.violations.map((v) => v.policy) }).toEqual({ i, effect: want.effect, violations: want.violations.map((v) => v.policy) });
      effects.add(got.effect);
    }
    expect([...effects].sort()).toEqual(["allow", "deny"]);
    // an unknown value leaves the memo as it was: only dictionary strings are remembered
    const remembered = (memo as unknown as { lastDictString: string[] }).lastDictString;
    const attrs = emptyRequestAttributes();
    attrs.headers = { "x-region": "eu-west", "x-tenant": "acme" };
    memo.evaluate(attrs);
    const before = [...remembered];
    attrs.headers = { "x-region": "not-in-the-dictionary", "x-tenant": "also-not" };
    memo.evaluate(attrs);
    expect(remembered).toEqual(before);
    expect(before).toContain("eu-west");
  });
});
