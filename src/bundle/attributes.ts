// The decision core's view of a request: plain, transport-free attributes.
// Adapters (src/executive/checkrequest.ts for Envoy CheckRequests, later the
// HTTP forward-auth mode) build a RequestAttributes once per request; the
// evaluator host and the reference interpreter read attribute slots from it
// through `resolveSource` below, so both see exactly the same values.

/** One side of the connection (Envoy `AttributeContext.Peer`). */
export interface PeerAttributes {
  /** Raw principal: a SPIFFE ID (`spiffe://td/ns/<ns>/sa/<sa>`) or a certificate subject. */
  principal?: string;
  /** IP address (socket address), without port. */
  address?: string;
  port?: number;
  /** Parsed from a SPIFFE principal of the Kubernetes form `spiffe://<td>/ns/<ns>/sa/<sa>`. */
  namespace?: string;
  serviceAccount?: string;
  trustDomain?: string;
  service?: string;
  labels?: Readonly<Record<string, string>>;
}

export interface RequestAttributes {
  /** Upper-case HTTP method. */
  method?: string;
  /** Normalized path without query string (see docs on normalization). */
  path?: string;
  /** The path as received (with query), for logs only; never used by policy. */
  rawPath?: string;
  /** Query parameters; a repeated key holds its values joined with ",". */
  query: Readonly<Record<string, string>>;
  /** `:authority` / host, lower-case. */
  host?: string;
  scheme?: string;
  protocol?: string;
  /** Header names lower-case; repeated headers joined with ",". */
  headers: Readonly<Record<string, string>>;
  /** Parsed JSON request body, when the body is JSON; otherwise undefined. */
  body?: unknown;
  /**
   * The body exactly as received (text, or bytes for a gRPC raw_body), kept by
   * reference — never copied or hashed on the hot path. Used only when a
   * request is paused, to bind an approval to this exact body.
   */
  rawBody?: string | Uint8Array;
  source: PeerAttributes;
  destination: PeerAttributes;
  /** Envoy `context_extensions`. */
  context: Readonly<Record<string, string>>;
  /** Envoy `metadata_context.filter_metadata`: filter namespace → struct. */
  metadata: Readonly<Record<string, unknown>>;
  /** Envoy request id (`request.http.id`), when present. */
  requestId?: string;
}

export function emptyRequestAttributes(): RequestAttributes {
  return { query: {}, headers: {}, source: {}, destination: {}, context: {}, metadata: {} };
}
