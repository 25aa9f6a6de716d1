// The three requests of the demo, shared by the banner of `aecp demo` (as
// curl commands) and by `aecp demo request <allow|deny|pause>`. They are what
// Envoy's `http_service` ext_authz sends to the sidecar's `/authz/<path>`: an
// AI agent (`x-agent-id`) acting on production config, against the
// `ai-agent-approval` bundle (policies/ai-agent-approval).

export type DemoRequestKind = "allow" | "deny" | "pause";

export interface DemoRequest {
  /** One line for humans. */
  what: string;
  /** The policy outcome the bundle implies, and the sidecar's HTTP status for it. */
  effect: DemoRequestKind;
  status: number;
  method: "GET" | "PUT";
  path: string;
  headers: Readonly<Record<string, string>>;
  body?: string;
}

const AGENT = Object.freeze({ "x-agent-id": "agent-7", "x-agent-on-behalf-of": "INC-4711" });

export const DEMO_REQUESTS: Readonly<Record<DemoRequestKind, DemoRequest>> = Object.freeze({
  allow: {
    what: "an AI agent reads production config (reads need no approval)",
    effect: "allow",
    status: 200,
    method: "GET",
    path: "/config/feature-flags",
    headers: { ...AGENT, "x-environment": "production" },
  },
  deny: {
    what: "an AI agent reads a secret (agents never touch /secrets: agent_no_secrets, BLOCKING)",
    effect: "deny",
    status: 403,
    method: "GET",
    path: "/secrets/db-password",
    headers: { ...AGENT },
  },
  pause: {
    what: "an AI agent changes production config (agent_prod_config_change, REQUIRE_APPROVAL by sre-oncall)",
    effect: "pause",
    status: 428,
    method: "PUT",
    path: "/config/feature-flags",
    headers: { ...AGENT, "x-environment": "production", "content-type": "application/json" },
    body: '{"checkout_v2":false}',
  },
});

/** POSIX shell quoting: bare when safe, else single quotes. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The request as a curl command against the sidecar's HTTP base URL. */
export function curlCommand(sidecarHttp: string, r: DemoRequest, extraHeaders: Record<string, string> = {}): string {
  const parts = ["curl", "-i"];
  if (r.method !== "GET") parts.push("-X", r.method);
  parts.push(`${sidecarHttp}/authz${r.path}`);
  for (const [k, v] of Object.entries({ ...r.headers, ...extraHeaders })) parts.push("-H", shellQuote(`${k}: ${v}`));
  if (r.body !== undefined) parts.push("-d", shellQuote(r.body));
  return parts.join(" ");
}
