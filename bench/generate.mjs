// Synthetic policy bundles for the benchmarks: N policies over a fixed
// vocabulary of attributes (as in real bundles, policies differ in their
// literals — resource types, services, paths — not in the attributes they
// read), with a realistic mix of indexable scopes (resource types, services), extra WHERE conditions,
// constraints with IN lists, prefixes, globs and numbers, and a few policies
// without an indexable guard. Deterministic for a given N.

export function generatePolicies(n) {
  const attrs = [
    'ATTRIBUTE resource.type = request.headers["x-resource-type"]',
    'ATTRIBUTE customer.region = request.headers["x-customer-region"]',
    'ATTRIBUTE storage.location = request.headers["x-storage-location"]',
    'ATTRIBUTE request.amount = request.body.amount',
    'ATTRIBUTE tenant = request.headers["x-tenant"]',
  ].join("\n").replace("ATTRIBUTE request.amount", "ATTRIBUTE payment.amount");
  const modes = ["BLOCKING", "ADVISORY", "AUDIT_ONLY", "BLOCKING"];
  const out = [];
  for (let i = 0; i < n; i++) {
    const mode = modes[i % modes.length];
    const kind = i % 5;
    let body;
    if (kind === 0) {
      body = `SCOPE: rt_${i} WHERE customer.region == "EU"\n  CONSTRAINT: storage.location IN ["eu-west-1", "eu-central-1", "eu-north-${i % 7}"]`;
    } else if (kind === 1) {
      body = `SCOPE: requests WHERE source.service_account == "sa-${i}" AND request.method IN ["POST", "PUT", "DELETE"]\n  CONSTRAINT: request.path STARTS_WITH "/api/v1/${i}/" AND tenant != "blocked-${i}"`;
    } else if (kind === 2) {
      body = `SCOPE: rt_${i}\n  CONSTRAINT: payment.amount <= ${1000 + i} OR EXISTS request.headers["x-approved"]`;
    } else if (kind === 3) {
      body = `SCOPE: requests WHERE destination.service_account IN ["svc-${i}", "svc-${i}-canary"]\n  CONSTRAINT: request.path MATCHES "/api/*/items/**" AND source.namespace == destination.namespace`;
    } else {
      body = `SCOPE: rt_${i} WHERE request.method == "GET"\n  CONSTRAINT: NOT (request.query["debug"] == "true")`;
    }
    out.push(`POLICY p_${i} {\n  DESCRIPTION: "synthetic policy ${i}"\n  ${body}\n  ENFORCEMENT: ${mode}\n}`);
  }
  // a handful of unindexed policies, as real bundles have
  out.push(`POLICY global_admin_guard {\n  SCOPE: requests WHERE request.path STARTS_WITH "/admin"\n  CONSTRAINT: source.namespace == "ops"\n  ENFORCEMENT: BLOCKING\n}`);
  return [
    { path: "attributes.policy", text: attrs + "\n" },
    { path: "policies.policy", text: out.join("\n\n") + "\n" },
  ];
}

/** A request that hits policy i's scope (and a few indexed tables). */
export function sampleAttributes(i) {
  return {
    method: "POST",
    path: `/api/v1/${i}/orders`,
    query: {},
    host: "shop.example.com",
    scheme: "https",
    headers: { "x-resource-type": `rt_${i}`, "x-customer-region": "EU", "x-storage-location": "us-east-1", "x-tenant": "acme" },
    body: { amount: 2500 },
    source: { principal: `spiffe://cluster.local/ns/shop/sa/sa-${i}`, namespace: "shop", serviceAccount: `sa-${i}` },
    destination: { principal: "spiffe://cluster.local/ns/shop/sa/svc-3", namespace: "shop", serviceAccount: `svc-${i}` },
    context: {},
    metadata: {},
  };
}
