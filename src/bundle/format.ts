// The bundle file: "AECPBNDL" magic + protobuf BundleFile (proto/aecp/bundle/v1).
// Writing signs the SHA-256 digest of the serialized SignedContent; reading
// checks size, magic, format version, digest and a trusted signature BEFORE
// decoding the signed content, and returns typed metadata plus the component.
// Two decoders share those checks: `readBundle` (full protobuf-es metadata,
// for `aecp inspect`, tests and tools) and `readBundleForHost` (only what the
// evaluator host keeps, walked off the wire without per-policy messages).

import { createHash } from "node:crypto";
import { create, fromBinary, mergeFromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { AecpError } from "../common/index.js";
import type { AttributeSource, Enforcement, JsonPath, SlotType } from "../legislative/index.js";
import {
  AttributeSlotSchema,
  BundleFileSchema,
  LayoutSchema,
  SignatureSchema,
  SignedContentSchema,
  SlotType as PbSlotType,
  SourceSchema,
  PathElementSchema,
  type AttributeSlot,
  type BundleMetadata,
  type DefaultEffect,
  type Layout,
  type Source,
} from "../gen/aecp/bundle/v1/bundle_pb.js";
import { ABI_VERSION, ENFORCEMENT_BY_CODE } from "./abi.js";
import { sign, verify, type PrivateKey, type TrustedKeys } from "./keys.js";

export const MAGIC = new TextEncoder().encode("AECPBNDL");
export const FORMAT_VERSION = 1;
/** Default cap on a bundle file's size; sidecars may configure their own. */
export const DEFAULT_MAX_BUNDLE_BYTES = 64 * 1024 * 1024;

export interface OpenedBundle {
  formatVersion: number;
  /** Hex SHA-256 of the signed content. */
  digest: string;
  /** Key id of the trusted key whose signature verified (undefined when not verified). */
  keyId: string | undefined;
  verified: boolean;
  metadata: BundleMetadata;
  component: Uint8Array;
  sizeBytes: number;
}

export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(bytes).digest());
}

/** Serialize and sign. Deterministic: same metadata, component and key → same bytes. */
export function writeBundle(metadata: BundleMetadata, component: Uint8Array, key: PrivateKey): Uint8Array {
  const signed = toBinary(SignedContentSchema, create(SignedContentSchema, { formatVersion: FORMAT_VERSION, metadata, component }));
  const digest = sha256(signed);
  const file = create(BundleFileSchema, {
    formatVersion: FORMAT_VERSION,
    signed,
    digest,
    signatures: [create(SignatureSchema, { keyId: key.keyId, algorithm: "ed25519", signature: sign(digest, key) })],
  });
  const body = toBinary(BundleFileSchema, file);
  const out = new Uint8Array(MAGIC.length + body.length);
  out.set(MAGIC, 0);
  out.set(body, MAGIC.length);
  return out;
}

export interface ReadOptions {
  /** Required unless `skipVerification` (used only by `aecp inspect`). */
  trustedKeys?: TrustedKeys;
  skipVerification?: boolean;
  maxBundleBytes?: number;
}

/** A bundle file whose container, digest and signature have been checked; `signed` is not decoded yet. */
interface VerifiedContainer {
  formatVersion: number;
  signed: Uint8Array;
  digest: string;
  keyId: string | undefined;
  verified: boolean;
  sizeBytes: number;
}

/** Decode the signed content with protobuf-es: the full metadata (sources, descriptions, locations). */
export function readBundle(bytes: Uint8Array, opts: ReadOptions): OpenedBundle {
  const c = openVerified(bytes, opts);
  let content;
  try {
    content = fromBinary(SignedContentSchema, c.signed);
  } catch (cause) {
    throw new AecpError("AECP_BUNDLE_MALFORMED", "signed bundle content does not decode", { cause });
  }
  if (content.formatVersion !== FORMAT_VERSION || !content.metadata) {
    throw new AecpError("AECP_BUNDLE_MALFORMED", "signed content has no metadata or a different format version");
  }
  return {
    formatVersion: c.formatVersion,
    digest: c.digest,
    keyId: c.keyId,
    verified: c.verified,
    metadata: content.metadata,
    component: content.component,
    sizeBytes: c.sizeBytes,
  };
}

