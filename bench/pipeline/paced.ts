import { Agent, request } from "node:http";
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { SignedBatch } from "../ingest/bodies.ts";

/** What an evenly paced run produced, in the shape runPhase reports. */
export interface PacedResult {
  /** Seconds from the first scheduled request to the last answer (or the end of the wait). */
  seconds: number;
  /** Answers by status; "errors" and "timeouts" for requests that got none. */
  statusCounts: Record<string, number>;
  /** ms from each request's scheduled send time to its answer, answered requests only. */
  latenciesMs: number[];
  /** How far behind its schedule this generator sent, ms (p99 and max): its own stalls count as latency. */
  slipMs: { p99: number; max: number };
  /** This generator's own event-loop delay, ms (max). */
  generatorLoopDelayMaxMs: number;
}

/** Options of a paced run. */
export interface PacedOptions {
  url: string;
  path: string;
  /** Requests per second, spread evenly over every second (not sent as a burst at its start). */
  rate: number;
  durationSeconds: number;
  /** Keep-alive connections at most; a request due while all are busy waits for one (and that wait counts). */
  connections: number;
  timeoutMs: number;
  next: () => SignedBatch;
  onResponse: (status: number, body: string) => void;
}

/**
 * An open-loop load at a steady rate: request k is due at start + k / rate, whatever happened to the ones
 * before it, and its latency is measured from when it was due, so a slow answer cannot hide the requests
 * that queued behind it (no coordinated omission). autocannon's `overallRate` is not this: each of its
 * connections sends its share of a second back to back at the start of the second and then pauses, so
 * "half the max rate" is the max rate for half of every second.
 */
export async function runPaced(opts: PacedOptions): Promise<PacedResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: opts.connections });
  const target = new URL(opts.path, opts.url);
  const total = Math.max(1, Math.round(opts.rate * opts.durationSeconds));
  const statusCounts: Record<string, number> = {};
  const latenciesMs: number[] = [];
  const count = (key: string) => {
    statusCounts[key] = (statusCounts[key] ?? 0) + 1;
  };
  // Every body is made and signed before the clock starts, so the generator only sends while it runs
  // (making one costs it about as much CPU as ingest spends accepting it).
  const batches = Array.from({ length: total }, () => opts.next());
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const slips: number[] = [];
  const start = performance.now();
  let lastAnswerAt = start;
  const inFlight = new Set<Promise<void>>();
  const send = (k: number, dueAt: number) => {
    const batch = batches[k] as SignedBatch;
    batches[k] = undefined as unknown as SignedBatch;
    const done = new Promise<void>((resolve) => {
      const req = request(target, {
        method: "POST",
        agent,
        headers: { ...batch.headers, "content-length": String(batch.body.length) },
        timeout: opts.timeoutMs,
      });
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const now = performance.now();
          lastAnswerAt = now;
          latenciesMs.push(now - dueAt);
          count(String(res.statusCode));
          opts.onResponse(res.statusCode ?? 0, Buffer.concat(chunks).toString());
          resolve();
        });
        res.on("error", () => {
          count("errors");
          resolve();
        });
      });
      let timedOut = false;
      req.on("timeout", () => {
        timedOut = true;
        req.destroy();
      });
      req.on("error", () => {
        count(timedOut ? "timeouts" : "errors");
        resolve();
      });
      req.end(batch.body);
    });
    inFlight.add(done);
    void done.then(() => inFlight.delete(done));
  };
  // Every millisecond or so, send whatever has come due since the last turn (timers are not precise, so
  // the schedule is caught up rather than slept to).
  let sent = 0;
  while (sent < total) {
    const now = performance.now();
    const due = Math.min(total, Math.floor(((now - start) / 1000) * opts.rate) + 1);
    for (; sent < due; sent++) {
      const dueAt = start + (sent * 1000) / opts.rate;
      slips.push(performance.now() - dueAt);
      send(sent, dueAt);
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(inFlight);
  agent.destroy();
  loop.disable();
  slips.sort((x, y) => x - y);
  return {
    seconds: (lastAnswerAt - start) / 1000,
    statusCounts,
    latenciesMs,
    slipMs: {
      p99: Math.round(slips[Math.floor(0.99 * (slips.length - 1))] ?? 0),
      max: Math.round(slips.at(-1) ?? 0),
    },
    generatorLoopDelayMaxMs: Math.round(loop.max / 1e6),
  };
}
