import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { demoBreakdown, fillStack, runAnalystQueries } from "../../loadtest/demo.ts";
import { createFleet } from "../../loadtest/fleet/index.ts";
import { type PipelineProcess, startPipeline } from "../../loadtest/service.ts";
import { TEST_ENV } from "../support/env.ts";

// `smstats demo`'s core on the tests' namespace: a small simulated fleet through the real pipeline.
const config = loadConfig();
const ch = serverExecutor(config.clickhouse);
let pipeline: PipelineProcess | undefined;
// A fresh seed per run (so JetStream's duplicate window never answers for an earlier run), the first one
// from now whose small fleet has a venue and enough batches to say something.
const SEED = (() => {
  for (let seed = Date.now() % 1_000_000; ; seed++) {
    const fleet = createFleet({ seed, instances: 12, days: 2 });
    if (fleet.instances.some((i) => i.tier === "venue") && [...fleet.batches()].length > 150) return seed;
  }
})();

beforeAll(async () => {
  pipeline = await startPipeline({
    ...TEST_ENV,
    SMSTATS_INGEST_TRUST_PROXY: "127.0.0.1,::1",
    SMSTATS_INGEST_RATE_LIMIT_TIERS: "starter=100000,party_host=100000,venue=100000",
  });
});
afterAll(async () => {
  await pipeline?.stop();
  await ch.close();
});

describe("smstats demo", () => {
  it("sends every simulated batch through ingest and processors into ClickHouse, with tier and country", async () => {
    const report = await fillStack(config, {
      instances: 12,
      days: 2,
      seed: SEED,
      ingestUrl: (pipeline as PipelineProcess).ingestUrl,
      concurrency: 8,
    });
    const expected = [...createFleet({ seed: SEED, instances: 12, days: 2 }).batches()].length;
    expect(report.batches).toBeGreaterThan(140);
    expect(Math.abs(report.batches - expected)).toBeLessThanOrEqual(12);
    expect(report.failed).toEqual({});
    expect(report.accepted + report.duplicates).toBe(report.batches);
    expect(report.visible).toBeGreaterThanOrEqual(report.accepted);

    const fleet = createFleet({ seed: SEED, instances: 12, days: 2 });
    const byTier = new Map<string, Set<string>>();
    for (const r of await demoBreakdown(ch, report.instanceIds)) {
      if (!byTier.has(r.tier)) byTier.set(r.tier, new Set());
      byTier.get(r.tier)?.add(r.country);
    }
    // Simulated tiers reach ClickHouse (registration alone makes starters), and countries come from the IPs.
    // Only instances that were online in those days sent anything.
    const online = new Set([...fleet.batches()].map((b) => b.instance.instance_id));
    const tiers = new Set(fleet.instances.filter((i) => online.has(i.instance_id)).map((i) => i.tier));
    expect(new Set(byTier.keys())).toEqual(tiers);
    const countries = new Set([...byTier.values()].flatMap((s) => [...s]));
    expect(countries.has("")).toBe(false);

    const queries = await runAnalystQueries(ch, report.sampleInstanceId);
    expect(queries.length).toBeGreaterThanOrEqual(8);
    for (const q of queries) expect(q.rows, q.name).toBeGreaterThan(0);
  }, 180_000);
});