/** Size, magic, container, format version, digest and (unless skipped) a trusted signature — in that order. */
function openVerified(bytes: Uint8Array, opts: ReadOptions): VerifiedContainer {
  const max = opts.maxBundleBytes ?? DEFAULT_MAX_BUNDLE_BYTES;
  if (bytes.length > max) throw new AecpError("AECP_BUNDLE_TOO_LARGE", `bundle is ${bytes.length} bytes; the limit is ${max}`);
  if (bytes.length < MAGIC.length || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new AecpError("AECP_BUNDLE_MALFORMED", "not an AECP bundle (missing AECPBNDL magic)");
  }
  let file;
  try {
    file = fromBinary(BundleFileSchema, bytes.subarray(MAGIC.length));
  } catch (cause) {
    throw new AecpError("AECP_BUNDLE_MALFORMED", "bundle container does not decode", { cause });
  }
  if (file.formatVersion !== FORMAT_VERSION) {
    throw new AecpError("AECP_BUNDLE_FORMAT_VERSION", `bundle format version ${file.formatVersion} is not supported (this build reads ${FORMAT_VERSION})`);
  }
  const digest = sha256(file.signed);
  if (file.digest.length !== digest.length || file.digest.some((b, i) => b !== digest[i])) {
    throw new AecpError("AECP_BUNDLE_DIGEST_MISMATCH", "bundle content does not match its digest (modified after signing?)");
  }
  let keyId: string | undefined;
  if (!opts.skipVerification) {
    const trusted = opts.trustedKeys;
    if (!trusted || trusted.size === 0) throw new AecpError("AECP_BUNDLE_UNTRUSTED_KEY", "no trusted public keys configured; refusing to load an unverified bundle");
    if (file.signatures.length === 0) throw new AecpError("AECP_BUNDLE_UNSIGNED", "bundle carries no signature");
    let sawTrusted = false;
    for (const s of file.signatures) {
      const k = trusted.get(s.keyId);
      if (!k || s.algorithm !== "ed25519") continue;
      sawTrusted = true;
      if (verify(s.signature, digest, k.publicKey)) {
        keyId = s.keyId;
        break;
      }
    }
    if (keyId === undefined) {
      if (!sawTrusted) {
        throw new AecpError("AECP_BUNDLE_UNTRUSTED_KEY", `bundle is signed by ${file.signatures.map((s) => `\`${s.keyId}\``).join(", ")}, which is not a trusted key`, {
          detail: { keyIds: file.signatures.map((s) => s.keyId), trusted: trusted.ids() },
        });
      }
      throw new AecpError("AECP_BUNDLE_SIGNATURE_INVALID", "bundle signature does not verify against the trusted key");
    }
  } else if (file.signatures.length > 0) keyId = file.signatures[0]!.keyId;
  return {
    formatVersion: file.formatVersion,
    signed: file.signed,
    digest: Buffer.from(digest).toString("hex"),
    keyId,
    verified: !opts.skipVerification,
    sizeBytes: bytes.length,
  };
}

// --- the evaluator host's decoder -------------------------------------------------
//
// protobuf-es `fromBinary` builds a message object per policy (with its
// description, source location and approval), the `sources` list, and a
// temporary array per tag and per short string; for a 10,000-policy bundle
// that garbage grows V8's young generation and is partly promoted before it
// dies (measured: +7.3 MB RSS for +3.6 MB live). The host keeps only the
// fields below, so this decoder walks the wire format itself, materializing
// them and stepping over `description`, `location` and `sources` without
// building strings or objects (measured: +2.3 MB RSS for +1.7 MB live).
// The few attribute slots and the layout still go through protobuf-es (their
// own schemas). It is stricter than protobuf-es where that one is lenient: a
// known field with the wrong wire type, or a sub-message whose fields run past
// its declared length, is malformed. What it steps over it does not validate
// (a description with broken UTF-8 still loads; `aecp inspect` reports it).

/** What the evaluator host keeps of one `PolicyInfo` (no description, no source location). */
export interface HostPolicyInfo {
  name: string;
  enforcement: Enforcement;
  /** Shared frozen empty list when the policy has none. */
  exceptions: readonly string[];
  auditRequired: boolean;
  /** REQUIRE_APPROVAL settings; undefined when the policy has no APPROVAL block. */
  approval: { approvers: string[]; quorum: number; timeoutMs: number } | undefined;
}

/** What the evaluator host keeps of `BundleMetadata` (no `sources`). */
export interface HostMetadata {
  name: string;
  compilerVersion: string;
  abiVersion: number;
  defaultEffect: DefaultEffect;
  slots: AttributeSlot[];
  strings: string[];
  policies: HostPolicyInfo[];
  exceptions: string[];
  layout: Layout | undefined;
}

export interface HostBundle extends Omit<OpenedBundle, "metadata"> {
  metadata: HostMetadata;
}

/**
 * BinaryReader with two helpers for the host's decoder that allocate nothing
 * but their result: the next tag as one number (BinaryReader.tag() returns a
 * fresh pair) and strings decoded straight from the bytes (its ASCII path
 * builds an array of char codes per string). Both check what BinaryReader
 * checks (tag range, bounds, strict UTF-8 with a leading U+FEFF kept as text).
 */
class HostReader extends BinaryReader {
  private readonly buffer: Uint8Array;
  private readonly latin1: Buffer;

  constructor(bytes: Uint8Array) {
    super(bytes);
    this.buffer = bytes;
    this.latin1 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** `fieldNo << 3 | wireType`, validated like BinaryReader.tag(). */
  nextTag(): number {
    const start = this.pos;
    const tag = this.uint32();
    const n = this.pos - start;
    if (n > 5 || (n === 5 && this.buffer[this.pos - 1]! > 0x0f)) throw new Error("illegal tag: varint overflows uint32");
    if (tag >>> 3 <= 0 || (tag & 7) > 5) throw new Error(`illegal tag: field no ${tag >>> 3} wire type ${tag & 7}`);
    return tag;
  }

  /** A proto3 string: UTF-8, validated (invalid UTF-8 throws, as protobuf-es does for proto3). */
  text(): string {
    const len = this.uint32();
    const start = this.pos;
    const end = start + len;
    if (end > this.len) throw new RangeError("premature EOF");
    this.pos = end;
    const b = this.buffer;
    for (let i = start; i < end; i++) {
      if (b[i]! > 0x7f) return strictUtf8.decode(b.subarray(start, end));
    }
    return this.latin1.toString("latin1", start, end);
  }
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The exception list of every policy that has none (frozen, shared: 10,000-policy bundles are normal). */
const NO_EXCEPTIONS: readonly string[] = Object.freeze([]);

/**
 * Verify a bundle exactly as `readBundle` does, then decode only what
 * `LoadedBundle` uses. Enforcement codes belong to the module ABI, so a
 * bundle of another ABI version is refused (AECP_BUNDLE_ABI_MISMATCH) before
 * its policy table is judged. Throws AecpError: the codes of `readBundle`,
 * AECP_BUNDLE_MALFORMED for content that does not decode (same message) or a
 * policy with an unknown enforcement, AECP_BUNDLE_ABI_MISMATCH.
 */
export function readBundleForHost(bytes: Uint8Array, opts: ReadOptions): HostBundle {
  const c = openVerified(bytes, opts);
  let content: LeanContent;
  try {
    content = decodeSignedContentForHost(c.signed);
  } catch (cause) {
    throw new AecpError("AECP_BUNDLE_MALFORMED", "signed bundle content does not decode", { cause });
  }
  const md = content.metadata;
  if (content.formatVersion !== FORMAT_VERSION || !md) {
    throw new AecpError("AECP_BUNDLE_MALFORMED", "signed content has no metadata or a different format version");
  }
  if (md.abiVersion !== ABI_VERSION) {
    throw new AecpError("AECP_BUNDLE_ABI_MISMATCH", `bundle declares ABI version ${md.abiVersion}; this host supports ${ABI_VERSION}`);
  }
  if (content.unknownEnforcement !== undefined) {
    const { policy, code } = content.unknownEnforcement;
    throw new AecpError("AECP_BUNDLE_MALFORMED", `policy \`${policy}\` has unknown enforcement ${code}`);
  }
  return {
    formatVersion: c.formatVersion,
    digest: c.digest,
    keyId: c.keyId,
    verified: c.verified,
    metadata: md,
    component: content.component,
    sizeBytes: c.sizeBytes,
  };
}

