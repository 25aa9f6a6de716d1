// Small shared type for the pause handler: how it finds a violated policy's
// APPROVAL settings in the bundle that decided (kept separate so pause.ts
// does not depend on the sidecar).
export type LoadedPolicyLookup = (policy: string) => { approvers: string[]; quorum: number; timeoutMs: number; exceptions?: readonly string[] } | undefined;
