import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BOARDS } from "../../grafana/boards/index.ts";
import { clickhousePanelSql, panelInterval } from "../../grafana/macros/index.ts";
import { type ClickHouseExecutor, serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { migrateClickHouse } from "../../lib/migrate/index.ts";
import { sqlIdentifier } from "../../lib/sql/index.ts";
import { createFleet } from "../../loadtest/fleet/index.ts";
import { chdbExecutor } from "../support/chdb.ts";
import { TEST_NS } from "../support/env.ts";
import { loadBatches } from "../support/fleet-loader.ts";
import { panelContext, panelRange, RAW_TABLE_PATTERN, sqlPanelQueries } from "../support/grafana-panels.ts";

// Every ClickHouse panel query of every board, as Grafana would send it (template variables and the
// ClickHouse plugin's macros expanded), on the ClickHouse 18.16 server and on chDB (26.x), over
// fleet-simulator data loaded through the processors' own steps.
const config = loadConfig();
const database = `smstats_graf_${TEST_NS || "x"}_${process.pid}`;
const engines: ClickHouseExecutor[] = [
  serverExecutor({ ...config.clickhouse, database }),
  chdbExecutor(database),
];
// The simulated fleet ends at the last 22:00 UTC: an evening, when parties are on, so the last-hour panels
// have rows whatever the hour the test runs at.
const HOUR = 3_600_000;
const now = new Date(Math.floor((Date.now() - 22 * HOUR) / (24 * HOUR)) * 24 * HOUR + 22 * HOUR);
const fleet = createFleet({ seed: 7, instances: 40, days: 8, end: now.getTime() });
const queries = sqlPanelQueries("clickhouse");
let ran = 0;
const filterFigures: string[] = [];

beforeAll(async () => {
  for (const e of engines) {
    await e.ensureDatabase();
    await migrateClickHouse(e);
  }
  await loadBatches(engines, fleet.batches(), { secret: Buffer.alloc(32, 7) });
});

afterAll(async () => {
  console.log(
    `ClickHouse panel queries: ${ran} runs of ${queries.length} panel queries on ${engines.length} engines`,
  );
  console.log(filterFigures.join("\n"));
  await (engines[0] as ClickHouseExecutor).exec(`DROP DATABASE IF EXISTS ${sqlIdentifier(database)}`);
  await Promise.all(engines.map((e) => e.close()));
});

describe("ClickHouse boards on both engines over simulated fleet data", () => {
  it("covers every ClickHouse panel of every board", () => {
    const panels = BOARDS.flatMap((b) => b.panels.filter((p) => p.datasource === "clickhouse"));
    expect(queries.length).toBeGreaterThanOrEqual(panels.length);
    expect(panels.length).toBeGreaterThan(30);
  });

  it("panels over more than a day read rollups, never raw tables", () => {
    for (const q of queries) {
      const { from, to } = panelRange(q.board, q.panel, now);
      if (to.getTime() - from.getTime() > 24 * HOUR)
        expect(q.query.sql, q.name).not.toMatch(RAW_TABLE_PATTERN);
    }
  });

  for (const engineIndex of [0, 1]) {
    const engineName = engineIndex === 0 ? "ClickHouse 18.16" : "chDB";
    it.each(queries.map((q) => [q.name, q] as const))(
      `${engineName}: %s returns its columns`,
      async (_n, q) => {
        const engine = engines[engineIndex] as ClickHouseExecutor;
        const sql = clickhousePanelSql(q.query.sql, panelContext(q.board, q.panel, now));
        const rows = await engine.rows<Record<string, unknown>>(sql);
        ran++;
        expect(rows.length, `${q.name} returned no rows`).toBeGreaterThan(0);
        expect(Object.keys(rows[0] as object)).toEqual([...q.query.columns]);
        // A time series must be ordered by time, as Grafana draws it.
        if (q.query.format === "time_series") {
          const times = rows.map((r) => String(r.time));
          expect(times).toEqual([...times].sort());
        }
        // Values, not only shape: on the simulated fleet every panel shows some non-zero number, no
        // number is NaN, infinite or negative, and every time lies in the panel's range.
        const { from, to } = panelRange(q.board, q.panel, now);
        const numbers: number[] = [];
        for (const r of rows)
          for (const [k, v] of Object.entries(r)) {
            if (k === "time") {
              const t = Date.parse(
                `${String(v).replace(" ", "T")}${/Z|[+-]\d\d:?\d\d$/.test(String(v)) ? "" : "Z"}`,
              );
              const ms = Number.isNaN(t) ? Number(v) * (Number(v) < 1e11 ? 1000 : 1) : t;
              expect(ms, `${q.name} time ${String(v)}`).toBeGreaterThanOrEqual(from.getTime() - 24 * HOUR);
              expect(ms, `${q.name} time ${String(v)}`).toBeLessThanOrEqual(to.getTime());
            } else if (
              typeof v === "number" ||
              (typeof v === "string" && /^-?\d+(\.\d+)?(e[-+]?\d+)?$/i.test(v))
            ) {
              numbers.push(Number(v));
            }
          }
        expect(
          numbers.filter((n) => !Number.isFinite(n) || n < 0),
          q.name,
        ).toEqual([]);
        if (numbers.length > 0)
          expect(
            numbers.some((n) => n > 0),
            `${q.name}: every number is 0`,
          ).toBe(true);
      },
    );

    it(`${engineName}: template variables list values and filter every panel`, async () => {
      const engine = engines[engineIndex] as ClickHouseExecutor;
      for (const board of BOARDS.filter((b) => b.variables.length > 0)) {
        const from = new Date(now.getTime() - 30 * 24 * HOUR);
        const listed: Record<string, string[]> = {};
        for (const v of board.variables) {
          const sql = clickhousePanelSql(v.sql, { from, to: now, intervalMs: panelInterval(from, now) });
          const values = (await engine.rows<Record<string, string>>(sql)).map(
            (r) => Object.values(r)[0] as string,
          );
          expect(values.length, `${board.uid} variable ${v.name}`).toBeGreaterThan(0);
          listed[v.name] = values;
        }
        const boardQueries = queries.filter((x) => x.board === board);
        // Every variable concrete at once: the queries run and carry the filter.
        const allPicked = Object.fromEntries(
          board.variables.map((v) => [v.name, [listed[v.name]?.[0] ?? ""]]),
        );
        for (const q of boardQueries) {
          const sql = clickhousePanelSql(q.query.sql, panelContext(q.board, q.panel, now, allPicked));
          expect(sql).toContain("IN ('");
          const rows = await engine.rows<Record<string, unknown>>(sql);
          if (rows.length > 0) expect(Object.keys(rows[0] as object)).toEqual([...q.query.columns]);
        }
        // One variable at a time set to its first value (the others All): the panels that have rows
        // unfiltered mostly keep rows, and at least one panel shows something else (a filter that drops
        // everything, or one that filters nothing, fails).
        for (const v of board.variables) {
          const picked = {
            ...Object.fromEntries(board.variables.map((x) => [x.name, "all" as const])),
            [v.name]: [listed[v.name]?.[0] ?? ""],
          };
          let kept = 0;
          let emptied = 0;
          let narrowed = 0;
          for (const q of boardQueries) {
            const rows = await engine.rows<Record<string, unknown>>(
              clickhousePanelSql(q.query.sql, panelContext(q.board, q.panel, now, picked)),
            );
            const all = await engine.rows<Record<string, unknown>>(
              clickhousePanelSql(q.query.sql, panelContext(q.board, q.panel, now)),
            );
            if (all.length > 0) {
              if (rows.length > 0) kept++;
              else emptied++;
            }
            if (JSON.stringify(rows) !== JSON.stringify(all)) narrowed++;
          }
          filterFigures.push(
            `${engineName} ${board.uid} ${v.name}=${listed[v.name]?.[0]}: kept ${kept}, emptied ${emptied}, changed ${narrowed}`,
          );
          expect(
            emptied,
            `${board.uid} ${v.name}: panels emptied by the filter (${kept} kept)`,
          ).toBeLessThanOrEqual(1);
          expect(kept).toBeGreaterThan(0);
          expect(narrowed, `${board.uid} ${v.name}: panels the filter changed`).toBeGreaterThan(0);
        }
      }
    });
  }
});
