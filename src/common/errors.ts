// Runtime error registry: every error that crosses a module boundary carries a
// stable code from this table. Callers branch on `code`, never on `message`.
// Compiler diagnostics are NOT errors (see src/legislative/diagnostics.ts); a
// compile run that finds problems returns them as data.
//
// INVARIANT: codes are never reused or renamed once shipped. Retire a code by
// leaving its entry in place with `retired: true`.

export interface ErrorSpec {
  /** HTTP status used when the error crosses an HTTP boundary. */
  readonly http: number;
  /** One-line meaning, shown in docs and `aecp --help-errors`. */
  readonly summary: string;
  readonly retired?: boolean;
}

export const ERROR_CODES = {
  // --- usage / configuration -------------------------------------------------
  AECP_USAGE: { http: 400, summary: "invalid command-line usage" },
  AECP_IO: { http: 500, summary: "a file could not be read or written" },
  AECP_INTERNAL: { http: 500, summary: "an internal invariant failed (a bug)" },
  // --- keys and signatures ---------------------------------------------------
  AECP_KEY_INVALID: { http: 400, summary: "a PEM key file is malformed or not Ed25519" },
  AECP_BUNDLE_SIGNATURE_INVALID: { http: 400, summary: "the bundle signature does not verify" },
  AECP_BUNDLE_UNTRUSTED_KEY: { http: 400, summary: "the bundle was signed by a key that is not trusted" },
  AECP_BUNDLE_UNSIGNED: { http: 400, summary: "the bundle carries no signature" },
  // --- bundle format ---------------------------------------------------------
  AECP_BUNDLE_MALFORMED: { http: 400, summary: "the bundle file is not a well-formed AECP bundle" },
  AECP_BUNDLE_FORMAT_VERSION: { http: 400, summary: "the bundle format version is not supported" },
  AECP_BUNDLE_DIGEST_MISMATCH: { http: 400, summary: "the bundle content does not match its digest" },
  AECP_BUNDLE_TOO_LARGE: { http: 413, summary: "the bundle exceeds the configured size limit" },
  AECP_BUNDLE_WASM_INVALID: { http: 400, summary: "the bundle's WebAssembly does not validate or instantiate" },
  AECP_BUNDLE_ABI_MISMATCH: { http: 400, summary: "the bundle's WebAssembly ABI version is not supported" },
  // --- compile ---------------------------------------------------------------
  AECP_COMPILE_FAILED: { http: 400, summary: "policy sources have errors (see diagnostics)" },
  AECP_NO_SOURCES: { http: 400, summary: "no policy sources were found at the given paths" },
  // --- requests --------------------------------------------------------------
  AECP_REQUEST_MALFORMED: { http: 400, summary: "the CheckRequest is not in a recognized shape" },
  AECP_REQUEST_PATH_INVALID: { http: 400, summary: "the request path cannot be normalized safely" },
  AECP_REQUEST_TOO_LARGE: { http: 413, summary: "the request exceeds a configured size limit" },
  AECP_EVAL_FAILED: { http: 500, summary: "the policy evaluation trapped or failed" },
  // --- sidecar -------------------------------------------------------------------
  AECP_CONFIG_INVALID: { http: 400, summary: "a configuration file or option is invalid" },
  AECP_NO_BUNDLE: { http: 503, summary: "no policy bundle is active yet" },
  AECP_APPROVALS_UNAVAILABLE: { http: 503, summary: "approval is required but the approvals service cannot be reached" },
  AECP_DECISION_LOG_UNAVAILABLE: { http: 503, summary: "the decision log sink cannot be reached or failed; records are kept and retried" },
  AECP_DECISION_LOG_REJECTED: { http: 502, summary: "the decision log sink refused a batch; its records were dropped" },
  // --- distribution ----------------------------------------------------------------
  AECP_MANIFEST_MALFORMED: { http: 400, summary: "a distribution manifest is not well-formed (JSON, fields, limits)" },
  AECP_MANIFEST_UNSIGNED: { http: 400, summary: "a distribution manifest carries no signature" },
  AECP_MANIFEST_UNTRUSTED_KEY: { http: 400, summary: "a distribution manifest is signed only by keys that are not trusted" },
  AECP_MANIFEST_SIGNATURE_INVALID: { http: 400, summary: "a distribution manifest signature does not verify" },
  AECP_MANIFEST_EXPIRED: { http: 400, summary: "a distribution manifest is past its expires-at (freeze attack or dead publisher)" },
  AECP_MANIFEST_NAME_MISMATCH: { http: 400, summary: "a manifest or bundle names a different bundle than the one requested" },
  AECP_MANIFEST_ROLLBACK: { http: 409, summary: "a manifest revision is not newer than the active or published one (rollback protection)" },
  AECP_MANIFEST_REVISION_CONFLICT: { http: 409, summary: "the same revision was seen with different content" },
  AECP_BLOB_DIGEST_MISMATCH: { http: 400, summary: "blob bytes do not match the digest or size the manifest names" },
  AECP_BLOB_NOT_FOUND: { http: 404, summary: "no blob with this digest is stored" },
  AECP_DISTRIBUTION_NOT_FOUND: { http: 404, summary: "no bundle with this name has been published" },
  AECP_DISTRIBUTION_UNAUTHORIZED: { http: 401, summary: "the distribution request lacks a valid bearer token" },
  AECP_DISTRIBUTION_FORBIDDEN: { http: 403, summary: "publishing without a configured token is accepted only from loopback" },
  AECP_DISTRIBUTION_UNAVAILABLE: { http: 503, summary: "the distribution service cannot be reached or answered badly" },
  AECP_DISTRIBUTION_BAD_REQUEST: { http: 400, summary: "a distribution API request is malformed" },
  AECP_REGISTRY_ERROR: { http: 502, summary: "the OCI registry refused or failed a request" },
  // --- approvals ---------------------------------------------------------------
  AECP_EXECUTION_NOT_FOUND: { http: 404, summary: "no execution with this id exists" },
  AECP_EXECUTION_INVALID: { http: 400, summary: "an execution create request is malformed" },
  AECP_EXECUTION_NOT_PENDING: { http: 409, summary: "the execution is no longer pending; the decision was not applied" },
  AECP_APPROVALS_BAD_REQUEST: { http: 400, summary: "a request to the approvals service is malformed" },
  AECP_APPROVALS_UNAUTHENTICATED: { http: 401, summary: "missing or unknown bearer token" },
  AECP_APPROVER_FORBIDDEN: { http: 403, summary: "this approver may not decide this execution (group, role or already voted)" },
  AECP_SELF_APPROVAL: { http: 403, summary: "the requester of an execution may not decide it" },
  AECP_JUSTIFICATION_REQUIRED: { http: 400, summary: "reject and override decisions need a justification" },
  AECP_LINK_INVALID: { http: 403, summary: "a decision link is malformed, forged, expired or already used" },
  AECP_CSRF_INVALID: { http: 403, summary: "a form submission lacks a valid CSRF token or comes from another origin" },
  AECP_SLACK_SIGNATURE_INVALID: { http: 401, summary: "a Slack request signature is missing, wrong, stale or replayed" },
  AECP_GRANT_INVALID: { http: 403, summary: "an exception grant is malformed, untrusted, expired or bound to another request" },
  AECP_GRANT_KEY_MISSING: { http: 503, summary: "override needs a grant signing key (`grant_key`) and none is configured" },
  AECP_STORE_FAILED: { http: 503, summary: "the approvals database failed or is unreachable" },
  // --- audit and replay ----------------------------------------------------------
  AECP_AUDIT_ENTRY_INVALID: { http: 400, summary: "an audit entry cannot be recorded (kind, subject or body invalid or too large)" },
  AECP_AUDIT_RANGE_INVALID: { http: 400, summary: "an audit index, tree size or range is outside the log" },
  AECP_AUDIT_NO_CHECKPOINT: { http: 404, summary: "the audit log has no signed checkpoint yet" },
  AECP_AUDIT_NOT_IN_TRANSACTION: { http: 500, summary: "an audit append was attempted outside the caller's database transaction (a bug)" },
  AECP_AUDIT_STORE_FAILED: { http: 503, summary: "the audit store (database) failed" },
  AECP_AUDIT_CORRUPT: { http: 500, summary: "the stored audit log is inconsistent (tampering or corruption)" },
  AECP_AUDIT_PROOF_INVALID: { http: 400, summary: "an audit proof, checkpoint or checkpoint signature does not verify" },
  AECP_AUDIT_UNAVAILABLE: { http: 503, summary: "the audit endpoint cannot be reached or answered with something other than audit data" },
  AECP_AUDIT_NOT_FOUND: { http: 404, summary: "no such audit endpoint" },
  AECP_REPLAY_RECORD_INVALID: { http: 502, summary: "the execution record is malformed or lacks what replay needs" },
  // --- policy tests ------------------------------------------------------------
  AECP_TEST_FILE_INVALID: { http: 400, summary: "a policy test file is malformed" },
  // --- demo (`npm start`) ----------------------------------------------------------
  AECP_DEMO_PORT_IN_USE: { http: 409, summary: "a port the demo stack needs is already in use (pick another with its flag, or 0 for any free port)" },
  AECP_DEMO_SERVICE_FAILED: { http: 500, summary: "a demo service exited unexpectedly or did not become ready in time; the rest were stopped" },
  AECP_DEMO_NOT_RUNNING: { http: 503, summary: "no running demo stack was found in the state folder (start it with `npm start`)" },
  AECP_DEMO_UNEXPECTED: { http: 502, summary: "a demo request got an answer other than the one the demo policy implies" },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** An error with a stable code. `cause` is logged, never sent to a client. */
export class AecpError extends Error {
  readonly code: ErrorCode;
  /** Structured detail that is safe to show to a client (no secrets, no stack). */
  readonly detail: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; detail?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AecpError";
    this.code = code;
    this.detail = options?.detail === undefined ? undefined : Object.freeze({ ...options.detail });
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].http;
  }

  toJSON(): { code: ErrorCode; message: string; detail?: Readonly<Record<string, unknown>> } {
    return this.detail === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, detail: this.detail };
  }
}

export function isAecpError(e: unknown, code?: ErrorCode): e is AecpError {
  return e instanceof AecpError && (code === undefined || e.code === code);
}

/**
 * The AecpError for a non-success answer of an AECP service. Its JSON body
 * `{"error": {"code", "message"}}` supplies the code (when it is one of ours)
 * and the detail; any other body (a proxy's page) keeps `fallback`. The
 * message is `<prefix> HTTP <status>`, then the service's own message.
 */
export function errorFromAnswer(status: number, body: Uint8Array, fallback: ErrorCode, prefix: string): AecpError {
  let code: ErrorCode = fallback;
  let message = `${prefix} HTTP ${status}`;
  try {
    const e = (JSON.parse(Buffer.from(body).toString("utf8")) as { error?: { code?: string; message?: string } }).error;
    if (e?.code && e.code in ERROR_CODES) code = e.code as ErrorCode;
    if (typeof e?.message === "string") message = `${message}: ${e.message.slice(0, 500)}`;
  } catch {
    // not our JSON: keep the fallback code
  }
  return new AecpError(code, message, { detail: { status } });
}
