// OCI registry storage: bundles as OCI artifacts in one repository of a
// registry the user already runs (Harbor, ECR, GHCR, the CNCF Distribution
// registry …), over the OCI distribution API with undici. Several stateless
// distribution replicas can share one repository: everything lives in the
// registry, each replica only caches.
//
// One revision of bundle <name> = one OCI image manifest tagged
// `<name>.r<revision>`:
//   artifactType  application/vnd.aecp.bundle.v1
//   config        the signed distribution manifest   (application/vnd.aecp.manifest.v1+json)
//   layers[0]     the bundle file                    (application/vnd.aecp.bundle.v1)
// Blobs are pushed before the manifest that references them (the registry
// refuses a manifest whose blobs are missing). Every blob read back is
// re-hashed: the registry is storage, not a trust anchor.
//
// Auth: anonymous, HTTP Basic, or the registry token flow (401 with a
// `Bearer realm=…` challenge → token from the realm, with Basic credentials
// when configured), as registries implement it.

import { createHash } from "node:crypto";
import { Agent, request, type Dispatcher } from "undici";
import { AecpError, readBoundedBody } from "../common/index.js";
import { parseManifest, BUNDLE_NAME, MAX_MANIFEST_BYTES } from "./manifest.js";
import type { BundleStorage, StoredManifest } from "./storage.js";

export const OCI_ARTIFACT_TYPE = "application/vnd.aecp.bundle.v1";
export const OCI_BUNDLE_MEDIA_TYPE = "application/vnd.aecp.bundle.v1";
export const OCI_MANIFEST_CONFIG_MEDIA_TYPE = "application/vnd.aecp.manifest.v1+json";
const OCI_IMAGE_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
/** Largest OCI manifest document read from the registry, bytes. */
const MAX_OCI_MANIFEST_BYTES = 256 * 1024;
/** Largest tag list page read, bytes. */
const MAX_TAG_PAGE_BYTES = 8 * 1024 * 1024;
/** How long one tag listing answers `latest`/`names` calls (one registry call per poll, not per bundle). */
const TAG_CACHE_MS = 250;
const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^(.+)\.r(\d{1,15})$/;

export interface OciStorageOptions {
  /** `http(s)://host[:port]/<repository>` (the repository may contain `/`). */
  url: string;
  /** Registry credentials (Basic, or for the token flow). Default anonymous. */
  username?: string | undefined;
  password?: string | undefined;
  /** Largest blob accepted from the registry, bytes. */
  maxBlobBytes: number;
  /** Per-request timeout, ms. Default 30000. */
  requestTimeoutMs?: number;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Uint8Array;
}

/** OCI distribution-API storage (see the file header). */
export class OciStorage implements BundleStorage {
  readonly kind = "oci";
  readonly location: string;
  private readonly origin: string;
  private readonly repository: string;
  private readonly agent: Agent;
  private readonly basic: string | undefined;
  private bearer: string | undefined;
  private tagCache: { at: number; tags: Promise<string[]> } | undefined;
  private readonly manifestCache = new Map<string, StoredManifest>();

