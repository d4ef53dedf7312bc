import type pg from "pg";
import { expandQuery, loadQueries } from "../clickhouse/queries/index.ts";
import { type ClickHouseExecutor, createPgPool, serverExecutor } from "../lib/clients/index.ts";
import type { Config } from "../lib/config/index.ts";
import { sqlString } from "../lib/sql/index.ts";
import { FleetHttpClient, type RegisteredInstance } from "./fleet/http-client.ts";
import { createFleet, type SimInstance } from "./fleet/index.ts";

/** What `smstats demo` fills. */
export interface DemoOptions {
  instances: number;
  days: number;
  seed: number;
  /** Ingest to send through (loopback). */
  ingestUrl: string;
  /** Requests in flight at once. */
  concurrency: number;
  /** Told of progress: phase, done, total. */
  onProgress?: (phase: "register" | "send" | "visible", done: number, total: number) => void;
}

/** What a demo run did. */
export interface DemoReport {
  instances: number;
  batches: number;
  accepted: number;
  duplicates: number;
  failed: Record<string, number>;
  /** Batches of this run found in ClickHouse once the processors caught up. */
  visible: number;
  sendSeconds: number;
  visibleSeconds: number;
  /** Registered id of the busiest venue (for per-instance queries). */
  sampleInstanceId: string;
  /** Registered ids of every instance, in the simulator's order. */
  instanceIds: string[];
}

/**
 * Sets an instance's tier in PostgreSQL. Demo data only: registration makes every instance a starter, and
 * the simulated fleet has paid tiers too. Real tier changes go through licenses (the licensing area).
 */
async function setTier(pool: pg.Pool, id: string, tier: string): Promise<void> {
  await pool.query("UPDATE instances SET tier = $1 WHERE id = $2", [tier, id]);
}

async function inParallel<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

/**
 * Fills the configured databases with `days` of history of a simulated fleet through the real pipeline:
 * registers every instance over HTTP, gives it its simulated tier, sends every batch in time order with
 * `concurrency` requests in flight (signed, retried on 429/503), then waits until ClickHouse has them all.
 */
export async function fillStack(config: Readonly<Config>, opts: DemoOptions): Promise<DemoReport> {
  const fleet = createFleet({ seed: opts.seed, instances: opts.instances, days: opts.days });
  const client = new FleetHttpClient(opts.ingestUrl);
  const pool = createPgPool(config.postgres.url, "smstats-demo", 4);
  const ch = serverExecutor(config.clickhouse);
  const startedAt = Math.floor(Date.now() / 1000) - 1;
  try {
    const registered = new Map<string, RegisteredInstance>();
    let done = 0;
    await inParallel(fleet.instances, Math.min(8, opts.concurrency), async (sim: SimInstance) => {
      const inst = await client.register(sim);
      await setTier(pool, inst.id, sim.tier);
      registered.set(sim.instance_id, inst);
      opts.onProgress?.("register", ++done, fleet.instances.length);
    });

    // Count first (cheap: the simulator is deterministic), so the progress bar knows its total.
    let total = 0;
    for (const _ of fleet.batches()) total++;
    const report: DemoReport = {
      instances: fleet.instances.length,
      batches: total,
      accepted: 0,
      duplicates: 0,
      failed: {},
      visible: 0,
      sendSeconds: 0,
      visibleSeconds: 0,
      sampleInstanceId: "",
      instanceIds: fleet.instances.map((i) => registered.get(i.instance_id)?.id ?? ""),
    };
    const sendStart = Date.now();
    const inFlight = new Set<Promise<void>>();
    let sent = 0;
    for (const { instance, batch } of fleet.batches()) {
      const inst = registered.get(instance.instance_id) as RegisteredInstance;
      const p = client.send(inst, batch).then((o) => {
        if (o.ok && o.duplicate) report.duplicates++;
        else if (o.ok) report.accepted++;
        else report.failed[o.code] = (report.failed[o.code] ?? 0) + 1;
        opts.onProgress?.("send", ++sent, total);
      });
      const tracked = p.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
      if (inFlight.size >= opts.concurrency) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    report.sendSeconds = (Date.now() - sendStart) / 1000;

    // A batch is visible in every table once the processors record it as stored (inserted_batches):
    // behind a backlog its metrics_quality rows come first and the other tables' a little later.
    const visibleStart = Date.now();
    const deadline = visibleStart + 10 * 60_000;
    const want = report.accepted;
    for (;;) {
      const rows = await ch.rows<{ n: string }>(
        `SELECT uniqExact(batch_id) AS n FROM inserted_batches WHERE batch_id LIKE 'sim-%' AND inserted_at >= toDateTime(${startedAt})`,
      );
      report.visible = Number(rows[0]?.n ?? 0);
      opts.onProgress?.("visible", Math.min(report.visible, want), want);
      if (report.visible >= want || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 1_000));
    }
    report.visibleSeconds = (Date.now() - visibleStart) / 1000;
    const venue = fleet.instances.find((i) => i.tier === "venue") ?? fleet.instances[0];
    report.sampleInstanceId = venue ? (registered.get(venue.instance_id)?.id ?? "") : "";
    return report;
  } finally {
    await pool.end();
    await ch.close();
  }
}

/** Rows each stored analyst query returns now, with its first row. */
export async function runAnalystQueries(
  ch: ClickHouseExecutor,
  instanceId: string,
): Promise<{ name: string; rows: number; first: Record<string, unknown> | undefined }[]> {
  const out = [];
  for (const q of loadQueries()) {
    const values: Record<string, string> = q.placeholders.includes("instance_id")
      ? { instance_id: instanceId }
      : {};
    const rows = await ch.rows<Record<string, unknown>>(expandQuery(q, values));
    out.push({ name: q.name, rows: rows.length, first: rows[0] });
  }
  return out;
}

/**
 * Simulated instances seen in ClickHouse per tier and country (a check that enrichment worked), only the
 * given ones when ids are given.
 */
export async function demoBreakdown(
  ch: ClickHouseExecutor,
  instanceIds: string[] = [],
): Promise<{ tier: string; country: string; n: string }[]> {
  const only = instanceIds.length
    ? `AND instance_id IN (${instanceIds.map((id) => sqlString(id)).join(", ")})`
    : "";
  return ch.rows(
    `SELECT tier, country, toString(uniqExact(instance_id)) AS n FROM environment WHERE batch_id LIKE 'sim-%' ${only} GROUP BY tier, country ORDER BY tier, toUInt64(n) DESC, country`,
  );
}
