import { BATCH_PATH, METRICS_PER_BATCH, type SignedBatch } from "../ingest/bodies.ts";
import { type CpuShare, startCpuMeter } from "../ingest/cpu.ts";
import { driveBatches } from "../ingest/load.ts";
import { runPaced } from "./paced.ts";
import { startTreeCpuMeter } from "./tree-cpu.ts";

/** One load phase: what was sent, when each batch was accepted, and when ClickHouse had it. */
export interface PhaseResult {
  name: string;
  /** Requests/s asked of autocannon; undefined = as fast as the server answers. */
  targetRate: number | undefined;
  seconds: number;
  /** Batches answered 202 with every metric accepted. */
  accepted: number;
  /** Other answers by status (and "partial" 202s), connection errors and timeouts. */
  refused: Record<string, number>;
  latencyMs: { p50: number; p99: number };
  /** Paced phases: how far behind schedule the generator sent and its own longest stall, ms. */
  generator?: { slipP99Ms: number; slipMaxMs: number; loopDelayMaxMs: number };
  /** ms since the phase started at which each accepted batch was answered, in order. */
  acceptedAtMs: number[];
  /** Batch ids of the accepted batches, as ingest's answers name them (empty for servers that do not). */
  acceptedIds: string[];
  /** [ms since start, batches visible in ClickHouse] samples until all were visible (or the wait ended). */
  visibleSamples: [number, number][];
  /** ms from the phase's start until the last accepted batch was visible; undefined if never. */
  allVisibleAtMs: number | undefined;
  /** Cores used over `cpuSeconds`: the load until it ended and, for the pipeline, until all was visible. */
  cpu: CpuShare;
  /** Wall seconds the CPU shares cover (cores × cpuSeconds = CPU seconds spent on the phase). */
  cpuSeconds: number;
}

/** What to run a phase against. */
export interface PhaseOptions {
  name: string;
  url: string;
  connections: number;
  durationSeconds: number;
  overallRate?: number;
  next: () => SignedBatch;
  watch: Record<string, number | undefined>;
  /** Processes measured with all their descendants (overriding `watch` entries of the same name). */
  watchTrees?: Record<string, number | undefined>;
  /** How to count this run's rows visible in ClickHouse; absent for servers that store elsewhere. */
  visibility?: {
    /** Rows visible now (see visibleRows in main.ts); -1 when the count failed. */
    count: () => Promise<number>;
    maxWaitSeconds: number;
    /** What `count` said before the phase. */
    baseRows: number;
  };
}

const ALL_ACCEPTED = new RegExp(`^\\{"accepted":${METRICS_PER_BATCH}[,}]`);
const BATCH_ID = /"batch_id":"([^"]+)"/;

/**
 * Drives one phase with autocannon and, while it runs and afterwards, polls ClickHouse every 250 ms for the
 * run's rows, so accept → visible lag and throughput over time can be read off the two timelines.
 */