  constructor(private readonly opts: OciStorageOptions) {
    let u: URL;
    try {
      u = new URL(opts.url);
    } catch {
      throw new AecpError("AECP_CONFIG_INVALID", `OCI location \`${opts.url}\` is not a URL (use http(s)://registry[:port]/repository)`);
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new AecpError("AECP_CONFIG_INVALID", "OCI location must be an http(s) URL");
    if (u.username || u.password || u.search || u.hash) throw new AecpError("AECP_CONFIG_INVALID", "OCI location must not carry credentials, a query or a fragment");
    this.repository = u.pathname.replace(/^\/+|\/+$/g, "");
    if (!REPOSITORY.test(this.repository)) throw new AecpError("AECP_CONFIG_INVALID", `OCI repository \`${this.repository}\` is not a valid repository name (lowercase path)`);
    this.origin = u.origin;
    this.location = `${u.origin}/${this.repository}`;
    this.basic = opts.username !== undefined ? `Basic ${Buffer.from(`${opts.username}:${opts.password ?? ""}`).toString("base64")}` : undefined;
    const timeout = opts.requestTimeoutMs ?? 30_000;
    this.agent = new Agent({ headersTimeout: timeout, bodyTimeout: timeout, connections: 16 });
  }

  private tag(name: string, revision: number): string {
    const t = `${name}.r${revision}`;
    if (t.length > 128) throw new AecpError("AECP_DISTRIBUTION_BAD_REQUEST", `bundle name \`${name}\` is too long for an OCI tag`);
    return t;
  }

  private async send(method: Dispatcher.HttpMethod, path: string, init: { headers?: Record<string, string>; body?: Uint8Array; limit: number; absolute?: boolean }): Promise<Answer> {
    const url = init.absolute ? path : `${this.origin}${path}`;
    for (let attempt = 0; ; attempt++) {
      const auth = this.bearer ?? this.basic;
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, {
          method,
          dispatcher: this.agent,
          headers: { ...(init.headers ?? {}), ...(auth ? { authorization: auth } : {}) },
          ...(init.body ? { body: init.body } : {}),
          maxRedirections: 3,
        });
      } catch (cause) {
        throw new AecpError("AECP_REGISTRY_ERROR", `OCI registry ${this.origin} cannot be reached (${method} ${path.split("?")[0]})`, { cause });
      }
      const body = await readLimited(res.body, init.limit, `${method} ${path.split("?")[0]}`);
      if (res.statusCode === 401 && attempt === 0) {
        const challenge = String(res.headers["www-authenticate"] ?? "");
        if (await this.authenticate(challenge)) continue;
      }
      return { status: res.statusCode, headers: res.headers, body };
    }
  }

  /** Answer a 401 challenge; true when a retry may succeed. */
  private async authenticate(challenge: string): Promise<boolean> {
    if (/^basic/i.test(challenge)) return false; // Basic credentials, if any, were already sent
    if (!/^bearer/i.test(challenge)) return false;
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!.toLowerCase(), m[2]!]));
    const realm = params["realm"];
    if (!realm) return false;
    const q = new URLSearchParams();
    if (params["service"]) q.set("service", params["service"]);
    if (params["scope"]) q.set("scope", params["scope"]);
    let res: Dispatcher.ResponseData;
    try {
      res = await request(`${realm}?${q}`, { dispatcher: this.agent, headers: this.basic ? { authorization: this.basic } : {} });
    } catch (cause) {
      throw new AecpError("AECP_REGISTRY_ERROR", "OCI registry token service cannot be reached", { cause });
    }
    const body = await readLimited(res.body, 64 * 1024, "token");
    if (res.statusCode !== 200) return false;
    try {
      const t = JSON.parse(Buffer.from(body).toString("utf8")) as { token?: string; access_token?: string };
      const token = t.token ?? t.access_token;
      if (typeof token !== "string" || token === "") return false;
      this.bearer = `Bearer ${token}`;
      return true;
    } catch {
      return false;
    }
  }

  private fail(what: string, a: Answer): never {
    const text = Buffer.from(a.body.subarray(0, 300)).toString("utf8").replace(/\s+/g, " ");
    throw new AecpError("AECP_REGISTRY_ERROR", `OCI registry refused ${what}: HTTP ${a.status}${text ? ` ${text}` : ""}`, { detail: { status: a.status } });
  }

  async putBlob(digest: string, bytes: Uint8Array): Promise<void> {
    const head = await this.send("HEAD", `/v2/${this.repository}/blobs/${digest}`, { limit: 0 });
    if (head.status === 200) return;
    const start = await this.send("POST", `/v2/${this.repository}/blobs/uploads/`, { limit: 64 * 1024 });
    const loc = start.headers["location"];
    if (start.status !== 202 || typeof loc !== "string") this.fail("a blob upload", start);
    const target = new URL(loc, this.origin);
    target.searchParams.set("digest", digest);
    const put = await this.send("PUT", target.href, { absolute: true, body: bytes, headers: { "content-type": "application/octet-stream" }, limit: 64 * 1024 });
    if (put.status !== 201) this.fail(`blob ${digest}`, put);
  }

  async getBlob(digest: string): Promise<Uint8Array | undefined> {
    const a = await this.send("GET", `/v2/${this.repository}/blobs/${digest}`, { limit: this.opts.maxBlobBytes });
    if (a.status === 404) return undefined;
    if (a.status !== 200) this.fail(`blob ${digest}`, a);
    if (`sha256:${createHash("sha256").update(a.body).digest("hex")}` !== digest) {
      throw new AecpError("AECP_BLOB_DIGEST_MISMATCH", `OCI registry returned blob ${digest} with different content`);
    }
    return a.body;
  }

  async putManifest(m: StoredManifest): Promise<void> {
    const tag = this.tag(m.name, m.revision);
    const parsed = parseManifest(m.bytes);
    const exists = await this.send("HEAD", `/v2/${this.repository}/manifests/${tag}`, { headers: { accept: OCI_IMAGE_MANIFEST }, limit: 0 });
    // Not atomic across replicas (the distribution API has no conditional tag
    // write): two replicas racing on one revision both pass this check; the
    // watchers' same-revision check still rejects a second, different content.
    if (exists.status === 200) {
      this.tagCache = undefined; // our listing was stale
      throw new AecpError("AECP_MANIFEST_ROLLBACK", `revision ${m.revision} of \`${m.name}\` already exists in the registry`);
    }
    const configDigest = `sha256:${createHash("sha256").update(m.bytes).digest("hex")}`;
    await this.putBlob(configDigest, m.bytes);
    const doc = {
      schemaVersion: 2,
      mediaType: OCI_IMAGE_MANIFEST,
      artifactType: OCI_ARTIFACT_TYPE,
      config: { mediaType: OCI_MANIFEST_CONFIG_MEDIA_TYPE, digest: configDigest, size: m.bytes.length },
      layers: [{ mediaType: OCI_BUNDLE_MEDIA_TYPE, digest: parsed.signed.blobDigest, size: parsed.signed.blobSize }],
      annotations: {
        "org.opencontainers.image.created": parsed.signed.issuedAt,
        "io.aecp.bundle.name": m.name,
        "io.aecp.bundle.revision": String(m.revision),
      },
    };
    const put = await this.send("PUT", `/v2/${this.repository}/manifests/${tag}`, {
      headers: { "content-type": OCI_IMAGE_MANIFEST },
      body: new TextEncoder().encode(JSON.stringify(doc)),
      limit: 64 * 1024,
    });
    if (put.status !== 201) this.fail(`manifest ${tag}`, put);
    this.tagCache = undefined;
  }

  async getManifest(name: string, revision: number): Promise<StoredManifest | undefined> {
    const tag = this.tag(name, revision);
    const cached = this.manifestCache.get(tag);
    if (cached) return cached;
    const a = await this.send("GET", `/v2/${this.repository}/manifests/${tag}`, { headers: { accept: OCI_IMAGE_MANIFEST }, limit: MAX_OCI_MANIFEST_BYTES });
    if (a.status === 404) return undefined;
    if (a.status !== 200) this.fail(`manifest ${tag}`, a);
    let config: { mediaType?: unknown; digest?: unknown; size?: unknown } | undefined;
    try {
      const doc = JSON.parse(Buffer.from(a.body).toString("utf8")) as { artifactType?: unknown; config?: typeof config };
      config = doc.config;
      if (doc.artifactType !== OCI_ARTIFACT_TYPE || !config || config.mediaType !== OCI_MANIFEST_CONFIG_MEDIA_TYPE) config = undefined;
    } catch {
      config = undefined;
    }
    if (!config || typeof config.digest !== "string" || typeof config.size !== "number" || config.size > MAX_MANIFEST_BYTES) {
      throw new AecpError("AECP_REGISTRY_ERROR", `OCI artifact ${tag} is not an AECP bundle artifact`);
    }
    const bytes = await this.getBlob(config.digest);
    if (!bytes) throw new AecpError("AECP_REGISTRY_ERROR", `OCI artifact ${tag} references a missing manifest blob`);
    const stored = { name, revision, bytes };
    this.manifestCache.set(tag, stored); // INVARIANT: a tag is written once, so its content never changes
    return stored;
  }

  /** Every tag in the repository (paginated listing), cached for TAG_CACHE_MS. */
  private tags(): Promise<string[]> {
    const now = Date.now();
    if (this.tagCache && now - this.tagCache.at < TAG_CACHE_MS) return this.tagCache.tags;
    const p = this.listTags();
    this.tagCache = { at: now, tags: p };
    p.catch(() => {
      if (this.tagCache?.tags === p) this.tagCache = undefined;
    });
    return p;
  }

  private async listTags(): Promise<string[]> {
    const all: string[] = [];
    let path: string | undefined = `/v2/${this.repository}/tags/list?n=1000`;
    for (let page = 0; path !== undefined && page < 1000; page++) {
      const a = await this.send("GET", path, { limit: MAX_TAG_PAGE_BYTES });
      if (a.status === 404) return all; // repository does not exist yet
      if (a.status !== 200) this.fail("the tag listing", a);
      let tags: unknown;
      try {
        tags = (JSON.parse(Buffer.from(a.body).toString("utf8")) as { tags?: unknown }).tags;
      } catch (cause) {
        throw new AecpError("AECP_REGISTRY_ERROR", "OCI registry tag listing is not JSON", { cause });
      }
      if (Array.isArray(tags)) for (const t of tags) if (typeof t === "string") all.push(t);
      const link = String(a.headers["link"] ?? "");
      const next = /<([^>]+)>;\s*rel="?next"?/.exec(link);
      path = next ? new URL(next[1]!, this.origin).pathname + new URL(next[1]!, this.origin).search : undefined;
    }
    return all;
  }

  async revisions(name: string): Promise<number[]> {
    const revs: number[] = [];
    for (const t of await this.tags()) {
      const m = TAG.exec(t);
      if (m && m[1] === name) revs.push(Number(m[2]));
    }
    return revs.sort((a, b) => a - b);
  }

  async latest(name: string): Promise<StoredManifest | undefined> {
    const revs = await this.revisions(name);
    const last = revs[revs.length - 1];
    return last === undefined ? undefined : this.getManifest(name, last);
  }

  async names(): Promise<string[]> {
    const names = new Set<string>();
    for (const t of await this.tags()) {
      const m = TAG.exec(t);
      if (m && BUNDLE_NAME.test(m[1]!)) names.add(m[1]!); // other artifacts may share the repository
    }
    return [...names].sort();
  }

  async check(): Promise<void> {
    const a = await this.send("GET", "/v2/", { limit: 64 * 1024 });
    if (a.status !== 200) this.fail("the API version check", a);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

function readLimited(body: Dispatcher.ResponseData["body"], limit: number, what: string): Promise<Uint8Array> {
  return readBoundedBody(body, limit, () => new AecpError("AECP_REGISTRY_ERROR", `OCI registry answer to ${what} exceeds ${limit} bytes`));
}
