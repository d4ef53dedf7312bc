import autocannon from "autocannon";
import { startTreeCpuMeter } from "../pipeline/tree-cpu.ts";
import { BATCH_PATH, METRICS_PER_BATCH, type SignedBatch } from "./bodies.ts";
import { type CpuShare, startCpuMeter } from "./cpu.ts";

/** One load run against one server. */
export interface LoadOptions {
  /** Base URL of the server. */
  url: string;
  connections: number;
  durationSeconds: number;
  /** Makes the next request's body and headers; called once per request. */
  next: () => SignedBatch;
  /** Processes whose CPU share is measured beside the generator's, by name. */
  watch: Record<string, number | undefined>;
  /** Processes measured with all their descendants (an ingest primary with its workers), by name. */
  watchTrees?: Record<string, number | undefined>;
}

/** What one run measured. */
export interface LoadResult {
  /** Seconds the run lasted, as autocannon timed it. */
  seconds: number;
  /** 202 answers saying every metric of the batch was accepted. */
  accepted: number;
  /** 202 answers accepting fewer metrics than sent (items rejected or filtered, or a duplicate). */
  partial: number;
  /** Every other answer, by HTTP status. */
  otherStatus: Record<string, number>;
  /** Requests that got no answer: connection errors and timeouts. */
  errors: number;
  timeouts: number;
  latencyMs: { p50: number; p99: number };
  cpu: CpuShare;
}

// Both servers answer {"accepted":N,...} first (the ingest's response schema fixes the order).
const ALL_ACCEPTED = new RegExp(`^\\{"accepted":${METRICS_PER_BATCH}[,}]`);

/**
 * autocannon as fast as the server answers (closed loop, one request in flight per connection), every
 * request a new signed batch posted to the batch route.
 */
export function driveBatches(opts: {
  url: string;
  connections: number;
  durationSeconds: number;
  next: () => SignedBatch;
  onResponse: (status: number, body: string) => void;
}): PromiseLike<autocannon.Result> {
  return autocannon({
    url: opts.url,
    connections: opts.connections,
    pipelining: 1,
    duration: opts.durationSeconds,
    timeout: 10,
    requests: [
      {
        method: "POST",
        path: BATCH_PATH,
        // Built when the request is about to be written, so its timestamp is fresh and its signature new.
        setupRequest: (request) => {
          const batch = opts.next();
          return { ...request, headers: batch.headers, body: batch.body };
        },
        onResponse: (status, body) => opts.onResponse(status, body),
      },
    ],
  });
}

/** Runs autocannon for a while, every request a new signed batch, and summarises the answers. */
export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  let partial = 0;
  const meter = startCpuMeter(opts.watch);
  const treeMeter = startTreeCpuMeter(opts.watchTrees ?? {});
  const result = await driveBatches({
    ...opts,
    onResponse: (status, body) => {
      if (status === 202 && !ALL_ACCEPTED.test(body)) partial++;
    },
  });
  const cpu = meter();
  Object.assign(cpu.others, treeMeter());
  const otherStatus: Record<string, number> = {};
  let answered202 = 0;
  for (const [status, { count }] of Object.entries(result.statusCodeStats)) {
    if (status === "202") answered202 = count;
    else otherStatus[status] = count;
  }
  return {
    seconds: result.duration,
    accepted: answered202 - partial,
    partial,
    otherStatus,
    errors: result.errors - result.timeouts,
    timeouts: result.timeouts,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99 },
    cpu,
  };
}
