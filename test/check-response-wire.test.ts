// The hand-written CheckResponse encoder (src/executive/check-response-wire.ts)
// against protobufjs with Envoy's own protos: for every outcome kind and for
// random metadata, our bytes decode to exactly what protobufjs encodes from
// toCheckResponse(outcome).

import { describe, expect, it } from "vitest";
import { mulberry32 } from "./fuzz/prng.js";
import type { Decision, PolicyRef } from "../src/bundle/index.js";
import { envoyAuthPackageDefinition, outcomeForDecision, outcomeForError, toCheckResponse, type CheckOutcome } from "../src/executive/index.js";
import { encodeCheckResponse, encodeFresh, templateUses } from "../src/executive/check-response-wire.js";
import { outcomeForApproved, outcomeForDeferred, outcomeForExecutionDenied } from "../src/executive/response.js";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const check = (envoyAuthPackageDefinition()["envoy.service.auth.v3.Authorization"] as unknown as Record<string, unknown>)["Check"] as {
  responseSerialize: (o: unknown) => Buffer;
  responseDeserialize: (b: Buffer) => unknown;
};

function sameAsProtobufjs(o: CheckOutcome): void {
  const ours = encodeCheckResponse(o);
  const reference = check.responseSerialize(toCheckResponse(o));
  expect(check.responseDeserialize(ours)).toEqual(check.responseDeserialize(reference));
  expect(ours.length).toBe(reference.length); // same fields, same sizes
}

const ref = (policy: string, enforcement: PolicyRef["enforcement"]): PolicyRef => ({ policy, enforcement });

function decision(effect: Decision["effect"], violations: PolicyRef[], revision: number | null = 7): Decision {
  return {
    effect,
    violations,
    waived: [ref("waived_one", "BLOCKING")],
    defaulted: false,
    bundle: { name: "mesh", revision, digest: "sha256:" + "ab".repeat(32), keyId: "k1" },
    evalNs: 1234,
  };
}

const rng = mulberry32; // seeded: a failure reproduces (FUZZ_SEED overrides)

function randomJson(r: () => number, depth: number): Json {
  const k = Math.floor(r() * (depth > 3 ? 4 : 6));
  switch (k) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return r() < 0.3 ? -Math.floor(r() * 1e9) : r() * 1e6;
    case 3: {
      const len = Math.floor(r() * (r() < 0.1 ? 20000 : 40));
      const alphabet = Array.from("aZ09 -_/:é€😀\u0000\""); // code points: no lone surrogates (see below)
      let s = "";
      for (let i = 0; i < len; i++) s += alphabet[Math.floor(r() * alphabet.length)];
      return s;
    }
    case 4:
      return Array.from({ length: Math.floor(r() * 4) }, () => randomJson(r, depth + 1));
    default: {
      const o: { [k: string]: Json } = {};
      for (let i = Math.floor(r() * 4); i > 0; i--) o[`k${Math.floor(r() * 1000)}`] = randomJson(r, depth + 1);
      return o;
    }
  }
}

