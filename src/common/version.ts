// The compiler/product version. Bundles record it: the same sources and the
// same version always produce a bit-identical bundle. Kept equal to
// package.json's version (a test checks it).
export const AECP_VERSION = "0.1.0";
export const COMPILER_ID = `aecp-compiler/${AECP_VERSION}`;