interface LeanContent {
  formatVersion: number;
  metadata: HostMetadata | undefined;
  component: Uint8Array;
  /** First policy whose enforcement code this build does not know (reported after the ABI check). */
  unknownEnforcement: { policy: string; code: number } | undefined;
}

/**
 * Decode `SignedContent` (proto/aecp/bundle/v1/bundle.proto) for the host.
 * Throws plain errors (BinaryReader's or its own); the caller wraps them.
 * As protobuf does: unknown fields are skipped, a repeated message field
 * merges (metadata, layout, approval), the last value of a scalar wins.
 */
function decodeSignedContentForHost(signed: Uint8Array): LeanContent {
  const r = new HostReader(signed);
  const out: LeanContent = { formatVersion: 0, metadata: undefined, component: new Uint8Array(0), unknownEnforcement: undefined };
  while (r.pos < r.len) {
    const tag = r.nextTag();
    const no = tag >>> 3;
    const wt: WireType = tag & 7;
    switch (no) {
      case 1:
        want(wt, WireType.Varint, "SignedContent.format_version");
        out.formatVersion = r.uint32();
        break;
      case 2:
        want(wt, WireType.LengthDelimited, "SignedContent.metadata");
        out.metadata = readMetadata(r, out.metadata ?? emptyHostMetadata(), out);
        break;
      case 3:
        want(wt, WireType.LengthDelimited, "SignedContent.component");
        out.component = r.bytes();
        break;
      default:
        skipField(r, no, wt);
    }
  }
  return out;
}

