// Decisions and request attributes for the decision-log tests, shaped like
// the ones the sidecar produces (LoadedBundle.evaluate, attributesFrom*), with
// a secret in every header the log must mask.

import type { BundleRef, Decision, RequestAttributes } from "../../src/bundle/index.js";
import type { DecisionLog } from "../../src/executive/decision-log.js";
import { outcomeForDecision } from "../../src/executive/response.js";

export const BUNDLE: BundleRef = Object.freeze({ name: "payments", revision: 42, digest: `sha256:${"ab".repeat(32)}`, keyId: "ops-2025" });

/** Values that must never reach the sink. */
export const SECRETS = ["user-secret-jwt", "cookie-secret", "set-cookie-secret", "proxy-secret", "api-key-secret", "tenant-secret"] as const;

export function decision(over: Partial<Decision> = {}): Decision {
  return {
    effect: "deny",
    violations: [Object.freeze({ policy: "no-pan-in-body", enforcement: "BLOCKING" as const }), Object.freeze({ policy: "eu-only", enforcement: "ADVISORY" as const })],
    waived: [Object.freeze({ policy: "business-hours", enforcement: "BLOCKING" as const })],
    defaulted: false,
    bundle: BUNDLE,
    evalNs: 1834,
    ...over,
  };
}

export function attributes(i: number, over: Partial<RequestAttributes> = {}): RequestAttributes {
  const rawBody = JSON.stringify({ amount: i, currency: "EUR" });
  return {
    method: "POST",
    path: "/v1/payments",
    rawPath: "/v1/payments?dry_run=true",
    query: { dry_run: "true" },
    host: "api.example.com",
    scheme: "https",
    protocol: "HTTP/1.1",
    headers: {
      authorization: "Bearer user-secret-jwt",
      cookie: "session=cookie-secret",
      "set-cookie": "a=set-cookie-secret",
      "proxy-authorization": "Basic proxy-secret",
      "x-api-key": "api-key-secret",
      "x-tenant-key": "tenant-secret",
      "content-type": "application/json",
      "x-request-id": `req-${i}`,
    },
    body: JSON.parse(rawBody) as unknown,
    rawBody,
    source: { principal: "spiffe://cluster.local/ns/shop/sa/web", address: "10.0.0.7", port: 41234, namespace: "shop", serviceAccount: "web", trustDomain: "cluster.local" },
    destination: { address: "10.0.0.9", port: 8080, labels: { app: "payments" } },
    context: { route: "payments" },
    metadata: { "envoy.filters.http.jwt_authn": { claims: { sub: "u1" } } },
    requestId: `req-${i}`,
    ...over,
  };
}

export const idOf = (i: number): string => `d-${String(i).padStart(6, "0")}`;

/** Log decision number `i` the way the sidecar does (outcome from the real response builder). */
export function logDecision(log: DecisionLog, i: number, attrs: RequestAttributes = attributes(i)): void {
  const d = decision();
  log.record(outcomeForDecision(d, idOf(i)), attrs, d);
}
