// The evaluator host's lean decode of the signed content (readBundleForHost)
// against protobuf-es: for every bundle the suite can compile, and for random
// metadata, it returns exactly the fields the host uses as `fromBinary`
// decodes them; malformed wire data (truncation, broken bytes that are
// re-signed so the signature passes, wrong wire types, lengths past the end)
// is AECP_BUNDLE_MALFORMED, never a crash; unknown fields are skipped.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { parse as parseYaml } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import {
  ApprovalSchema,
  BundleFileSchema,
  BundleMetadataSchema,
  ENFORCEMENT_BY_CODE,
  FORMAT_VERSION,
  LoadedBundle,
  MAGIC,
  PolicyInfoSchema,
  SignatureSchema,
  SignedContentSchema,
  SourceFileSchema,
  SourceLocationSchema,
  TrustedKeys,
  generateKeyPairPem,
  parsePrivateKeyPem,
  parsePublicKeyPem,
  readBundle,
  readBundleForHost,
  sha256,
  sign,
  writeBundle,
  type BundleMetadata,
  type Enforcement,
  type PrivateKey,
} from "../src/bundle/index.js";
import { AecpError, type ErrorCode } from "../src/common/index.js";
import { codeOf } from "./helpers/error-code.js";
import { compile, type SourceInput } from "../src/judicial/index.js";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

let key: PrivateKey;
let trusted: TrustedKeys;
/** Every compiled bundle, by a name that says where its sources came from. */
const bundles = new Map<string, Uint8Array>();
/** A small compiled bundle with exceptions and approvals, the base of the malformation cases. */
let base: { metadata: BundleMetadata; component: Uint8Array; signed: Uint8Array };

/** Sources with EXCEPTION, REQUIRE_APPROVAL (approvers, quorum, timeout), AUDIT, DEFAULT ALLOW and non-ASCII literals. */
const EXCEPTIONS_AND_APPROVALS = `ATTRIBUTE app.role = request.headers["x-role"]
ATTRIBUTE app.note = request.headers["x-note"]
DEFAULT: ALLOW
POLICY admin_role {
  DESCRIPTION: "admins only — ünïcode in a description the host never reads"
  SCOPE: requests WHERE request.path STARTS_WITH "/admin"
  CONSTRAINT: app.role == "admin" OR app.note == "café ☕" OR app.note == "\uFEFFbom"
  ENFORCEMENT: BLOCKING
  EXCEPTION: break_glass
  EXCEPTION: incident_response
}
POLICY prod_delete {
  SCOPE: requests WHERE request.method == "DELETE"
  CONSTRAINT: false
  ENFORCEMENT: REQUIRE_APPROVAL
  AUDIT: REQUIRED
  EXCEPTION: break_glass
  APPROVAL: { APPROVERS: "owners", "sre-oncall" QUORUM: 2 TIMEOUT: 45m }
}
POLICY reason {
  SCOPE: requests WHERE request.method == "POST"
  CONSTRAINT: EXISTS request.headers["x-reason"]
  ENFORCEMENT: ADVISORY
  AUDIT: OPTIONAL
}
POLICY audit_only {
  SCOPE: requests WHERE request.path STARTS_WITH "/audit"
  CONSTRAINT: false
  ENFORCEMENT: AUDIT_ONLY
  AUDIT: REQUIRED
  EXCEPTION: quiet
}
`;


/** A bundle file around `content` (any bytes), correctly digested and signed with the test key. */
function signedFile(content: Uint8Array): Uint8Array {
  const digest = sha256(content);
  const file = create(BundleFileSchema, {
    formatVersion: FORMAT_VERSION,
    signed: content,
    digest,
    signatures: [create(SignatureSchema, { keyId: key.keyId, algorithm: "ed25519", signature: sign(digest, key) })],
  });
  const body = toBinary(BundleFileSchema, file);
  const out = new Uint8Array(MAGIC.length + body.length);
  out.set(MAGIC);
  out.set(body, MAGIC.length);
  return out;
}

/** The signed-content bytes of a bundle file (protobuf-es decodes the container). */
function signedOf(file: Uint8Array): Uint8Array {
  return fromBinary(BundleFileSchema, file.subarray(MAGIC.length)).signed;
}