function emptyHostMetadata(): HostMetadata {
  return { name: "", compilerVersion: "", abiVersion: 0, defaultEffect: 0, slots: [], strings: [], policies: [], exceptions: [], layout: undefined };
}

function readMetadata(r: HostReader, md: HostMetadata, out: LeanContent): HostMetadata {
  const end = enter(r, "BundleMetadata");
  while (r.pos < end) {
    const tag = r.nextTag();
    const no = tag >>> 3;
    const wt: WireType = tag & 7;
    switch (no) {
      case 1:
        want(wt, WireType.LengthDelimited, "BundleMetadata.name");
        md.name = r.text();
        break;
      case 2:
        want(wt, WireType.LengthDelimited, "BundleMetadata.compiler_version");
        md.compilerVersion = r.text();
        break;
      case 3:
        want(wt, WireType.Varint, "BundleMetadata.abi_version");
        md.abiVersion = r.uint32();
        break;
      case 4:
        want(wt, WireType.Varint, "BundleMetadata.default_effect");
        md.defaultEffect = r.int32();
        break;
      case 5:
        want(wt, WireType.LengthDelimited, "BundleMetadata.slots");
        md.slots.push(fromBinary(AttributeSlotSchema, r.bytes()));
        break;
      case 6:
        want(wt, WireType.LengthDelimited, "BundleMetadata.strings");
        md.strings.push(r.text());
        break;
      case 7:
        want(wt, WireType.LengthDelimited, "BundleMetadata.policies");
        readPolicy(r, md, out);
        break;
      case 8:
        want(wt, WireType.LengthDelimited, "BundleMetadata.exceptions");
        md.exceptions.push(r.text());
        break;
      case 9: // sources: file hashes, not needed to evaluate
        want(wt, WireType.LengthDelimited, "BundleMetadata.sources");
        skipField(r, no, wt);
        break;
      case 10:
        want(wt, WireType.LengthDelimited, "BundleMetadata.layout");
        md.layout = mergeFromBinary(LayoutSchema, md.layout ?? create(LayoutSchema), r.bytes());
        break;
      default:
        skipField(r, no, wt);
    }
  }
  leave(r, end, "BundleMetadata");
  return md;
}

function readPolicy(r: HostReader, md: HostMetadata, out: LeanContent): void {
  const end = enter(r, "PolicyInfo");
  let name = "";
  let code = 0;
  let auditRequired = false;
  let exceptions: string[] | undefined;
  let approval: HostPolicyInfo["approval"];
  while (r.pos < end) {
    const tag = r.nextTag();
    const no = tag >>> 3;
    const wt: WireType = tag & 7;
    switch (no) {
      case 1:
        want(wt, WireType.LengthDelimited, "PolicyInfo.name");
        name = r.text();
        break;
      case 3:
        want(wt, WireType.Varint, "PolicyInfo.enforcement");
        code = r.int32();
        break;
      case 4:
        want(wt, WireType.Varint, "PolicyInfo.audit_required");
        auditRequired = r.bool();
        break;
      case 5:
        want(wt, WireType.LengthDelimited, "PolicyInfo.exceptions");
        (exceptions ??= []).push(r.text());
        break;
      case 6:
        want(wt, WireType.LengthDelimited, "PolicyInfo.approval");
        approval = readApproval(r, approval);
        break;
      case 2: // description
      case 7: // location
        want(wt, WireType.LengthDelimited, no === 2 ? "PolicyInfo.description" : "PolicyInfo.location");
        skipField(r, no, wt);
        break;
      default:
        skipField(r, no, wt);
    }
  }
  leave(r, end, "PolicyInfo");
  const enforcement = ENFORCEMENT_BY_CODE[code];
  if (enforcement === undefined) {
    out.unknownEnforcement ??= { policy: name, code };
    return;
  }
  // Same shape (and property order) as the host's PolicyEntry: the host keeps these objects as they are.
  md.policies.push({ name, enforcement, exceptions: exceptions ?? NO_EXCEPTIONS, auditRequired, approval });
}

