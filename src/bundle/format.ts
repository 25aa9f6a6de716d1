// The bundle file: "AECPBNDL" magic + protobuf BundleFile (proto/aecp/bundle/v1).
// Writing signs the SHA-256 digest of the serialized SignedContent; reading
// checks size, magic, format version, digest and a trusted signature BEFORE
// decoding the signed content, and returns typed metadata plus the component.

import { createHash } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AecpError } from "../common/index.js";
import type { AttributeSource, JsonPath, SlotType } from "../legislative/index.js";
import {
  BundleFileSchema,
  SignatureSchema,
  SignedContentSchema,
  SlotType as PbSlotType,
  SourceSchema,
  PathElementSchema,
  type BundleMetadata,
  type Source,
} from "../gen/aecp/bundle/v1/bundle_pb.js";
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

export function readBundle(bytes: Uint8Array, opts: ReadOptions): OpenedBundle {
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
  let content;
  try {
    content = fromBinary(SignedContentSchema, file.signed);
  } catch (cause) {
    throw new AecpError("AECP_BUNDLE_MALFORMED", "signed bundle content does not decode", { cause });
  }
  if (content.formatVersion !== FORMAT_VERSION || !content.metadata) {
    throw new AecpError("AECP_BUNDLE_MALFORMED", "signed content has no metadata or a different format version");
  }
  return {
    formatVersion: file.formatVersion,
    digest: Buffer.from(digest).toString("hex"),
    keyId,
    verified: !opts.skipVerification,
    metadata: content.metadata,
    component: content.component,
    sizeBytes: bytes.length,
  };
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