describe("encodeCheckResponse", () => {
  it("matches protobufjs for every outcome kind", () => {
    const id = "0f8fad5b-d9cb-469f-a165-70867728950e";
    const outcomes: CheckOutcome[] = [
      outcomeForDecision(decision("allow", []), id),
      outcomeForDecision(decision("allow", [ref("advice", "ADVISORY"), ref("more", "ADVISORY")], null), id),
      outcomeForDecision(decision("deny", [ref("no_post", "BLOCKING"), ref("also", "BLOCKING")]), id),
      outcomeForDecision({ ...decision("deny", []), defaulted: true }, id),
      outcomeForDecision(decision("pause", [ref("needs_human", "REQUIRE_APPROVAL")]), id),
      outcomeForError("AECP_EVAL_FAILED", 403, id, { failOpen: false, failStatus: 403 }),
      outcomeForError("AECP_NO_BUNDLE", 503, id, { failOpen: true, failStatus: 403 }),
      outcomeForDeferred(decision("pause", [ref("needs_human", "REQUIRE_APPROVAL")]), id, { id: "ex-1", state: "pending", location: "http://127.0.0.1:8282/e/ex-1" }, { deferStatus: 428, retryAfterS: 5 }),
      outcomeForApproved(decision("pause", [ref("needs_human", "REQUIRE_APPROVAL")]), id, "ex-1"),
      outcomeForExecutionDenied(decision("pause", [ref("needs_human", "REQUIRE_APPROVAL")]), id, "ex-1", "AECP_EXECUTION_CONSUMED"),
    ];
    for (const o of outcomes) sameAsProtobufjs(o);
  });

  it("matches protobufjs for random metadata, headers, bodies and status codes (long strings, unicode, nesting)", () => {
    const r = rng(Number(process.env["FUZZ_SEED"] ?? 20261125));
    for (let i = 0; i < 300; i++) {
      const base = r() < 0.5 ? outcomeForDecision(decision("allow", []), `id-${i}`) : outcomeForDecision(decision("deny", [ref("p", "BLOCKING")]), `id-${i}`);
      const metadata = randomJson(r, 0);
      const o: CheckOutcome = {
        ...base,
        metadata: metadata !== null && typeof metadata === "object" && !Array.isArray(metadata) ? metadata : { v: metadata },
        headers: [...base.headers, ...Array.from({ length: Math.floor(r() * 3) }, (_, j): [string, string] => [`x-h${j}`, String(randomJson(r, 5))])],
        body: r() < 0.2 ? "x".repeat(Math.floor(r() * 70000)) : base.body,
        message: String(randomJson(r, 5)),
        grpcCode: Math.floor(r() * 17),
        httpStatus: 400 + Math.floor(r() * 200),
      };
      sameAsProtobufjs(o);
    }
  });

  it("grows the scratch buffer in the middle of short strings and of nested messages (lengths past one byte)", () => {
    // 30,000 short entries: larger than anything written before in this file,
    // so the buffer grows while the ASCII fast path and the one-byte length
    // reserve are in use; values of 100–200 chars make entries ≥ 128 bytes
    const metadata: { [k: string]: Json } = {};
    for (let i = 0; i < 30000; i++) metadata[`key_${i}`] = i % 7 === 0 ? "v".repeat(100 + (i % 100)) : i % 5 === 0 ? `é${i}` : `value-${i}`;
    sameAsProtobufjs({ ...outcomeForDecision(decision("allow", []), "grow"), metadata });
  });

  it("writes a lone surrogate as U+FFFD, so the bytes are always valid UTF-8 (protobufjs would emit invalid UTF-8 that Envoy's parser rejects)", () => {
    const base = outcomeForDecision(decision("allow", []), "id");
    const o: CheckOutcome = { ...base, message: "a\ud800b", metadata: { k: "\udc00" } };
    const decoded = check.responseDeserialize(encodeCheckResponse(o)) as { status: { message: string }; dynamic_metadata: { fields: { k: { stringValue: string } } } };
    expect(decoded.status.message).toBe("a\ufffdb");
    expect(decoded.dynamic_metadata.fields.k.stringValue).toBe("\ufffd");
    expect(() => new TextDecoder("utf-8", { fatal: true }).decode(encodeCheckResponse(o))).not.toThrow();
  });

  it("returns a fresh buffer each call (the scratch space is reused)", () => {
    const a = encodeCheckResponse(outcomeForDecision(decision("allow", []), "a"));
    const copy = Buffer.from(a);
    encodeCheckResponse(outcomeForDecision(decision("deny", [ref("p", "BLOCKING")]), "b"));
    expect(a.equals(copy)).toBe(true);
  });
});

