import { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import type { ClickHouseClient } from "@clickhouse/client";
import { sqlIdentifier } from "../../lib/sql/index.ts";

/**
 * Formats ClickHouse 18.16 reads (and writes) that carry every raw table's columns, Nested included;
 * the bodies are written by the server itself from the rows inserted before, so they are exactly the
 * rows the processor makes and no encoder of ours slows a format down.
 */
export const SERVER_FORMATS = ["JSONEachRow", "TabSeparated", "RowBinary", "Native"] as const;
export type ServerFormat = (typeof SERVER_FORMATS)[number];

/** One insert's body: a table and about `flushRows` of its rows in one format. */
export interface FormatJob {
  table: string;
  body: Buffer;
  rows: number;
}

async function bytesOf(client: ClickHouseClient, query: string): Promise<Buffer> {
  const r = await client.exec({ query });
  const parts: Buffer[] = [];
  for await (const chunk of r.stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/**
 * The rows the tables hold now, cut into inserts of about `flushRows` rows (by a hash of the row's
 * batch and index), as bodies of `format` written by the server.
 */
export async function dumpBodies(
  client: ClickHouseClient,
  tables: Record<string, number>,
  flushRows: number,
  format: ServerFormat,
): Promise<FormatJob[]> {
  const jobs: FormatJob[] = [];
  for (const [table, count] of Object.entries(tables)) {
    const parts = Math.max(1, Math.ceil(count / flushRows));
    for (let i = 0; i < parts; i++) {
      const body = await bytesOf(
        client,
        `SELECT * FROM ${sqlIdentifier(table)} WHERE cityHash64(batch_id, row_index) % ${parts} = ${i} FORMAT ${format}`,
      );
      jobs.push({ table, body, rows: Math.round(count / parts) });
    }
  }
  return jobs.sort((a, b) => b.rows - a.rows);
}

/** Inserts the jobs' bodies with `inserters` concurrent clients' requests; returns the seconds taken. */
export async function insertBodies(
  client: ClickHouseClient,
  jobs: readonly FormatJob[],
  format: ServerFormat,
  inserters: number,
): Promise<number> {
  const queue = [...jobs];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inserters }, async () => {
      for (let job = queue.shift(); job; job = queue.shift()) {
        const r = await client.exec({
          query: `INSERT INTO ${sqlIdentifier(job.table)} FORMAT ${format}`,
          values: Readable.from([job.body], { objectMode: false }),
        });
        r.stream.resume();
        await finished(r.stream);
      }
    }),
  );
  return (performance.now() - started) / 1000;
}
