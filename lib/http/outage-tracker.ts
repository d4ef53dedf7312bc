import type { Counter } from "prom-client";
import type { Logger } from "../log/index.ts";

/** Reports dependency outages once when they start and once when they end. */
export interface OutageTracker {
  /** A request failed because `dependency` is down: logs and counts it if no outage is known yet. */
  report(dependency: string, err: Error): void;
  /** Dependencies currently known down. */
  down(): string[];
  close(): void;
}

/** What the tracker needs: how to probe each dependency, how often, where to log and count. */
export interface OutageTrackerOptions {
  log: Logger;
  /** Resolves when the dependency answers again. */
  probes: Readonly<Record<string, () => Promise<unknown>>>;
  probeEveryMs: number;
  /** Outages started, by dependency. */
  outages: Counter<"dependency">;
}

/**
 * One warn line with the cause when a dependency's outage is first seen by a request, then a probe every
 * probeEveryMs until the dependency answers, and one line when it does: an outage costs two log lines,
 * however many requests it refuses (those are counted by code in the error counter).
 */
export function createOutageTracker(opts: OutageTrackerOptions): OutageTracker {
  const active = new Map<string, { since: number; timer: NodeJS.Timeout }>();
  const probe = (dependency: string) => {
    const run = opts.probes[dependency];
    const state = active.get(dependency);
    if (!run || !state) return;
    let timer: NodeJS.Timeout | undefined;
    Promise.race([
      run(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("probe timed out")), opts.probeEveryMs);
      }),
    ])
      .then(() => {
        if (active.get(dependency) !== state) return;
        clearInterval(state.timer);
        active.delete(dependency);
        opts.log.info(
          { dependency, outage_ms: Date.now() - state.since },
          `${dependency} is available again; its outage ended`,
        );
      })
      .catch(() => {})
      .finally(() => clearTimeout(timer));
  };
  return {
    report(dependency, err) {
      if (active.has(dependency)) return;
      const timer = setInterval(() => probe(dependency), opts.probeEveryMs);
      timer.unref();
      active.set(dependency, { since: Date.now(), timer });
      opts.outages.inc({ dependency });
      opts.log.warn(
        { dependency, cause: err.message, cause_code: (err as { code?: string }).code },
        `${dependency} is unavailable; requests that need it are answered 503 with Retry-After until it is back`,
      );
    },
    down: () => [...active.keys()],
    close() {
      for (const s of active.values()) clearInterval(s.timer);
      active.clear();
    },
  };
}
