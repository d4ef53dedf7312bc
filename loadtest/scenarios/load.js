// Load: a constant arrival rate of batches (SM_RATE per second, default 50) for SM_DURATION_S (default 60).
import exec from "k6/execution";
import { bounded, postBatch, registerAll, summaryTrendStats, thresholds } from "../k6/lib.js";

export { handleSummary } from "../k6/lib.js";

const rate = bounded("SM_RATE", 50, 2000);

export const options = {
  summaryTrendStats,
  scenarios: {
    load: {
      executor: "constant-arrival-rate",
      rate,
      timeUnit: "1s",
      duration: `${bounded("SM_DURATION_S", 60, 600)}s`,
      preAllocatedVUs: Math.min(50, Math.ceil(rate / 5)),
      maxVUs: Math.min(200, Math.ceil(rate / 2)),
    },
  },
  thresholds: thresholds({
    http_req_failed: ["rate<0.01"],
    "http_req_duration{endpoint:batch}": ["p(95)<100", "p(99)<250"],
    // Iterations k6 could not start because every VU was busy: the target did not keep up.
    dropped_iterations: ["count<10"],
  }),
};

export function setup() {
  return { creds: registerAll(20) };
}

export default function (data) {
  const cred = data.creds[exec.scenario.iterationInTest % data.creds.length];
  postBatch(cred, exec.scenario.iterationInTest, 0);
}
