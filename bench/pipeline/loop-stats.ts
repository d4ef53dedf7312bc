/** What a Node process's /metrics (prom-client's default metrics) says about its event loop and GC. */
export interface LoopStats {
  /** Event-loop delay since the previous scrape (prom-client resets it on every collect), ms. */
  lagMaxMs: number;
  lagP99Ms: number;
  /** Garbage collections by kind since the process started: count and total pause, ms. */
  gc: Record<string, { count: number; totalMs: number }>;
  /** smstats_ingest_store_wait_seconds buckets by what was waited on: upper bound (s) → cumulative count. */
  waits: Record<string, Map<number, number>>;
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
  const waits: LoopStats["waits"] = {};
  for (const m of text.matchAll(/^smstats_ingest_store_wait_seconds_bucket\{([^}]*)\} ([0-9.eE+-]+)/gm)) {
    const labels = m[1] as string;
    const on = /on="(\w+)"/.exec(labels)?.[1];
    const le = /le="([^"]+)"/.exec(labels)?.[1];
    if (!on || !le) continue;
    waits[on] ??= new Map();
    waits[on].set(le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le), Number(m[2]));
  }
  return {
    waits,
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

/** "redis_admit p99 ≤ 5 ms (n 10,000), jetstream_ack p99 ≤ 25 ms": quantile bounds between two scrapes. */
export function waitsBetween(before: LoopStats | undefined, after: LoopStats | undefined, q = 0.99): string {
  if (!after) return "unknown";
  const out: string[] = [];
  for (const [on, buckets] of Object.entries(after.waits)) {
    const bounds = [...buckets.keys()].sort((x, y) => x - y);
    const delta = (le: number) => (buckets.get(le) ?? 0) - (before?.waits[on]?.get(le) ?? 0);
    const total = delta(Number.POSITIVE_INFINITY);
    if (total <= 0) continue;
    const bound = bounds.find((le) => delta(le) >= q * total) ?? Number.POSITIVE_INFINITY;
    const shown = Number.isFinite(bound) ? `≤ ${Math.round(bound * 1000 * 10) / 10} ms` : "> 10 s";
    out.push(`${on} p${Math.round(q * 100)} ${shown} (n ${total.toLocaleString("en")})`);
  }
  return out.join(", ") || "none";
}
