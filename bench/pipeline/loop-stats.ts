/** What a Node process's /metrics (prom-client's default metrics) says about its event loop and GC. */
export interface LoopStats {
  /** Event-loop delay since the previous scrape (prom-client resets it on every collect), ms. */
  lagMaxMs: number;
  lagP99Ms: number;
  /** Garbage collections by kind since the process started: count and total pause, ms. */
  gc: Record<string, { count: number; totalMs: number }>;
}

const sample = (text: string, name: string): number | undefined => {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
};

/** Scrapes `metricsUrl` (prefix smstats_); undefined when it cannot be read. */
export async function loopStats(metricsUrl: string | undefined): Promise<LoopStats | undefined> {
  if (!metricsUrl) return undefined;
  const text = await fetch(metricsUrl)
    .then((r) => (r.ok ? r.text() : undefined))
    .catch(() => undefined);
  if (!text) return undefined;
  const gc: LoopStats["gc"] = {};
  for (const m of text.matchAll(
    /^smstats_nodejs_gc_duration_seconds_(count|sum)\{[^}]*kind="(\w+)"[^}]*\} ([0-9.eE+-]+)/gm,
  )) {
    const [, what, kind, value] = m as unknown as [string, string, string, string];
    gc[kind] ??= { count: 0, totalMs: 0 };
    if (what === "count") gc[kind].count = Number(value);
    else gc[kind].totalMs = Number(value) * 1000;
  }
  return {
    lagMaxMs: (sample(text, "smstats_nodejs_eventloop_lag_max_seconds") ?? Number.NaN) * 1000,
    lagP99Ms: (sample(text, "smstats_nodejs_eventloop_lag_p99_seconds") ?? Number.NaN) * 1000,
    gc,
  };
}

/** "major 3 (412 ms), minor 880 (950 ms)": the collections between two scrapes. */
export function gcBetween(before: LoopStats | undefined, after: LoopStats | undefined): string {
  if (!before || !after) return "unknown";
  return Object.entries(after.gc)
    .map(([kind, a]) => {
      const b = before.gc[kind] ?? { count: 0, totalMs: 0 };
      return `${kind} ${a.count - b.count} (${Math.round(a.totalMs - b.totalMs)} ms)`;
    })
    .join(", ");
}
