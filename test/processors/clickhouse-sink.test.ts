import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { migrateClickHouse } from "../../lib/migrate/index.ts";
import { sqlIdentifier } from "../../lib/sql/index.ts";
import {
  alreadyInserted,
  detectInsertFormat,
  metricsJsonEachRow,
  tableSink,
} from "../../processors/sinks/clickhouse/index.ts";
import { batchToRows, prepareBatch } from "../../processors/steps/index.ts";
import { emptyRows, RAW_TABLES, type TableRows } from "../../processors/steps/route/index.ts";
import { freshBatch } from "../support/batches.ts";
import { chdbExecutor } from "../support/chdb.ts";

// The sink on both engines: the 18.16 server gets JSONEachRow, chDB (26.x) gets Arrow record batches
// typed from its tables; both must end up holding the same rows.
const config = loadConfig();
const database = `smstats_sink_${process.pid}`;
const server = serverExecutor({ ...config.clickhouse, database });
const chdb = chdbExecutor(database);
const secret = Buffer.alloc(32, 7);

/** Every family's example batch, routed to rows as the processor does. */
function exampleRows(): TableRows {
  const rows = emptyRows();
  const tiers = ["starter", "party_host", "venue"];
  ["quality", "library", "playback", "session", "environment", "everything"].forEach((family, i) => {
    const batch = freshBatch(family as "quality", `00000000-0000-4000-8000-00000000000${i}`, `sink-${i}`);
    const instance = { tier: tiers[i % 3] as string, platform: "linux", version: "1.2.3" };
    batchToRows(batch, { instance, country: "DE", secret }, Date.now(), rows);
  });
  return rows;
}

beforeAll(async () => {
  await Promise.all([migrateClickHouse(server), migrateClickHouse(chdb)]);
});
afterAll(async () => {
  await server.exec(`DROP DATABASE IF EXISTS ${sqlIdentifier(database)}`);
  await Promise.all([server.close(), chdb.close()]);
});

// 18.16 prints 64-bit integers as strings and 26.x as numbers: compare numbers as numbers.
const normal = (rows: Record<string, unknown>[]) =>
  rows.map((r) =>
    Object.fromEntries(
      Object.entries(r).map(([k, v]) => [
        k,
        Array.isArray(v)
          ? v.map((x) => (typeof x === "string" && /^\d+$/.test(x) ? Number(x) : x))
          : typeof v === "string" && /^\d+$/.test(v)
            ? Number(v)
            : v,
      ]),
    ),
  );

describe("the ClickHouse sink", () => {
  it("asks each server which format it reads: JSONEachRow on 18.16, ArrowStream on chDB", async () => {
    expect(await detectInsertFormat(server)).toBe("JSONEachRow");
    expect(await detectInsertFormat(chdb)).toBe("ArrowStream");
  });

  it("stores the rows of every raw table as routed, through Arrow (chDB) and JSONEachRow (18.16)", async () => {
    const rows = exampleRows();
    for (const table of RAW_TABLES) {
      expect(rows[table].length, table).toBeGreaterThan(0);
      await (await tableSink(server, table, "JSONEachRow")).insert(rows[table]);
      await (await tableSink(chdb, table, "ArrowStream")).insert(rows[table]);
      // What route made, in the order the query returns it: each engine must hold exactly these values.
      const expected = normal(
        [...rows[table]].sort(
          (x, y) =>
            String(x.batch_id).localeCompare(String(y.batch_id)) || Number(x.row_index) - Number(y.row_index),
        ),
      );
      const columns = Object.keys(rows[table][0] ?? {})
        // Nested subcolumns by their dotted names; each part checked as an identifier.
        .map((c) => c.split(".").map(sqlIdentifier).join("."))
        .join(", ");
      const query = `SELECT ${columns} FROM ${table} ORDER BY batch_id, row_index`;
      const [a, b] = await Promise.all([server, chdb].map(async (e) => normal(await e.rows(query))));
      expect(a, `${table} on 18.16 (JSONEachRow)`).toEqual(expected);
      expect(b, `${table} on chDB (ArrowStream)`).toEqual(expected);
    }
  });

  it("stores every part of a body sent in parts: metric rows one part per batch, row objects past 64 KB", async () => {
    const instance = { tier: "starter", platform: "linux", version: "1.2.3" };
    const parts = [0, 1, 2].map((i) => {
      // A UUID batch id is stored as sent (other shapes are stored as a keyed hash).
      const batch = freshBatch(
        "quality",
        "00000000-0000-4000-8000-0000000000a1",
        `00000000-0000-4000-8000-00000000b0${i}0`,
      );
      const prepared = prepareBatch(batch, { instance, country: "DE", secret });
      if (prepared.kind !== "ok") throw new Error("the steps refused the batch");
      return metricsJsonEachRow(prepared.value.batch, Date.now());
    });
    await (await tableSink(server, "metrics_quality", "JSONEachRow")).insertText(parts.map((p) => p.body));
    const [m] = await server.rows<{ n: string }>(
      "SELECT count() AS n FROM metrics_quality WHERE batch_id LIKE '00000000-0000-4000-8000-00000000b0_0'",
    );
    expect(Number(m?.n)).toBe(parts.reduce((a, p) => a + p.count, 0));

    // Enough playback rows for several 64 KB parts, each copy its own batch id.
    const one = exampleRows().events_playback;
    const many = Array.from({ length: 400 }, (_, k) =>
      one.map((r) => ({ ...r, batch_id: `${r.batch_id}-parts-${k}` })),
    ).flat();
    expect(JSON.stringify(many).length).toBeGreaterThan(3 * 65_536);
    await (await tableSink(server, "events_playback", "JSONEachRow")).insert(many);
    const [p] = await server.rows<{ n: string; u: string }>(
      "SELECT count() AS n, uniqExact(batch_id, row_index) AS u FROM events_playback WHERE batch_id LIKE '%-parts-%'",
    );
    expect([Number(p?.n), Number(p?.u)]).toEqual([many.length, many.length]);
  });

  it("finds which redelivered batches a table already holds, on both engines", async () => {
    const rows = exampleRows().events_playback as unknown as Parameters<typeof alreadyInserted>[2];
    const unseen = rows.map((r) => ({ ...r, batch_id: `${r.batch_id}-not-inserted` }));
    for (const engine of [server, chdb]) {
      const found = await alreadyInserted(engine, "events_playback", [...rows, ...unseen]);
      expect([...found].sort(), engine.engine).toEqual([...new Set(rows.map((r) => r.batch_id))].sort());
    }
  });
});
