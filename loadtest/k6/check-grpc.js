// k6: the sidecar's gRPC ext_authz Check under constant load, without Envoy.
// Loads Envoy's own protos (the ones @grpc/grpc-js-xds ships under deps/) and
// sends the CheckRequest Envoy would send for an AI agent reading production
// config: the ai-agent-approval bundle (docker-compose.yml) allows it.
//
//   k6 run loadtest/k6/check-grpc.js
//   k6 run -e AECP_GRPC_ADDR=127.0.0.1:9191 -e AECP_PROTO_DEPS=/path/to/deps loadtest/k6/check-grpc.js
//
// Thresholds come from loadtest/budgets.json (`check_grpc`); k6 exits non-zero
// when one is crossed. See loadtest/README.md.
import grpc from "k6/net/grpc";
import { check } from "k6";

const budget = JSON.parse(open("../budgets.json")).check_grpc;
const ADDR = __ENV.AECP_GRPC_ADDR || "127.0.0.1:9191";
const DEPS = __ENV.AECP_PROTO_DEPS || "../../node_modules/@grpc/grpc-js-xds/deps";

const client = new grpc.Client();
client.load(
  [`${DEPS}/envoy-api`, `${DEPS}/xds`, `${DEPS}/googleapis`, `${DEPS}/protoc-gen-validate`],
  "envoy/service/auth/v3/external_auth.proto",
);

export const options = {
  scenarios: {
    check: {
      executor: "constant-arrival-rate",
      rate: budget.rate_per_s,
      timeUnit: "1s",
      duration: budget.duration,
      preAllocatedVUs: 20,
      maxVUs: 200,
    },
  },
  thresholds: {
    grpc_req_duration: [`p(50)<${budget.p50_ms}`, `p(99)<${budget.p99_ms}`],
    checks: [`rate>=${1 - budget.max_error_rate}`],
  },
};

// What Envoy sends for `GET /config/feature-flags` from agent-7 (proto3 JSON).
const CHECK_REQUEST = {
  attributes: {
    source: { principal: "spiffe://cluster.local/ns/agents/sa/agent-7" },
    destination: { principal: "spiffe://cluster.local/ns/production/sa/config-api" },
    request: {
      http: {
        id: "k6",
        method: "GET",
        path: "/config/feature-flags",
        host: "config-api",
        scheme: "http",
        protocol: "HTTP/1.1",
        headers: { "x-agent-id": "agent-7", "x-environment": "production", "x-request-id": "k6" },
      },
    },
  },
};

export default function () {
  if (__ITER === 0) client.connect(ADDR, { plaintext: true, reflect: false });
  const res = client.invoke("envoy.service.auth.v3.Authorization/Check", CHECK_REQUEST);
  check(res, {
    "gRPC OK": (r) => r && r.status === grpc.StatusOK,
    "allowed (status.code 0)": (r) => r && r.message && ((r.message.status && r.message.status.code) || 0) === 0,
    "carries a decision id": (r) => r && r.message && r.message.okResponse !== undefined,
  });
}

export function teardown() {
  client.close();
}
