import { afterAll, describe, expect, it } from "vitest";
import { type ClickHouseExecutor, serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import {
  clickhouseMigrationsDir,
  clickhouseTarget,
  loadMigrations,
  migrateClickHouse,
  runMigrations,
} from "../../lib/migrate/index.ts";
import { chdbExecutor } from "../support/chdb.ts";

// Every ClickHouse migration runs on both engines: the local 18.16 server and chDB (26.x).
const config = loadConfig();
const engines: ClickHouseExecutor[] = [
  serverExecutor({ ...config.clickhouse, database: `smstats_mig_${process.pid}` }),
  chdbExecutor(`smstats_mig_${process.pid}`),
];

afterAll(async () => {
  const server = engines[0] as ClickHouseExecutor;
  await server.exec(`DROP DATABASE IF EXISTS smstats_mig_${process.pid}`);
  await Promise.all(engines.map((e) => e.close()));
});

describe.each(engines.map((e) => [e.engine, e] as const))("ClickHouse migrations on %s", (_name, ch) => {
  it("applies every migration on an empty database and records each", async () => {
    const all = loadMigrations(clickhouseMigrationsDir);
    const report = await migrateClickHouse(ch);
    expect(report.applied).toEqual(all.map((m) => m.version));
    const recorded = await ch.rows<{ version: number }>(
      "SELECT version FROM schema_migrations ORDER BY version",
    );
    expect(recorded.map((r) => Number(r.version))).toEqual(all.map((m) => m.version));
  });

  it("applies nothing the second time", async () => {
    const report = await migrateClickHouse(ch);
    expect(report.applied).toEqual([]);
    expect(report.alreadyApplied.length).toBe(loadMigrations(clickhouseMigrationsDir).length);
  });

  it("creates metrics_quality with the seed's columns", async () => {
    const cols = await ch.rows<{ name: string }>(
      `SELECT name FROM system.columns WHERE database = '${ch.database}' AND table = 'metrics_quality'`,
    );
    expect(cols.map((c) => c.name)).toEqual(
      expect.arrayContaining(["time", "instance_id", "metric_name", "value", "tags.key", "tags.value"]),
    );
  });

  it("refuses to run when an applied migration was edited", async () => {
    const edited = loadMigrations(clickhouseMigrationsDir).map((m, i) =>
      i === 0 ? { ...m, checksum: "edited" } : m,
    );
    await expect(runMigrations(clickhouseTarget(ch), edited)).rejects.toMatchObject({
      code: "MIGRATION_CHANGED",
    });
  });
});

describe("the two engines catch version-specific SQL", () => {
  it("fails a statement only the modern engine accepts on the 18.16 server", async () => {
    const sql = "SELECT toDateTime64('2026-01-06 12:00:00', 3) AS t";
    await expect((engines[1] as ClickHouseExecutor).rows(sql)).resolves.toHaveLength(1);
    await expect((engines[0] as ClickHouseExecutor).rows(sql)).rejects.toThrow(
      /toDateTime64|Unknown function/,
    );
  });
});
