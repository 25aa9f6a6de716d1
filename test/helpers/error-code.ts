// The AECP error code a call throws, or "no error"; anything that is not an
// AecpError is rethrown (a crash must fail the test, not read as a code).

import { AecpError, type ErrorCode } from "../../src/common/index.js";

export function codeOf(fn: () => unknown): ErrorCode | "no error" {
  try {
    fn();
    return "no error";
  } catch (e) {
    if (e instanceof AecpError) return e.code;
    throw e;
  }
}
