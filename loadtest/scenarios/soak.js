// Soak: a modest constant rate (SM_RATE, default 20/s) for a long but bounded time (SM_DURATION_S, default
// 600 s, at most 30 minutes, inside the tokens' hour); latency must not creep up and nothing may fail.
import exec from "k6/execution";
import { bounded, postBatch, registerAll, summaryTrendStats, thresholds } from "../k6/lib.js";

export { handleSummary } from "../k6/lib.js";

const rate = bounded("SM_RATE", 20, 500);

export const options = {
  summaryTrendStats,
  scenarios: {
    soak: {
      executor: "constant-arrival-rate",
      rate,
      timeUnit: "1s",
      duration: `${bounded("SM_DURATION_S", 600, 1800)}s`,
      preAllocatedVUs: Math.min(40, Math.ceil(rate / 2)),
      maxVUs: 100,
    },
  },
  thresholds: thresholds({
    http_req_failed: ["rate<0.001"],
    "http_req_duration{endpoint:batch}": ["p(95)<100", "p(99)<250", "max<5000"],
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