/** The fields the host uses, as protobuf-es decodes them, in the lean decoder's shapes. */
function expectedHostView(file: Uint8Array) {
  const full = readBundle(file, { trustedKeys: trusted });
  const md = full.metadata;
  return {
    formatVersion: full.formatVersion,
    digest: full.digest,
    keyId: full.keyId,
    verified: full.verified,
    sizeBytes: full.sizeBytes,
    component: full.component,
    metadata: {
      name: md.name,
      compilerVersion: md.compilerVersion,
      abiVersion: md.abiVersion,
      defaultEffect: md.defaultEffect,
      slots: md.slots,
      strings: md.strings,
      policies: md.policies.map((p) => ({
        name: p.name,
        enforcement: ENFORCEMENT_BY_CODE[p.enforcement],
        exceptions: p.exceptions,
        auditRequired: p.auditRequired,
        approval: p.approval ? { approvers: p.approval.approvers, quorum: p.approval.quorum, timeoutMs: Number(p.approval.timeoutMs) } : undefined,
      })),
      exceptions: md.exceptions,
      layout: md.layout,
    },
  };
}

function expectSameAsProtobuf(file: Uint8Array): void {
  const lean = readBundleForHost(file, { trustedKeys: trusted });
  const want = expectedHostView(file);
  // field by field first, for a readable failure
  for (const k of ["name", "compilerVersion", "abiVersion", "defaultEffect", "strings", "exceptions", "layout", "slots"] as const) {
    expect(lean.metadata[k], k).toEqual(want.metadata[k]);
  }
  expect(lean.metadata.policies.length).toBe(want.metadata.policies.length);
  expect(lean.metadata.policies).toEqual(want.metadata.policies);
  expect(lean).toEqual(want);
  // the lean entries carry exactly the host's PolicyEntry fields
  for (const p of lean.metadata.policies) expect(Object.keys(p)).toEqual(["name", "enforcement", "exceptions", "auditRequired", "approval"]);
}

async function compileOk(name: string, sources: SourceInput[]): Promise<Uint8Array> {
  const r = await compile(sources, { name, key });
  if (!r.ok || !r.bundle) throw new Error(`${name} does not compile: ${JSON.stringify(r.diagnostics.slice(0, 3))}`);
  return r.bundle;
}

function policyDirSources(dir: string): SourceInput[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".policy"))
    .sort()
    .map((f) => ({ path: f, text: readFileSync(join(dir, f), "utf8") }));
}

beforeAll(async () => {
  const kp = generateKeyPairPem();
  key = parsePrivateKeyPem(kp.privatePem);
  trusted = new TrustedKeys([parsePublicKeyPem(kp.publicPem)]);

  const generate = (await import(new URL("bench/generate.mjs", `file://${ROOT}`).href)) as { generatePolicies: (n: number) => SourceInput[] };
  for (const n of [10, 1000]) bundles.set(`generatePolicies(${n})`, await compileOk(`bench-${n}`, generate.generatePolicies(n)));
  bundles.set("exceptions-and-approvals", await compileOk("exc", [{ path: "p.policy", text: EXCEPTIONS_AND_APPROVALS }]));
  for (const d of readdirSync(join(ROOT, "policies")).sort()) {
    bundles.set(`policies/${d}`, await compileOk(d, policyDirSources(join(ROOT, "policies", d))));
  }
  for (const d of readdirSync(join(ROOT, "test/golden/codegen"), { withFileTypes: true })) {
    if (d.isDirectory()) bundles.set(`golden/codegen/${d.name}`, await compileOk(d.name, policyDirSources(join(ROOT, "test/golden/codegen", d.name))));
  }
  const confDir = join(ROOT, "test/conformance");
  for (const f of readdirSync(confDir).filter((x) => x.endsWith(".yaml")).sort()) {
    const doc = parseYaml(readFileSync(join(confDir, f), "utf8")) as { policies: Record<string, string> };
    bundles.set(`conformance/${f}`, await compileOk(f, Object.entries(doc.policies).map(([path, text]) => ({ path, text }))));
  }

  const excFile = bundles.get("exceptions-and-approvals")!;
  const opened = readBundle(excFile, { trustedKeys: trusted });
  base = { metadata: opened.metadata, component: opened.component, signed: signedOf(excFile) };
});