export async function runPhase(opts: PhaseOptions): Promise<PhaseResult> {
  const start = performance.now();
  const acceptedAtMs: number[] = [];
  const acceptedIds: string[] = [];
  let partial = 0;
  const visibleSamples: [number, number][] = [];
  const v = opts.visibility;
  let polling = Boolean(v);
  const poll = (async () => {
    while (polling && v) {
      const at = performance.now() - start;
      const n = await v.count().catch(() => -1);
      if (n >= 0) visibleSamples.push([Math.round(at), Math.floor((n - v.baseRows) / METRICS_PER_BATCH)]);
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  const cpuStart = performance.now();
  const meter = startCpuMeter(opts.watch);
  const treeMeter = startTreeCpuMeter(opts.watchTrees ?? {});
  const onResponse = (status: number, body: string) => {
    if (status !== 202 && status !== 200) return;
    if (!ALL_ACCEPTED.test(body)) {
      partial++;
      return;
    }
    acceptedAtMs.push(Math.round(performance.now() - start));
    const id = BATCH_ID.exec(body)?.[1];
    if (id) acceptedIds.push(id);
  };
  // As fast as the server answers: autocannon, closed loop. At a given rate: an evenly paced open loop
  // (paced.ts says why not autocannon's overallRate).
  const load = opts.overallRate
    ? await pacedLoad(opts, opts.overallRate, onResponse)
    : await closedLoad(opts, onResponse);
  // For the pipeline the meters run on until ClickHouse holds everything accepted: the processor's work
  // on the tail of the phase is part of what the phase's metrics cost.
  const readCpu = () => {
    const cpu = meter();
    Object.assign(cpu.others, treeMeter());
    return { cpu, cpuSeconds: (performance.now() - cpuStart) / 1000 };
  };
  let measured = v ? undefined : readCpu();
  const refused: Record<string, number> = {};
  for (const [status, count] of Object.entries(load.statusCounts)) {
    if (status !== "202" && status !== "200" && count > 0) refused[status] = count;
  }
  if (partial) refused.partial = partial;
  let allVisibleAtMs: number | undefined;
  if (v) {
    const deadline = performance.now() + v.maxWaitSeconds * 1000;
    for (;;) {
      const last = visibleSamples.at(-1);
      if (last && last[1] >= acceptedAtMs.length) {
        allVisibleAtMs = last[0];
        break;
      }
      if (performance.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    measured = readCpu();
    polling = false;
    await poll;
  }
  const { cpu, cpuSeconds } = measured ?? readCpu();
  return {
    name: opts.name,
    targetRate: opts.overallRate,
    seconds: load.seconds,
    accepted: acceptedAtMs.length,
    refused,
    latencyMs: load.latencyMs,
    ...(load.generator ? { generator: load.generator } : {}),
    acceptedAtMs,
    acceptedIds,
    visibleSamples,
    allVisibleAtMs,
    cpu,
    cpuSeconds,
  };
}

interface LoadOutcome {
  generator?: PhaseResult["generator"];
  seconds: number;
  /** Answers by status, and "errors" / "timeouts" for requests that got none. */
  statusCounts: Record<string, number>;
  latencyMs: { p50: number; p99: number };
}

async function closedLoad(
  opts: PhaseOptions,
  onResponse: (status: number, body: string) => void,
): Promise<LoadOutcome> {
  const result = await driveBatches({ ...opts, onResponse });
  const statusCounts: Record<string, number> = {};
  for (const [status, { count }] of Object.entries(result.statusCodeStats)) statusCounts[status] = count;
  if (result.errors - result.timeouts) statusCounts.errors = result.errors - result.timeouts;
  if (result.timeouts) statusCounts.timeouts = result.timeouts;
  return {
    seconds: result.duration,
    statusCounts,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99 },
  };
}

async function pacedLoad(
  opts: PhaseOptions,
  rate: number,
  onResponse: (status: number, body: string) => void,
): Promise<LoadOutcome> {
  const result = await runPaced({
    url: opts.url,
    path: BATCH_PATH,
    rate,
    durationSeconds: opts.durationSeconds,
    connections: opts.connections,
    timeoutMs: 10_000,
    next: opts.next,
    onResponse,
  });
  const sorted = result.latenciesMs.sort((x, y) => x - y);
  const q = (p: number) => Math.round(10 * (quantile(sorted, p) ?? Number.NaN)) / 10;
  return {
    seconds: result.seconds,
    statusCounts: result.statusCounts,
    latencyMs: { p50: q(0.5), p99: q(0.99) },
    generator: {
      slipP99Ms: result.slipMs.p99,
      slipMaxMs: result.slipMs.max,
      loopDelayMaxMs: result.generatorLoopDelayMaxMs,
    },
  };
}

/** Quantiles of a sorted array (nearest rank). */
export function quantile(sorted: number[], q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * Accept → visible lag of each batch, ms: the k-th accepted batch counts as visible at the first sample
 * showing at least k batches (JetStream hands batches out in order; the 250 ms polling bounds the error).
 */
export function lagsMs(phase: PhaseResult): number[] {
  const lags: number[] = [];
  let s = 0;
  phase.acceptedAtMs.forEach((at, k) => {
    while (s < phase.visibleSamples.length && (phase.visibleSamples[s] as [number, number])[1] < k + 1) s++;
    const sample = phase.visibleSamples[s];
    if (sample) lags.push(Math.max(0, sample[0] - at));
  });
  return lags;
}
