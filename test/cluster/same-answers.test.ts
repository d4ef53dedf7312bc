import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expandQuery, loadQueries } from "../../clickhouse/queries/index.ts";
import { clickhousePanelSql } from "../../grafana/macros/index.ts";
import { clusterInsertSettings, serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import {
  clickhouseMigrationsDir,
  clickhouseTarget,
  loadMigrations,
  migrateClickHouse,
} from "../../lib/migrate/index.ts";
import { createFleet } from "../../loadtest/fleet/index.ts";
import { loadBatches } from "../support/fleet-loader.ts";
import { panelContext, sqlPanelQueries } from "../support/grafana-panels.ts";
import { cluster, clusterEnv, differences, nodeUrl, onNode, syncReplicas } from "./support.ts";

// The same fleet-simulator data in the single-node schema (the single stack's 18.16 server) and in the
// cluster schema (replicated local tables behind Distributed ones, 2 shards × 2 replicas): every analyst
// query and every Grafana panel query must give the same answer on both.
const handle = cluster();
const ns = `same_${process.pid}`;
const clusterConfig = loadConfig({ ...process.env, ...clusterEnv(handle, ns) });
const singleConfig = loadConfig({
  ...process.env,
  SMSTATS_DATA_DIR: handle.dataDir,
  SMSTATS_CLICKHOUSE_DATABASE: `smstats_${ns}`,
});
const clusterCh = serverExecutor({
  ...clusterConfig.clickhouse,
  settings: clusterInsertSettings(clusterConfig.clickhouse),
});
const singleCh = serverExecutor(singleConfig.clickhouse);
const database = clusterConfig.clickhouse.database;

const HOUR = 3_600_000;
// As the panel tests: the fleet ends at the last 22:00 UTC so the last-hour panels have rows.
const now = new Date(Math.floor((Date.now() - 22 * HOUR) / (24 * HOUR)) * 24 * HOUR + 22 * HOUR);
const fleet = createFleet({ seed: 11, instances: 40, days: 8, end: now.getTime() });
let rowsLoaded = 0;

beforeAll(async () => {
  expect(clusterConfig.clickhouse.cluster).toBe("smstats");
  expect(singleConfig.clickhouse.cluster).toBe("");
  await singleCh.ensureDatabase();
  await migrateClickHouse(singleCh);
  await clusterCh.ensureDatabase();
  await migrateClickHouse(clusterCh, undefined, clusterConfig.clickhouse.cluster);
  const counts = await loadBatches([singleCh, clusterCh], fleet.batches(), { secret: Buffer.alloc(32, 7) });
  rowsLoaded = Object.values(counts).reduce((a, b) => a + b, 0);
  await syncReplicas(handle, database);
}, 600_000);

afterAll(async () => {
  await singleCh.exec(`DROP DATABASE IF EXISTS ${database}`);
  await clusterCh.exec(`DROP DATABASE IF EXISTS ${database} ON CLUSTER ${clusterConfig.clickhouse.cluster}`);
  await Promise.all([singleCh.close(), clusterCh.close()]);
});

describe("cluster and single mode on the same data", () => {
  it("migrates once: a second run applies nothing, and every node holds the same tables", async () => {
    const again = await migrateClickHouse(clusterCh, undefined, clusterConfig.clickhouse.cluster);
    expect(again.applied).toEqual([]);
    expect(again.alreadyApplied).toEqual(loadMigrations(clickhouseMigrationsDir).map((m) => m.version));
    const tables = await Promise.all(
      handle.topology.clickhouse.map(async (n) =>
        (
          await onNode<{ name: string; engine: string }>(
            handle,
            `http://127.0.0.1:${n.http}`,
            `SELECT name, engine FROM system.tables WHERE database = '${database}' ORDER BY name`,
          )
        ).map((t) => `${t.name} ${t.engine}`),
      ),
    );
    expect(tables[0]).toContain("metrics_quality Distributed");
    expect(tables[0]).toContain("quality_1h_local ReplicatedAggregatingMergeTree");
    for (const t of tables) expect(t).toEqual(tables[0]);
  });

  it("hold the same raw rows, spread over both shards", async () => {
    expect(rowsLoaded).toBeGreaterThan(1000);
    for (const table of [
      "metrics_quality",
      "events_playback",
      "events_session",
      "snapshots_library",
      "environment",
    ]) {
      const sql = `SELECT count() AS c, uniqExact(instance_id, batch_id, row_index) AS u FROM ${table}`;
      const [single] = await singleCh.rows<{ c: string; u: string }>(sql);
      const [clustered] = await clusterCh.rows<{ c: string; u: string }>(sql);
      expect(clustered, table).toEqual(single);
      // Both shards hold a part of the rows, and their parts add up to the whole.
      const [c1, c2] = await Promise.all(
        [1, 2].map(async (shard) => {
          const [r] = await onNode<{ c: string }>(
            handle,
            nodeUrl(handle, shard, 1),
            `SELECT count() AS c FROM ${database}.${table}_local`,
          );
          return Number(r?.c);
        }),
      );
      expect(c1, table).toBeGreaterThan(0);
      expect(c2, table).toBeGreaterThan(0);
      expect((c1 ?? 0) + (c2 ?? 0), table).toBe(Number(single?.c));
    }
  });

  it.each(loadQueries().map((q) => [q.name, q] as const))(
    "analyst query %s answers the same",
    async (_n, q) => {
      const values: Record<string, string> = q.placeholders.includes("instance_id")
        ? { instance_id: fleet.instances[0]?.instance_id ?? "" }
        : {};
      const sql = expandQuery(q, values);
      const single = await singleCh.rows<Record<string, unknown>>(sql);
      const clustered = await clusterCh.rows<Record<string, unknown>>(sql);
      expect(differences(clustered, single)).toEqual([]);
    },
  );

  const panels = sqlPanelQueries("clickhouse");
  it.each(panels.map((q) => [q.name, q] as const))("Grafana panel %s answers the same", async (_n, q) => {
    const sql = clickhousePanelSql(q.query.sql, panelContext(q.board, q.panel, now));
    const single = await singleCh.rows<Record<string, unknown>>(sql);
    const clustered = await clusterCh.rows<Record<string, unknown>>(sql);
    expect(single.length, `${q.name} returned no rows`).toBeGreaterThan(0);
    expect(differences(clustered, single)).toEqual([]);
  });

  it("rebuilds quality_bins from the raw rows when 0006 runs again on data (a mutation empties every shard, one backfill refills)", async () => {
    const bins = loadMigrations(clickhouseMigrationsDir).find((m) => m.version === 6);
    expect(bins).toBeDefined();
    const sql = `SELECT metric_name, operation, sum(samples) AS n, count() AS bins FROM (
         SELECT metric_name, operation, value_bin, sum(samples) AS samples FROM quality_bins_1h
         GROUP BY metric_name, operation, value_bin) GROUP BY metric_name, operation`;
    const before = await clusterCh.rows<Record<string, unknown>>(sql);
    await clickhouseTarget(clusterCh, clusterConfig.clickhouse.cluster).apply(
      bins as NonNullable<typeof bins>,
    );
    // The cluster form of TRUNCATE is a mutation (lib/migrate/cluster-sql.ts): wait until every node
    // has run it, then until every replica has what its shard holds.
    const pending = async () => {
      let n = 0;
      for (const node of handle.topology.clickhouse) {
        const [r] = await onNode<{ n: string }>(
          handle,
          `http://127.0.0.1:${node.http}`,
          `SELECT count() AS n FROM system.mutations WHERE database = '${database}' AND is_done = 0`,
        );
        n += Number(r?.n);
      }
      return n;
    };
    await expect.poll(pending, { timeout: 120_000, interval: 500 }).toBe(0);
    await syncReplicas(handle, database);
    const again = await clusterCh.rows<Record<string, unknown>>(sql);
    expect(again.length).toBeGreaterThan(0);
    expect(differences(again, before)).toEqual([]);
    expect(differences(again, await singleCh.rows<Record<string, unknown>>(sql))).toEqual([]);
  });
});
