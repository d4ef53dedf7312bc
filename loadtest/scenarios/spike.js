// Spike: a calm rate, a sudden jump to SM_RATE per second (default 400) for SM_DURATION_S (default 20), and
// back; overload may be answered 429/503 with Retry-After, but the calm phase after must recover.
import exec from "k6/execution";
import { bounded, postBatch, registerAll, summaryTrendStats, thresholds } from "../k6/lib.js";

export { handleSummary } from "../k6/lib.js";

const peak = bounded("SM_RATE", 400, 5000);
const hold = bounded("SM_DURATION_S", 20, 300);
const calm = Math.max(1, Math.ceil(peak / 20));

export const options = {
  summaryTrendStats,
  scenarios: {
    spike: {
      executor: "ramping-arrival-rate",
      startRate: calm,
      timeUnit: "1s",
      preAllocatedVUs: 50,
      maxVUs: 300,
      stages: [
        { target: calm, duration: "10s" },
        { target: peak, duration: "5s" },
        { target: peak, duration: `${hold}s` },
        { target: calm, duration: "5s" },
        { target: calm, duration: "15s" },
      ],
    },
  },
  thresholds: thresholds({
    http_req_failed: ["rate<0.10"],
    "http_req_duration{endpoint:batch}": ["p(95)<1000", "p(99)<2000"],
  }),
};

export function setup() {
  return { creds: registerAll(40) };
}

export default function (data) {
  const cred = data.creds[exec.scenario.iterationInTest % data.creds.length];
  postBatch(cred, exec.scenario.iterationInTest, 0);
}