describe("lean host decode equals protobuf-es fromBinary", () => {
  it("covers the compiled corpus: generated, policy packs, goldens, conformance, exceptions and approvals", () => {
    expect(bundles.size).toBeGreaterThanOrEqual(3 + 5 + 2 + 30);
    const md = readBundle(bundles.get("exceptions-and-approvals")!, { trustedKeys: trusted }).metadata;
    // the set really exercises what it is there for
    expect(md.exceptions).toEqual(["break_glass", "incident_response", "quiet"]);
    expect(md.policies.find((p) => p.name === "prod_delete")?.approval).toMatchObject({ approvers: ["owners", "sre-oncall"], quorum: 2 });
    expect(md.policies.some((p) => p.auditRequired)).toBe(true);
    expect(md.strings.some((s) => /[^\x00-\x7f]/.test(s))).toBe(true);
    expect(md.strings).toContain("\uFEFFbom");
    expect(md.policies.some((p) => p.description !== "")).toBe(true);
    expect(md.sources.length).toBeGreaterThan(0);
  });

  it("every compiled bundle", () => {
    for (const [name, file] of bundles) {
      try {
        expectSameAsProtobuf(file);
      } catch (e) {
        throw new Error(`${name}: ${(e as Error).message}`);
      }
    }
  });

  it("every compiled bundle loads in the host with the same policy table", () => {
    for (const [name, file] of bundles) {
      const b = LoadedBundle.load(file, { trustedKeys: trusted });
      expect(b.policies, name).toEqual(expectedHostView(file).metadata.policies);
      expect(b.exceptions, name).toEqual(expectedHostView(file).metadata.exceptions);
    }
  });

  it("policies without exceptions share one frozen list; no approval object without an APPROVAL block", () => {
    const lean = readBundleForHost(bundles.get("generatePolicies(1000)")!, { trustedKeys: trusted }).metadata;
    const empty = lean.policies[0]!.exceptions;
    expect(Object.isFrozen(empty)).toBe(true);
    expect(lean.policies.every((p) => p.exceptions === empty && p.approval === undefined)).toBe(true);
  });

  it("random metadata (unicode, BOM, empty strings, many approvers, 64-bit timeouts, every enforcement)", () => {
    let seed = 0x9e3779b9;
    const rnd = (n: number): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const alphabet = ["a", "z", "_", "-", "/", "é", "☕", "\uFEFF", "𝄞", "\u0000", "0", " ", "\u00ff", "\u07ff", "\u0800"];
    const str = (max: number): string => Array.from({ length: rnd(max + 1) }, () => alphabet[rnd(alphabet.length)]).join("");
    const list = (n: number, max: number): string[] => Array.from({ length: rnd(n + 1) }, () => str(max));
    for (let round = 0; round < 40; round++) {
      const init: MessageInitShape<typeof BundleMetadataSchema> = {
        ...base.metadata,
        name: str(40),
        compilerVersion: str(12),
        strings: list(60, 50),
        exceptions: list(5, 10),
        sources: Array.from({ length: rnd(3) }, () => create(SourceFileSchema, { path: str(20), sha256: str(64) })),
        policies: Array.from({ length: rnd(50) }, () =>
          create(PolicyInfoSchema, {
            name: str(30),
            description: str(80),
            enforcement: 1 + rnd(4),
            auditRequired: rnd(2) === 1,
            exceptions: list(3, 10),
            approval: rnd(3) === 0 ? create(ApprovalSchema, { approvers: list(4, 12), quorum: rnd(5), timeoutMs: BigInt(rnd(2 ** 30)) * BigInt(1 + rnd(2 ** 22)) }) : undefined,
            location: rnd(2) === 0 ? create(SourceLocationSchema, { file: str(20), line: rnd(10_000), col: rnd(200) }) : undefined,
          }),
        ),
      };
      expectSameAsProtobuf(writeBundle(create(BundleMetadataSchema, init), base.component, key));
    }
  });

  it("skips unknown fields of every wire type at every level, as protobuf does", () => {
    const varint = new BinaryWriter().uint32(300).finish();
    const bit64 = new BinaryWriter().fixed64(7n).finish();
    const bit32 = new BinaryWriter().fixed32(7).finish();
    const ld = new BinaryWriter().bytes(new Uint8Array([1, 2, 3, 0xff])).finish();
    // a group: nested fields up to the matching EndGroup tag
    const group = new BinaryWriter().tag(1, WireType.Varint).uint32(5).tag(2, WireType.LengthDelimited).string("x").tag(99, WireType.EndGroup).finish();
    const unknown = [
      { no: 99, wireType: WireType.Varint, data: varint },
      { no: 100, wireType: WireType.Bit64, data: bit64 },
      { no: 101, wireType: WireType.Bit32, data: bit32 },
      { no: 102, wireType: WireType.LengthDelimited, data: ld },
      { no: 99, wireType: WireType.StartGroup, data: group },
      { no: 536_870_911, wireType: WireType.Varint, data: varint },
    ];
    const md = create(BundleMetadataSchema, base.metadata);
    md.$unknown = unknown;
    for (const p of md.policies) {
      p.$unknown = unknown;
      if (p.approval) p.approval.$unknown = unknown;
    }
    const content = create(SignedContentSchema, { formatVersion: FORMAT_VERSION, metadata: md, component: base.component });
    content.$unknown = unknown;
    const file = signedFile(toBinary(SignedContentSchema, content));
    expect(readBundle(file, { trustedKeys: trusted }).metadata.$unknown?.length).toBe(unknown.length);
    expectSameAsProtobuf(file);
    expect(LoadedBundle.load(file, { trustedKeys: trusted }).policies.length).toBe(base.metadata.policies.length);
  });

  it("merges a repeated metadata or approval field and keeps the last scalar, as protobuf does", () => {
    const first = toBinary(SignedContentSchema, create(SignedContentSchema, { formatVersion: FORMAT_VERSION, metadata: { ...base.metadata, name: "first", strings: ["s1"], layout: undefined }, component: new Uint8Array([1]) }));
    const second = toBinary(SignedContentSchema, create(SignedContentSchema, { formatVersion: FORMAT_VERSION, metadata: { ...base.metadata, name: "second" }, component: base.component }));
    const both = new Uint8Array(first.length + second.length);
    both.set(first);
    both.set(second, first.length);
    const file = signedFile(both);
    expectSameAsProtobuf(file);
    const lean = readBundleForHost(file, { trustedKeys: trusted }).metadata;
    expect(lean.name).toBe("second");
    expect(lean.strings.slice(0, 1)).toEqual(["s1"]);
    expect(lean.policies.length).toBe(2 * base.metadata.policies.length);
  });
});

