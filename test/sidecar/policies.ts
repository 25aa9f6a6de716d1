// Policy sources compiled by test/sidecar.test.ts.
//
// MAIN: DEFAULT: DENY; one policy per behaviour the sidecar must carry through
// gRPC (BLOCKING, ADVISORY, REQUIRE_APPROVAL, JWT claims from metadata, JSON
// bodies, SPIFFE namespaces), plus policies that scope the captured samples in
// test/fixtures/checkrequests so that each of them is decided by a policy that
// reads its body, metadata, context extensions or principal.
//
// SWAP: a different bundle for the atomic-swap test. Every request the swap
// test sends has a different decision under MAIN and under SWAP.

export const MAIN_ATTRIBUTES = `
DEFAULT: DENY

ATTRIBUTE jwt.role = metadata["envoy.filters.http.jwt_authn"].claims.role
ATTRIBUTE jwt.verified_role = metadata["envoy.filters.http.jwt_authn"].verified_jwt.role
ATTRIBUTE caller.namespace = source.namespace
ATTRIBUTE caller.trust_domain = source.trust_domain
`;

export const MAIN_POLICIES = `
POLICY public_pages {
  SCOPE: requests WHERE request.path MATCHES "/public/**"
  CONSTRAINT: TRUE
  ENFORCEMENT: BLOCKING
}

POLICY admin_role {
  SCOPE: requests WHERE request.path == "/admin" OR request.path MATCHES "/admin/**"
  CONSTRAINT: jwt.role == "admin"
  ENFORCEMENT: BLOCKING
}

POLICY mesh_shop_only {
  SCOPE: requests WHERE request.path MATCHES "/mesh/**"
  CONSTRAINT: caller.namespace == "shop" AND caller.trust_domain == "cluster.local"
  ENFORCEMENT: BLOCKING
}

POLICY orders_need_body {
  SCOPE: requests WHERE request.path == "/orders"
  CONSTRAINT: EXISTS request.body.amount
  ENFORCEMENT: BLOCKING
}

POLICY big_orders_approval {
  SCOPE: requests WHERE request.path == "/orders"
  CONSTRAINT: request.body.amount <= 1000
  ENFORCEMENT: REQUIRE_APPROVAL
  APPROVAL: {
    APPROVERS: "finance"
    QUORUM: 1
    TIMEOUT: 1h
  }
}

POLICY orders_trace {
  SCOPE: requests WHERE request.path == "/orders"
  CONSTRAINT: EXISTS request.headers["x-request-id"]
  ENFORCEMENT: ADVISORY
}

POLICY swap_probe {
  SCOPE: requests WHERE request.path MATCHES "/swap/**"
  CONSTRAINT: TRUE
  ENFORCEMENT: BLOCKING
}

# --- the captured samples -------------------------------------------------------
# 01, 02: GET /api/v1/products with a JSON body (no content-type)
POLICY products_body {
  SCOPE: requests WHERE request.path MATCHES "/api/v1/**"
  CONSTRAINT: request.body.firstname == "foo" AND request.body.lastname == "bar"
  ENFORCEMENT: BLOCKING
}

# 02 has context extensions and metadata; 01 has neither (advisory note)
POLICY products_context {
  SCOPE: requests WHERE request.path MATCHES "/api/v1/**"
  CONSTRAINT: context["hello"] == "world" AND metadata["dummy"].count == 1 AND metadata["dummy"].hello == "world"
  ENFORCEMENT: ADVISORY
}

# 07: gRPC call with verified JWT claims in jwt_authn metadata
POLICY echo_admin {
  SCOPE: requests WHERE request.path MATCHES "/echo.EchoServer/*"
  CONSTRAINT: jwt.verified_role == "admin" AND request.scheme == "https" AND request.method == "POST"
  ENFORCEMENT: BLOCKING
}

# 09: Istio mTLS caller (SPIFFE id) posting a GraphQL query as JSON
POLICY graphql_clients {
  SCOPE: requests WHERE request.path == "/" AND request.method == "POST"
  CONSTRAINT: caller.namespace == "clientns" AND request.body.query STARTS_WITH "query{"
  ENFORCEMENT: BLOCKING
}
# 03 (/com.book.BookService/...) is scoped by nothing: DEFAULT: DENY.
`;

export const SWAP_POLICIES = `
DEFAULT: ALLOW

POLICY swap_closed {
  SCOPE: requests WHERE request.path MATCHES "/swap/**"
  CONSTRAINT: FALSE
  ENFORCEMENT: BLOCKING
}
`;
