// Import surface of the bundle layer: the signed bundle file format, keys,
// the policy-module ABI, attribute slot resolution and the evaluator host.
export * from "./abi.js";
export type { PeerAttributes, RequestAttributes } from "./attributes.js";
export { emptyRequestAttributes } from "./attributes.js";
export * from "./keys.js";
export * from "./format.js";
export * from "./resolve.js";
export * from "./host.js";
export * from "../gen/aecp/bundle/v1/bundle_pb.js";