describe("lean host decode rejects malformed content with AECP_BUNDLE_MALFORMED", () => {
  const malformed = (content: Uint8Array): ErrorCode | "no error" => codeOf(() => readBundleForHost(signedFile(content), { trustedKeys: trusted }));

  it("checks the container and signature first, as readBundle does", () => {
    const file = bundles.get("exceptions-and-approvals")!;
    const other = new TrustedKeys([parsePublicKeyPem(generateKeyPairPem().publicPem)]);
    expect(codeOf(() => readBundleForHost(file, { trustedKeys: other }))).toBe("AECP_BUNDLE_UNTRUSTED_KEY");
    expect(codeOf(() => readBundleForHost(file, { trustedKeys: trusted, maxBundleBytes: 100 }))).toBe("AECP_BUNDLE_TOO_LARGE");
    const tampered = file.slice();
    tampered[tampered.length - 200]! ^= 0x01; // inside `signed`, digest not recomputed
    expect(codeOf(() => readBundleForHost(tampered, { trustedKeys: trusted }))).toBe("AECP_BUNDLE_DIGEST_MISMATCH");
    expect(codeOf(() => readBundleForHost(file.subarray(0, 4), { trustedKeys: trusted }))).toBe("AECP_BUNDLE_MALFORMED");
    expect(readBundleForHost(file, { skipVerification: true }).verified).toBe(false);
  });

  it("truncated content: MALFORMED wherever protobuf-es fails, the same result where the cut is a field boundary", () => {
    const s = base.signed;
    let rejected = 0;
    const cuts = [...Array.from({ length: Math.min(s.length, 2000) }, (_, i) => i), ...Array.from({ length: 50 }, (_, i) => Math.floor((s.length * i) / 50))];
    for (const cut of cuts) {
      const file = signedFile(s.subarray(0, cut));
      let protobufOk = true;
      try {
        readBundle(file, { trustedKeys: trusted });
      } catch {
        protobufOk = false;
      }
      if (protobufOk) expectSameAsProtobuf(file);
      else {
        expect(codeOf(() => readBundleForHost(file, { trustedKeys: trusted })), `cut at ${cut}`).toBe("AECP_BUNDLE_MALFORMED");
        rejected++;
      }
      // the host never crashes on it either
      expect(codeOf(() => LoadedBundle.load(file, { trustedKeys: trusted }))).toMatch(/^AECP_BUNDLE_/);
    }
    expect(rejected).toBeGreaterThan(cuts.length - 5);
  });

  it("a flipped byte, re-signed so the signature passes: targeted flips are MALFORMED, random ones never crash", () => {
    const s = base.signed;
    // s = 08 01 (format_version 1) 12 <len> (metadata) ...
    expect([s[0], s[1], s[2]]).toEqual([0x08, 0x01, 0x12]);
    const flip = (pos: number, mask: number): Uint8Array => {
      const c = s.slice();
      c[pos]! ^= mask;
      return c;
    };
    expect(malformed(flip(2, 0x07))).toBe("AECP_BUNDLE_MALFORMED"); // metadata tag → wire type 5 (bit32)
    expect(malformed(flip(0, 0x02))).toBe("AECP_BUNDLE_MALFORMED"); // format_version tag → wire type 2
    let lenEnd = 3;
    while (s[lenEnd]! & 0x80) lenEnd++;
    expect(malformed(flip(lenEnd, 0x40))).toBe("AECP_BUNDLE_MALFORMED"); // metadata length runs past the end
    expect(malformed(flip(3, 0x01))).toBe("AECP_BUNDLE_MALFORMED"); // metadata one byte longer/shorter: its last field overruns
    const err = (() => {
      try {
        readBundleForHost(signedFile(flip(2, 0x07)), { trustedKeys: trusted });
      } catch (e) {
        return e as AecpError;
      }
      return undefined;
    })();
    expect(err?.message).toBe("signed bundle content does not decode");
    expect(String((err?.cause as Error | undefined)?.message)).toMatch(/SignedContent\.metadata has wire type 5, expected 2/);

    // random flips anywhere: an AecpError or a result that protobuf-es agrees with
    let seed = 12345;
    for (let k = 0; k < 400; k++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const pos = seed % Math.min(s.length, 4000);
      const file = signedFile(flip(pos, 1 << (seed >>> 29)));
      let lean;
      try {
        lean = readBundleForHost(file, { trustedKeys: trusted });
      } catch (e) {
        expect(e, `flip at ${pos}`).toBeInstanceOf(AecpError);
        expect(["AECP_BUNDLE_MALFORMED", "AECP_BUNDLE_ABI_MISMATCH"]).toContain((e as AecpError).code);
        continue;
      }
      let full;
      try {
        full = expectedHostView(file);
      } catch {
        continue; // damage the lean decoder does not look at (a description, a location, a source hash)
      }
      expect(lean, `flip at ${pos}`).toEqual(full);
    }
  });

  it("wrong wire types for known fields", () => {
    const w = (build: (w: BinaryWriter) => void): Uint8Array => {
      const x = new BinaryWriter();
      build(x);
      return x.finish();
    };
    const withMetadata = (md: Uint8Array): Uint8Array => w((x) => x.tag(1, WireType.Varint).uint32(1).tag(2, WireType.LengthDelimited).bytes(md).tag(3, WireType.LengthDelimited).bytes(base.component));
    const policy = (p: Uint8Array): Uint8Array => w((x) => x.tag(3, WireType.Varint).uint32(1).tag(7, WireType.LengthDelimited).bytes(p));
    const cases: Array<[string, Uint8Array]> = [
      ["format_version as bytes", w((x) => x.tag(1, WireType.LengthDelimited).bytes(new Uint8Array([1])))],
      ["component as varint", w((x) => x.tag(1, WireType.Varint).uint32(1).tag(3, WireType.Varint).uint32(5))],
      ["metadata.name as varint", withMetadata(w((x) => x.tag(1, WireType.Varint).uint32(5)))],
      ["metadata.abi_version as bytes", withMetadata(w((x) => x.tag(3, WireType.LengthDelimited).bytes(new Uint8Array([1]))))],
      ["metadata.default_effect as fixed32", withMetadata(w((x) => x.tag(4, WireType.Bit32).fixed32(2)))],
      ["metadata.strings as fixed64", withMetadata(w((x) => x.tag(6, WireType.Bit64).fixed64(2n)))],
      ["metadata.sources as varint", withMetadata(w((x) => x.tag(9, WireType.Varint).uint32(1)))],
      ["metadata.layout as varint", withMetadata(w((x) => x.tag(10, WireType.Varint).uint32(1)))],
      ["policy.name as varint", withMetadata(policy(w((x) => x.tag(1, WireType.Varint).uint32(3))))],
      ["policy.description as varint", withMetadata(policy(w((x) => x.tag(2, WireType.Varint).uint32(3))))],
      ["policy.enforcement as bytes", withMetadata(policy(w((x) => x.tag(3, WireType.LengthDelimited).bytes(new Uint8Array([1])))))],
      ["policy.location as fixed32", withMetadata(policy(w((x) => x.tag(7, WireType.Bit32).fixed32(1))))],
      ["approval.quorum as bytes", withMetadata(policy(w((x) => x.tag(6, WireType.LengthDelimited).bytes(w((y) => y.tag(2, WireType.LengthDelimited).bytes(new Uint8Array([2])))))))],
      ["a stray end-group tag", withMetadata(w((x) => x.tag(50, WireType.EndGroup)))],
      ["field number 0", new Uint8Array([0x00, 0x01])],
      ["wire type 7", new Uint8Array([0x0f, 0x01])],
    ];
    for (const [what, content] of cases) expect(malformed(content), what).toBe("AECP_BUNDLE_MALFORMED");
  });

  it("lengths running past the end, of the content or of the enclosing message", () => {
    const w = new BinaryWriter();
    const pastEnd = w.tag(1, WireType.Varint).uint32(1).tag(2, WireType.LengthDelimited).uint32(1000).raw(new Uint8Array([0x0a, 0x01, 0x61])).finish();
    expect(malformed(pastEnd)).toBe("AECP_BUNDLE_MALFORMED");
    // a policy whose name runs past the policy's declared length (but not past the content)
    const inner = new BinaryWriter().tag(7, WireType.LengthDelimited).uint32(2).raw(new Uint8Array([0x0a, 0x05])).raw(new TextEncoder().encode("abcde")).finish();
    const overrun = new BinaryWriter().tag(1, WireType.Varint).uint32(1).tag(2, WireType.LengthDelimited).bytes(inner).finish();
    expect(malformed(overrun)).toBe("AECP_BUNDLE_MALFORMED");
    // a string length varint of more than 5 bytes / never terminated
    expect(malformed(new Uint8Array([0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))).toBe("AECP_BUNDLE_MALFORMED");
    expect(malformed(new Uint8Array([0x08, 0x80]))).toBe("AECP_BUNDLE_MALFORMED");
    // an unknown field whose length runs past the end
    expect(malformed(new Uint8Array([0x08, 0x01, 0xa2, 0x06, 0x7f]))).toBe("AECP_BUNDLE_MALFORMED");
  });

  it("invalid UTF-8 in a string the host keeps", () => {
    const md = new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(new Uint8Array([0x61, 0xc3])).finish();
    const content = new BinaryWriter().tag(1, WireType.Varint).uint32(1).tag(2, WireType.LengthDelimited).bytes(md).finish();
    expect(malformed(content)).toBe("AECP_BUNDLE_MALFORMED");
    expect(codeOf(() => readBundle(signedFile(content), { trustedKeys: trusted }))).toBe("AECP_BUNDLE_MALFORMED");
  });

  it("no metadata or another format version, unknown enforcement, another ABI version: the host's codes and messages", () => {
    expect(malformed(new Uint8Array(0))).toBe("AECP_BUNDLE_MALFORMED");
    const withVersion = toBinary(SignedContentSchema, create(SignedContentSchema, { formatVersion: 2, metadata: base.metadata, component: base.component }));
    expect(malformed(withVersion)).toBe("AECP_BUNDLE_MALFORMED");
    const badEnforcement = writeBundle({ ...base.metadata, policies: base.metadata.policies.map((p, i) => (i === 1 ? { ...p, enforcement: 9 as Enforcement } : p)) }, base.component, key);
    expect(() => readBundleForHost(badEnforcement, { trustedKeys: trusted })).toThrow(`policy \`${base.metadata.policies[1]!.name}\` has unknown enforcement 9`);
    expect(codeOf(() => LoadedBundle.load(badEnforcement, { trustedKeys: trusted }))).toBe("AECP_BUNDLE_MALFORMED");
    // a bundle of another ABI version is an ABI mismatch even when its enforcement codes are new to this host
    const newerAbi = writeBundle({ ...base.metadata, abiVersion: 2, policies: base.metadata.policies.map((p) => ({ ...p, enforcement: 9 as Enforcement })) }, base.component, key);
    expect(codeOf(() => LoadedBundle.load(newerAbi, { trustedKeys: trusted }))).toBe("AECP_BUNDLE_ABI_MISMATCH");
    expect(() => readBundleForHost(newerAbi, { trustedKeys: trusted })).toThrow("bundle declares ABI version 2; this host supports 1");
  });
});

