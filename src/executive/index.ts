// Import surface of the Executive layer (enforcement). So far: the adapter
// from Envoy CheckRequests (JSON, any captured shape) to RequestAttributes.
export { attributesFromCheckRequestJson, DEFAULT_MAX_BODY_BYTES } from "./checkrequest.js";
export type { CheckRequestOptions } from "./checkrequest.js";
export { normalizePath } from "./path.js";
export { checkRequestFromShorthand } from "./shorthand.js";