describe("plain allows from the per-bundle template", () => {
  // A plain allow (no violations, no waivers) encodes to the same bytes for
  // a bundle but for the decision id and the eval time, so the encoder copies
  // the last one's bytes and writes those. Every such answer must be
  // byte-identical to a fresh encoding, across bundles, revisions, ids of
  // another length, evaluation times and the other outcomes in between.
  it("is byte-identical to a fresh encoding for 3,000 outcomes in random order", () => {
    const r = rng(Number(process.env["FUZZ_SEED"] ?? 99));
    const bundles = [
      { name: "mesh", revision: 7, digest: "sha256:" + "ab".repeat(32), keyId: "k1" },
      { name: "mesh", revision: 8, digest: "sha256:" + "cd".repeat(32), keyId: "k1" },
      { name: "file-bundle", revision: null, digest: "sha256:" + "ef".repeat(32), keyId: null },
      // long enough that the metadata's length takes three varint bytes: the template's positions move with it
      { name: "n".repeat(20000), revision: 1, digest: "sha256:" + "01".repeat(32), keyId: "k2" },
    ];
    const hex = () => Math.floor(r() * 16).toString(16);
    const id = (len: number) => Array.from({ length: len }, hex).join("");
    let templated = 0;
    const usesBefore = templateUses();
    for (let i = 0; i < 3000; i++) {
      const bundle = bundles[Math.floor(r() * bundles.length)]!;
      const evalNs = [0, 1, 1234, r() * 1e6, Math.floor(r() * 1e9), 2 ** 53 - 1][Math.floor(r() * 6)]!;
      const decisionId = r() < 0.9 ? `${id(8)}-${id(4)}-4${id(3)}-a${id(3)}-${id(12)}` : id(1 + Math.floor(r() * 40));
      const kind = r();
      let o: CheckOutcome;
      if (kind < 0.7) o = outcomeForDecision({ effect: "allow", violations: [], waived: [], defaulted: r() < 0.5, bundle, evalNs }, decisionId);
      else if (kind < 0.8) o = outcomeForDecision({ effect: "allow", violations: [ref("adv", "ADVISORY")], waived: [], defaulted: false, bundle, evalNs }, decisionId);
      else if (kind < 0.9) o = outcomeForDecision({ effect: "deny", violations: [ref("no", "BLOCKING")], waived: [], defaulted: false, bundle, evalNs }, decisionId);
      else o = outcomeForError("AECP_EVAL_FAILED", 403, decisionId, { failOpen: r() < 0.5, failStatus: 403 });
      if (o.plainAllow !== undefined) templated++;
      const ours = encodeCheckResponse(o);
      expect(ours.equals(encodeFresh(o))).toBe(true);
      if (i % 100 === 0) sameAsProtobufjs(o);
    }
    // an id of the template's length with a character beyond ASCII is encoded afresh
    const plain = (decisionId: string) => outcomeForDecision({ effect: "allow", violations: [], waived: [], defaulted: false, bundle: bundles[0]!, evalNs: 7 }, decisionId);
    encodeCheckResponse(plain("a".repeat(36)));
    const odd = plain("é" + "a".repeat(35));
    expect(encodeCheckResponse(odd).equals(encodeFresh(odd))).toBe(true);
    expect(templated).toBeGreaterThan(1500);
    // and the template was used, not refused every time (a refusal falls back to a fresh encoding)
    expect(templateUses() - usesBefore).toBeGreaterThan(200);
  });

  it("only plain allows take it: advisories, waivers, approved executions and fail-open allows do not", () => {
    const bundle = { name: "mesh", revision: 7, digest: "sha256:" + "ab".repeat(32), keyId: "k1" };
    const d = (violations: PolicyRef[], waived: PolicyRef[]): Decision => ({ effect: "allow", violations, waived, defaulted: false, bundle, evalNs: 5 });
    expect(outcomeForDecision(d([], []), "x").plainAllow).toBe(bundle);
    expect(outcomeForDecision(d([ref("a", "ADVISORY")], []), "x").plainAllow).toBeUndefined();
    expect(outcomeForDecision(d([], [ref("w", "BLOCKING")]), "x").plainAllow).toBeUndefined();
    expect(outcomeForApproved(d([], []), "x", "exec-1").plainAllow).toBeUndefined();
    expect(outcomeForError("AECP_INTERNAL", 403, "x", { failOpen: true, failStatus: 403 }).plainAllow).toBeUndefined();
  });
});
