// undici, loaded on first use. It is the sidecar's largest dependency (about
// 19 MB of RSS once imported, measured with process.memoryUsage after gc),
// and a sidecar without an approvals service or a decision-log sink never
// makes an outbound call — so it should not pay for it.

type Undici = Awaited<ReturnType<typeof importUndici>>;

const importUndici = () => import("undici");
let loading: Promise<Undici> | undefined;

/** The undici module (imported once, on the first call). */
export function loadUndici(): Promise<Undici> {
  return (loading ??= importUndici());
}