function readApproval(r: HostReader, prev: HostPolicyInfo["approval"]): NonNullable<HostPolicyInfo["approval"]> {
  const end = enter(r, "Approval");
  const a = prev ?? { approvers: [], quorum: 0, timeoutMs: 0 };
  while (r.pos < end) {
    const tag = r.nextTag();
    const no = tag >>> 3;
    const wt: WireType = tag & 7;
    switch (no) {
      case 1:
        want(wt, WireType.LengthDelimited, "Approval.approvers");
        a.approvers.push(r.text());
        break;
      case 2:
        want(wt, WireType.Varint, "Approval.quorum");
        a.quorum = r.uint32();
        break;
      case 3:
        want(wt, WireType.Varint, "Approval.timeout_ms");
        a.timeoutMs = Number(r.uint64());
        break;
      default:
        skipField(r, no, wt);
    }
  }
  leave(r, end, "Approval");
  return a;
}

function want(wt: WireType, expected: WireType, field: string): void {
  if (wt !== expected) throw new Error(`${field} has wire type ${wt}, expected ${expected}`);
}

/** Read a sub-message's length; returns where it ends. */
function enter(r: HostReader, what: string): number {
  const len = r.uint32(); // INVARIANT: read before r.pos (the varint moves it)
  const end = r.pos + len;
  if (end > r.len) throw new RangeError(`${what} runs past the end of the signed content`);
  return end;
}

function leave(r: HostReader, end: number, what: string): void {
  if (r.pos !== end) throw new RangeError(`a field of ${what} runs past the message's length`);
}

/** Step over one field. Length-delimited values are skipped by moving the cursor (no subarray is made). */
function skipField(r: HostReader, no: number, wt: WireType): void {
  if (wt === WireType.LengthDelimited) {
    const len = r.uint32();
    r.pos += len;
    if (r.pos > r.len) throw new RangeError("premature EOF");
    return;
  }
  r.skip(wt, no);
}

// --- metadata conversions ---------------------------------------------------------

export function slotTypeToProto(t: SlotType): PbSlotType {
  return t === "string" ? PbSlotType.STRING : t === "number" ? PbSlotType.NUMBER : t === "bool" ? PbSlotType.BOOL : PbSlotType.ANY;
}

export function slotTypeFromProto(t: PbSlotType): SlotType {
  switch (t) {
    case PbSlotType.STRING:
      return "string";
    case PbSlotType.NUMBER:
      return "number";
    case PbSlotType.BOOL:
      return "bool";
    case PbSlotType.ANY:
      return "any";
    default:
      throw new AecpError("AECP_BUNDLE_MALFORMED", `unknown slot type ${t}`);
  }
}

function pathToProto(p: JsonPath) {
  return p.map((e) => create(PathElementSchema, { element: typeof e === "number" ? { case: "index", value: e } : { case: "name", value: e } }));
}

export function sourceToProto(s: AttributeSource): Source {
  switch (s.kind) {
    case "request":
      return create(SourceSchema, { kind: s.kind, field: s.field });
    case "query":
    case "header":
    case "context":
      return create(SourceSchema, { kind: s.kind, key: s.key });
    case "body":
      return create(SourceSchema, { kind: s.kind, path: pathToProto(s.path) });
    case "metadata":
      return create(SourceSchema, { kind: s.kind, key: s.namespace, path: pathToProto(s.path) });
    case "peer":
      return create(SourceSchema, { kind: s.kind, peer: s.peer, field: s.field });
  }
}

const REQUEST_FIELDS = new Set(["method", "path", "host", "scheme", "protocol"]);
const PEER_FIELDS = new Set(["principal", "address", "port", "namespace", "service_account", "trust_domain", "service"]);

export function sourceFromProto(s: Source): AttributeSource {
  const path = (): JsonPath =>
    s.path.map((e) => {
      if (e.element.case === "name" || e.element.case === "index") return e.element.value;
      throw new AecpError("AECP_BUNDLE_MALFORMED", "empty path element in slot source");
    });
  switch (s.kind) {
    case "request":
      if (!REQUEST_FIELDS.has(s.field)) break;
      return { kind: "request", field: s.field as "method" };
    case "query":
    case "header":
    case "context":
      return { kind: s.kind, key: s.key };
    case "body":
      return { kind: "body", path: path() };
    case "metadata":
      return { kind: "metadata", namespace: s.key, path: path() };
    case "peer":
      if ((s.peer !== "source" && s.peer !== "destination") || !PEER_FIELDS.has(s.field)) break;
      return { kind: "peer", peer: s.peer, field: s.field as "principal" };
  }
  throw new AecpError("AECP_BUNDLE_MALFORMED", `invalid slot source kind \`${s.kind}\``);
}
