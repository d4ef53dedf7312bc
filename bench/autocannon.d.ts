// autocannon ships no types and @types/autocannon is not a dependency: this declares only the part of
// its library API the benchmarks use (see node_modules/autocannon/README.md, "API").
declare module "autocannon" {
  import type { EventEmitter } from "node:events";

  namespace autocannon {
    /** One request as autocannon builds it; setupRequest may return a changed copy per request. */
    interface Request {
      method?: string;
      path?: string;
      headers?: Record<string, string>;
      body?: string | Buffer;
      /** Called before every request is written; returning a falsy value restarts the request list. */
      setupRequest?: (request: Request, context: Record<string, unknown>) => Request;
      /** Called with every response to this request. */
      onResponse?: (
        status: number,
        body: string,
        context: Record<string, unknown>,
        headers: Record<string, string>,
      ) => void;
    }

    /** The options used here. */
    interface Options {
      url: string;
      connections?: number;
      pipelining?: number;
      /** Seconds. */
      duration?: number;
      /** Requests per second over all connections; unlimited when absent. */
      overallRate?: number;
      /** Seconds a request may take before it counts as a timeout. */
      timeout?: number;
      requests?: Request[];
    }

    /** A histogram summary: mean, min, max and percentiles p50, p90, p99, … */
    interface Histogram {
      average: number;
      mean: number;
      min: number;
      max: number;
      p50: number;
      p90: number;
      p99: number;
      [percentile: string]: number;
    }

    /** What a finished run reports. */
    interface Result {
      /** Seconds the run lasted. */
      duration: number;
      errors: number;
      timeouts: number;
      non2xx: number;
      statusCodeStats: Record<string, { count: number }>;
      latency: Histogram;
      requests: Histogram & { sent: number };
    }

    /** A running benchmark: an event emitter that is also a promise of its result. */
    interface Instance extends EventEmitter, PromiseLike<Result> {
      stop(): void;
    }
  }

  function autocannon(options: autocannon.Options): autocannon.Instance;
  export default autocannon;
}
