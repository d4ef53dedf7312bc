import { randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import { clusterInsertSettings, createClickHouseClient } from "../../lib/clients/index.ts";
import type { Config } from "../../lib/config/index.ts";
import { METRICS_PER_BATCH } from "../ingest/bodies.ts";
import { type CpuShare, startCpuMeter } from "../ingest/cpu.ts";
import { qualityRows } from "./rows.ts";

/** ClickHouse's own ceiling: the same rows, bulk-inserted straight into the raw table by one client. */
export interface CeilingResult {
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  insertRows: number;
  instanceId: string;
  cpu: CpuShare;
}

/**
 * Inserts batches of `insertRows` rows (the processor's fetch-sized inserts, made in advance so the
 * generator's JSON building is not timed) into metrics_quality, rollup views included, for `seconds`.
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
  const now = Date.now();
  const perInsert = Math.ceil(insertRows / METRICS_PER_BATCH);
  // One insert's JSONEachRow text, built once: only ClickHouse's side is measured.
  const chunks: string[] = [];
  for (let k = 0; k < 4; k++) {
    const rows = [];
    for (let b = 0; b < perInsert; b++)
      rows.push(...qualityRows(instanceId, `raw-${k}-${b}`, now, METRICS_PER_BATCH));
    chunks.push(`${rows.map((r) => JSON.stringify(r)).join("\n")}\n`);
  }
  try {
    const meter = startCpuMeter(watch);
    const start = performance.now();
    let rows = 0;
    for (let i = 0; performance.now() - start < seconds * 1000; i++) {
      // Raw bytes (exec, not insert): insert would serialize each value again.
      const r = await client.exec({
        query: "INSERT INTO metrics_quality FORMAT JSONEachRow",
        values: Readable.from([Buffer.from(chunks[i % 4] as string)], { objectMode: false }),
      });
      r.stream.resume();
      rows += perInsert * METRICS_PER_BATCH;
    }
    const elapsed = (performance.now() - start) / 1000;
    return {
      rows,
      seconds: elapsed,
      rowsPerSecond: rows / elapsed,
      insertRows: perInsert * METRICS_PER_BATCH,
      instanceId,
      cpu: meter(),
    };
  } finally {
    await client.close();
  }
}
