// Import surface of the Executive layer (enforcement). So far: the adapter
// from Envoy CheckRequests (JSON, any captured shape) to RequestAttributes.
export { attributesFromCheckRequestJson, DEFAULT_MAX_BODY_BYTES } from "./checkrequest.js";
export type { CheckRequestOptions } from "./checkrequest.js";
export { normalizePath } from "./path.js";
export { checkRequestFromShorthand } from "./shorthand.js";
export { Sidecar, removeStaleSocket } from "./sidecar.js";
export { applySidecarV8Flags, SIDECAR_V8_FLAGS } from "./runtime.js";
export { BundleStore, LKG_FILE, LKG_META_FILE } from "./bundle-store.js";
export type { BundleMeta } from "./bundle-store.js";
export type { SidecarStatus, BundleSource, ActiveBundleInfo, ComponentStatus } from "./sidecar.js";
export { ShadowEvaluator, SHADOW_DEFAULTS } from "./shadow.js";
export type { ShadowOptions, ShadowStatus, ShadowDifference } from "./shadow.js";
export { sidecarOptions, SIDECAR_DEFAULTS } from "./options.js";
export { telemetryOptions, TELEMETRY_DEFAULTS } from "./telemetry-options.js";
export type { TelemetryOptions } from "./telemetry-options.js";
export { startTelemetrySdk, stopTelemetrySdk } from "./telemetry.js";
export type { SidecarOptions } from "./options.js";
export { attributesFromGrpcCheckRequest, envoyAuthPackageDefinition, envoyProtoIncludeDirs, structToJson, jsonToStruct, LOADER_OPTIONS } from "./envoy.js";
export { outcomeForDecision, outcomeForError, toCheckResponse, HEADER_DECISION_ID, HEADER_ADVISORY } from "./response.js";
export type { CheckOutcome } from "./response.js";
export { authzMode, checkRequestFromHttp, readRequestBody, serveAuthz, writeOutcome, AUTHZ_PREFIX, FORWARD_AUTH_HEADERS, HEADER_REASON, HEADER_ENVOY_HEADERS_TO_REMOVE } from "./http-authz.js";
export type { AuthzDecider, AuthzMode, HttpAuthzRequest } from "./http-authz.js";
export { DecisionLog, decisionLogOptions, buildDecisionRecord, DECISION_LOG_DEFAULTS, ALWAYS_MASKED_HEADERS, ALWAYS_MASKED_QUERY } from "./decision-log.js";
export type { DecisionLogOptions, DecisionLogStatus, DecisionRecord } from "./decision-log.js";
export { encodeExceptionGrant, verifyExceptionGrant, HEADER_EXCEPTION_GRANT } from "./exception-grant.js";
export type { ExceptionGrantPayload, VerifiedExceptionGrant } from "./exception-grant.js";
