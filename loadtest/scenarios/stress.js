// Stress: the arrival rate ramps up (to SM_RATE per second, default 600) until errors appear; the run
// aborts once more than 5% of requests fail (429/503 overload answers included) and reports how far it got.
import exec from "k6/execution";
import { bounded, postBatch, registerAll, summaryTrendStats, thresholds } from "../k6/lib.js";

export { handleSummary } from "../k6/lib.js";

const top = bounded("SM_RATE", 600, 5000);
const step = bounded("SM_DURATION_S", 20, 120);

export const options = {
  summaryTrendStats,
  scenarios: {
    stress: {
      executor: "ramping-arrival-rate",
      startRate: Math.ceil(top / 10),
      timeUnit: "1s",
      preAllocatedVUs: 50,
      maxVUs: 300,
      stages: [
        { target: Math.ceil(top / 4), duration: `${step}s` },
        { target: Math.ceil(top / 2), duration: `${step}s` },
        { target: Math.ceil((3 * top) / 4), duration: `${step}s` },
        { target: top, duration: `${step}s` },
        { target: top, duration: `${step}s` },
      ],
    },
  },
  thresholds: thresholds({
    http_req_failed: [{ threshold: "rate<0.05", abortOnFail: true, delayAbortEval: "10s" }],
    "http_req_duration{endpoint:batch}": ["p(95)<500", "p(99)<1000"],
  }),
};

export function setup() {
  return { creds: registerAll(40) };
}

export default function (data) {
  const cred = data.creds[exec.scenario.iterationInTest % data.creds.length];
  postBatch(cred, exec.scenario.iterationInTest, 0);
}
