// k6: HTTP through Envoy (envoy/envoy.yaml) with ext_authz to the sidecar, to
// the echo upstream: the whole data path of docker-compose.yml. A second
// scenario at the same rate hits /healthz, the route Envoy does not authorize,
// as the baseline measured in the same run: the difference of the two
// http_req_duration sub-metrics in k6's summary is the cost of authorization
// (Envoy's gRPC call to the sidecar and the decision).
//
//   docker compose up -d && k6 run loadtest/k6/through-envoy.js
//   k6 run -e AECP_ENVOY_URL=http://127.0.0.1:8000 loadtest/k6/through-envoy.js
//
// Thresholds come from loadtest/budgets.json (`through_envoy`).
import http from "k6/http";
import { check } from "k6";

const budget = JSON.parse(open("../budgets.json")).through_envoy;
const BASE = __ENV.AECP_ENVOY_URL || "http://127.0.0.1:8000";
// GET /config/* by an agent in production: allowed by the ai-agent-approval bundle
const AUTHORIZED_PATH = "/config/feature-flags";
const BASELINE_PATH = "/healthz";
const HEADERS = { "x-agent-id": "agent-7", "x-environment": "production" };

const scenario = (exec) => ({
  executor: "constant-arrival-rate",
  exec,
  rate: budget.rate_per_s,
  timeUnit: "1s",
  duration: budget.duration,
  preAllocatedVUs: 20,
  maxVUs: 200,
});

export const options = {
  scenarios: { authorized: scenario("authorized"), baseline: scenario("baseline") },
  thresholds: {
    "http_req_duration{scenario:authorized}": [`p(50)<${budget.p50_ms}`, `p(99)<${budget.p99_ms}`],
    "http_req_failed{scenario:authorized}": [`rate<=${budget.max_error_rate}`],
    "checks{scenario:authorized}": [`rate>=${1 - budget.max_error_rate}`],
    // the same budget for the baseline, so k6 reports both sub-metrics side by side
    "http_req_duration{scenario:baseline}": [`p(99)<${budget.p99_ms}`],
  },
  summaryTrendStats: ["p(50)", "p(99)", "max"],
};

export function authorized() {
  const res = http.get(`${BASE}${AUTHORIZED_PATH}`, { headers: HEADERS });
  check(res, {
    "allowed (200)": (r) => r.status === 200,
    "upstream saw x-aecp-decision-id": (r) => r.status === 200 && r.json("headers.x-aecp-decision-id") !== undefined,
  });
}

export function baseline() {
  http.get(`${BASE}${BASELINE_PATH}`);
}
