import { randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import type { ClickHouseClient } from "@clickhouse/client";
import { clusterInsertSettings, createClickHouseClient } from "../../lib/clients/index.ts";
import type { Config } from "../../lib/config/index.ts";
import { sqlString } from "../../lib/sql/index.ts";
import { METRICS_PER_BATCH } from "../ingest/bodies.ts";
import { type CpuShare, startCpuMeter } from "../ingest/cpu.ts";
import { qualityRows } from "./rows.ts";

/**
 * The input formats ClickHouse 18.16 reads that can carry metrics_quality's rows (Nested as two arrays)
 * and that it can also write, so the server itself makes each body from the same rows: no encoder of
 * ours can make a format look slower than it is. ArrowStream/Parquet are not in 18.16; Values and
 * TSKV were measured at under half of JSONEachRow and are left out to keep the run short.
 */
export const CEILING_FORMATS = ["JSONEachRow", "TabSeparated", "CSV", "RowBinary", "Native"] as const;
export type CeilingFormat = (typeof CEILING_FORMATS)[number];

/** One format's figure: the same rows, bulk-inserted for its share of the time. */
export interface FormatFigure {
  format: CeilingFormat;
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  /** Bytes of one insert's body. */
  bodyBytes: number;
  /** CPU of the watched processes (ClickHouse) per row, µs. */
  serverCpuUsPerRow: number | undefined;
}

/** ClickHouse's own ceiling: the same rows, bulk-inserted straight into the raw table by one client. */
export interface CeilingResult {
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  insertRows: number;
  instanceId: string;
  cpu: CpuShare;
  /** The fastest format: the ceiling's figures above are its. */
  format: CeilingFormat;
  /** Every format measured, fastest first. */
  formats: FormatFigure[];
}

const SOURCE = "ceiling_source";

/** Reads a whole response body. */
async function bytesOf(client: ClickHouseClient, query: string): Promise<Buffer> {
  const r = await client.exec({ query });
  const parts: Buffer[] = [];
  for await (const chunk of r.stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/**
 * The insert bodies, `chunks` inserts of `perInsert` batches in every format: the rows are put once
 * into a Memory table shaped like metrics_quality (JSONEachRow), then the server writes them out in each
 * format; the insert goes back through the same column list.
 */
async function bodies(
  client: ClickHouseClient,
  instanceId: string,
  perInsert: number,
  chunks: number,
): Promise<Record<CeilingFormat, Buffer[]>> {
  const now = Date.now();
  await client.command({ query: `DROP TABLE IF EXISTS ${SOURCE}` });
  await client.command({ query: `CREATE TABLE ${SOURCE} AS metrics_quality ENGINE = Memory` });
  try {
    for (let k = 0; k < chunks; k++) {
      const rows = [];
      for (let b = 0; b < perInsert; b++)
        rows.push(...qualityRows(instanceId, `raw-${k}-${b}`, now, METRICS_PER_BATCH));
      const r = await client.exec({
        query: `INSERT INTO ${SOURCE} FORMAT JSONEachRow`,
        values: Readable.from([Buffer.from(`${rows.map((r) => JSON.stringify(r)).join("\n")}\n`)]),
      });
      r.stream.resume();
    }
    const out = {} as Record<CeilingFormat, Buffer[]>;
    for (const format of CEILING_FORMATS) {
      out[format] = [];
      for (let k = 0; k < chunks; k++) {
        out[format].push(
          await bytesOf(
            client,
            `SELECT * FROM ${SOURCE} WHERE batch_id LIKE ${sqlString(`raw-${k}-%`)} FORMAT ${format}`,
          ),
        );
      }
    }
    return out;
  } finally {
    await client.command({ query: `DROP TABLE IF EXISTS ${SOURCE}` });
  }
}

/**
 * Inserts batches of `insertRows` rows (the processor's flush-sized inserts, made in advance so no
 * encoding of ours is timed) into metrics_quality, rollup views included, in every format ClickHouse
 * 18.16 reads for these rows; each format gets an equal share of `seconds` in two interleaved rounds
 * (the machine's other load spreads over all of them), and the ceiling is the fastest format's figure.
 * Each format's rows/s is printed on stderr.
 */
export async function measureRawCeiling(
  config: Readonly<Config>,
  seconds: number,
  watch: Record<string, number | undefined>,
  insertRows = 50_000,
): Promise<CeilingResult> {
  const client = createClickHouseClient({
    ...config.clickhouse,
    settings: clusterInsertSettings(config.clickhouse),
  });
  const instanceId = randomUUID();
  const perInsert = Math.ceil(insertRows / METRICS_PER_BATCH);
  const rowsPerInsert = perInsert * METRICS_PER_BATCH;
  try {
    const body = await bodies(client, instanceId, perInsert, 4);
    const slice = Math.max(1, seconds / (2 * CEILING_FORMATS.length));
    const figures = new Map<
      CeilingFormat,
      { rows: number; seconds: number; cpu: number; cpuKnown: boolean }
    >();
    let i = 0;
    for (let round = 0; round < 2; round++) {
      for (const format of CEILING_FORMATS) {
        const meter = startCpuMeter(watch);
        const start = performance.now();
        let rows = 0;
        while (performance.now() - start < slice * 1000 || rows === 0) {
          // Raw bytes (exec, not insert): insert would serialize each value again.
          const r = await client.exec({
            query: `INSERT INTO metrics_quality FORMAT ${format}`,
            values: Readable.from([body[format][i++ % 4] as Buffer], { objectMode: false }),
          });
          r.stream.resume();
          rows += rowsPerInsert;
        }
        const elapsed = (performance.now() - start) / 1000;
        const cpu = meter();
        const serverCores = Object.values(cpu.others).reduce<number | undefined>(
          (a, v) => (v === undefined ? a : (a ?? 0) + v),
          undefined,
        );
        const f = figures.get(format) ?? { rows: 0, seconds: 0, cpu: 0, cpuKnown: true };
        f.rows += rows;
        f.seconds += elapsed;
        f.cpu += (serverCores ?? 0) * elapsed;
        f.cpuKnown &&= serverCores !== undefined;
        figures.set(format, f);
      }
    }
    const formats: FormatFigure[] = [...figures]
      .map(([format, f]) => ({
        format,
        rows: f.rows,
        seconds: f.seconds,
        rowsPerSecond: f.rows / f.seconds,
        bodyBytes: (body[format][0] as Buffer).length,
        serverCpuUsPerRow: f.cpuKnown ? (f.cpu / f.rows) * 1e6 : undefined,
      }))
      .sort((a, b) => b.rowsPerSecond - a.rowsPerSecond);
    for (const f of formats) {
      console.error(
        `    ceiling ${f.format.padEnd(12)} ${Math.round(f.rowsPerSecond).toLocaleString("en-US").padStart(9)} rows/s` +
          `  ${(f.bodyBytes / rowsPerInsert).toFixed(0).padStart(4)} B/row` +
          `  server CPU ${f.serverCpuUsPerRow === undefined ? "—" : f.serverCpuUsPerRow.toFixed(1)} µs/row`,
      );
    }
    // The ceiling itself: the fastest format, measured once more for the whole of its own stretch so the
    // CPU shares of the report are its.
    const best = formats[0] as FormatFigure;
    console.error(`    ceiling format: ${best.format} (the fastest of ${formats.length})`);
    const meter = startCpuMeter(watch);
    const start = performance.now();
    let rows = 0;
    while (performance.now() - start < Math.max(1, seconds / 3) * 1000 || rows === 0) {
      const r = await client.exec({
        query: `INSERT INTO metrics_quality FORMAT ${best.format}`,
        values: Readable.from([body[best.format][i++ % 4] as Buffer], { objectMode: false }),
      });
      r.stream.resume();
      rows += rowsPerInsert;
    }
    const elapsed = (performance.now() - start) / 1000;
    const cpu = meter();
    const total = { rows: best.rows + rows, seconds: best.seconds + elapsed };
    return {
      rows: total.rows,
      seconds: total.seconds,
      rowsPerSecond: total.rows / total.seconds,
      insertRows: rowsPerInsert,
      instanceId,
      cpu,
      format: best.format,
      formats,
    };
  } finally {
    await client.close();
  }
}
