// Smoke: two instances send 20 batches a second for a short while; every request must succeed, quickly.
// It runs in CI (test/loadtest/k6-harness.test.ts) and must stay well under a minute.
import exec from "k6/execution";
import { bounded, postBatch, registerAll, summaryTrendStats, thresholds } from "../k6/lib.js";

export { handleSummary } from "../k6/lib.js";

export const options = {
  summaryTrendStats,
  scenarios: {
    smoke: {
      executor: "constant-arrival-rate",
      rate: bounded("SM_RATE", 20, 200),
      timeUnit: "1s",
      duration: `${bounded("SM_DURATION_S", 10, 60)}s`,
      preAllocatedVUs: 4,
      maxVUs: 10,
    },
  },
  thresholds: thresholds({
    http_req_failed: ["rate<0.01"],
    "http_req_duration{endpoint:batch}": ["p(95)<250", "p(99)<500"],
    checks: ["rate>0.99"],
  }),
};

export function setup() {
  return { creds: registerAll(2) };
}

export default function (data) {
  const cred = data.creds[exec.scenario.iterationInTest % data.creds.length];
  postBatch(cred, exec.scenario.iterationInTest, 0);
}
