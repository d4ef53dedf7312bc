import type { ClickHouseExecutor, InsertFormat } from "../../../lib/clients/index.ts";
import { sqlString } from "../../../lib/sql/index.ts";
import { type ArrowEncoder, arrowEncoder, type ColumnSpec } from "./arrow-encoder.ts";
import {
  DEFAULT_UNKNOWN_STATUS_RETRY,
  insertRepeatingUnknownStatus,
  type UnknownStatusRetry,
} from "./unknown-status.ts";

/** Inserts rows into one ClickHouse table in the format chosen for the server. */
export interface TableSink<Row> {
  readonly table: string;
  readonly format: InsertFormat;
  insert(rows: readonly Row[]): Promise<void>;
  /** Inserts rows already written as JSONEachRow text (one object per line, UTF-8); JSONEachRow sinks only. */
  insertText(parts: readonly Uint8Array[]): Promise<void>;
}

/**
 * Asks the server once which format to insert in: ArrowStream when system.formats lists it as an input
 * format (ClickHouse ≥ 20, chDB), JSONEachRow otherwise (18.16 has no Arrow). Rejects when the server
 * cannot be reached.
 */
export async function detectInsertFormat(ch: ClickHouseExecutor): Promise<InsertFormat> {
  // An unreachable server must not be mistaken for one without Arrow: this throws then.
  await ch.rows("SELECT version() AS v");
  try {
    const rows = await ch.rows<{ n: number | string }>(
      "SELECT count() AS n FROM system.formats WHERE name = 'ArrowStream' AND is_input = 1",
    );
    return Number(rows[0]?.n ?? 0) > 0 ? "ArrowStream" : "JSONEachRow";
  } catch {
    return "JSONEachRow";
  }
}

/** The columns of a table of the executor's database, as system.columns lists them. */
export async function tableColumns(ch: ClickHouseExecutor, table: string): Promise<ColumnSpec[]> {
  const columns = await ch.rows<ColumnSpec>(
    `SELECT name, type FROM system.columns WHERE database = ${sqlString(ch.database)} AND table = ${sqlString(table)}`,
  );
  if (columns.length === 0) throw new Error(`table ${ch.database}.${table} does not exist`);
  return columns;
}

/**
 * Rows as JSONEachRow bytes in parts of about 64 KB: one string of a whole flush built from a piece per
 * row costs more to flatten into bytes than the encoding itself, and the parts are sent as they are.
 */
function jsonEachRowBytes(rows: readonly Record<string, unknown>[]): Buffer[] {
  const parts: Buffer[] = [];
  let text = "";
  for (const r of rows) {
    text += `${JSON.stringify(r)}\n`;
    if (text.length >= 65_536) {
      parts.push(Buffer.from(text));
      text = "";
    }
  }
  if (text) parts.push(Buffer.from(text));
  return parts;
}

/**
 * A sink for one table. Rows are objects keyed by column name (Nested subcolumns dotted), as the route
 * step makes them; every row of one insert carries the same columns. ArrowStream batches are typed from
 * the table's own column types.
 */
export async function tableSink<Row extends Record<string, unknown>>(
  ch: ClickHouseExecutor,
  table: string,
  format: InsertFormat,
  /** After ClickHouse's "unknown status of insert" (319) the identical insert is repeated (unknown-status.ts). */
  unknownStatus: UnknownStatusRetry = DEFAULT_UNKNOWN_STATUS_RETRY,
): Promise<TableSink<Row>> {
  const send = (body: Uint8Array | Uint8Array[], columns?: string[]) =>
    insertRepeatingUnknownStatus(() => ch.insert(table, format, body, columns), unknownStatus);
  const spec = format === "ArrowStream" ? await tableColumns(ch, table) : [];
  const encoders = new Map<string, { columns: string[]; encode: ArrowEncoder }>();
  const encoderFor = (row: Row) => {
    const columns = Object.keys(row);
    const key = columns.join(",");
    let e = encoders.get(key);
    if (!e) {
      e = { columns, encode: arrowEncoder(spec, columns) };
      encoders.set(key, e);
    }
    return e;
  };
  return {
    table,
    format,
    async insert(rows) {
      const first = rows[0];
      if (!first) return;
      if (format === "ArrowStream") {
        const { columns, encode } = encoderFor(first);
        await send(encode(rows), columns);
      } else {
        await send(jsonEachRowBytes(rows));
      }
    },
    async insertText(parts) {
      if (format !== "JSONEachRow") throw new Error(`${table}: insertText needs a JSONEachRow sink`);
      if (parts.length) await send([...parts]);
    },
  };
}
