// Import surface of src/common: the bottom layer (errors), imported by every other layer.
export { AECP_VERSION, COMPILER_ID } from "./version.js";
export { AecpError, ERROR_CODES, errorFromAnswer, isAecpError } from "./errors.js";
export type { ErrorCode, ErrorSpec } from "./errors.js";
export { writeFileDurably } from "./durable-file.js";
export type { DurableWriteOptions } from "./durable-file.js";
export { discardBody, readBoundedBody } from "./bounded-body.js";
export type { BodyStream } from "./bounded-body.js";
