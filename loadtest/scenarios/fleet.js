// Fleet: the realistic mix. Each VU is one simulated instance (tier, platform, version, country by its IP):
// it registers, then sends its own time-ordered batches with its seq (time compressed: one batch every
// SM_PACE_S seconds instead of five minutes) and calls the licensing endpoints on their own schedule.
import { sleep } from "k6";
import exec from "k6/execution";
import {
  bounded,
  heartbeat,
  instances,
  postBatch,
  refresh,
  register,
  summaryTrendStats,
  thresholds,
  validate,
} from "../k6/lib.js";

export { handleSummary } from "../k6/lib.js";

const vus = Math.min(instances.length, bounded("SM_INSTANCES", 30, 500));
const pace = bounded("SM_PACE_S", 1, 60);

/**
 * What an instance does besides sending batches, every `every` batches (batch n counts from 1). Adding an
 * endpoint is one line (refresh, validate and heartbeat below).
 */
const ACTIONS = [
  { endpoint: "refresh", every: 12, run: refresh },
  { endpoint: "validate", every: 6, run: validate },
  { endpoint: "heartbeat", every: 12, run: heartbeat },
];

export const options = {
  summaryTrendStats,
  scenarios: {
    fleet: {
      executor: "constant-vus",
      vus,
      duration: `${bounded("SM_DURATION_S", 60, 1800)}s`,
      gracefulStop: "5s",
    },
  },
  thresholds: thresholds({
    http_req_failed: ["rate<0.01"],
    "http_req_duration{endpoint:batch}": ["p(95)<150", "p(99)<300"],
    "http_req_duration{endpoint:register}": ["p(95)<500"],
    "http_req_duration{endpoint:refresh}": ["p(95)<300"],
    "http_req_duration{endpoint:validate}": ["p(95)<100"],
    "http_req_duration{endpoint:heartbeat}": ["p(95)<100"],
    checks: ["rate>0.99"],
  }),
};

let cred = null;
let sent = 0;

export default function () {
  const sim = instances[(exec.vu.idInTest - 1) % instances.length];
  if (!cred) {
    cred = register(sim);
    if (!cred) return sleep(pace);
  }
  // The instance's own batches in order, again from the first once all are sent (with fresh batch ids).
  const index = sim.first + (sent % sim.count);
  sent++;
  postBatch(cred, index, sent);
  for (const a of ACTIONS) if (sent % a.every === 0) a.run(cred);
  sleep(pace);
}
