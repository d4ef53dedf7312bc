import type { ClickHouseClient } from "@clickhouse/client";

/** Inserts rows into one ClickHouse table. */
export interface ClickHouseSink<Row> {
  readonly table: string;
  insert(rows: Row[]): Promise<void>;
}

/** A sink writing JSONEachRow, which both ClickHouse 18.16 and current versions accept. */
export function clickhouseSink<Row extends object>(
  client: ClickHouseClient,
  table: string,
): ClickHouseSink<Row> {
  return {
    table,
    async insert(rows) {
      if (rows.length === 0) return;
      await client.insert({ table, values: rows, format: "JSONEachRow" });
    },
  };
}
