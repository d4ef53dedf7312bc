import { Readable } from "node:stream";
import type { ClickHouseClient } from "@clickhouse/client";
import type pg from "pg";
import type { ClickHouseExecutor } from "../../lib/clients/index.ts";
import { sqlIdentifier, sqlString } from "../../lib/sql/index.ts";
import {
  type ClickHouseInstanceTable,
  clickHouseInstanceTables,
  postgresInstanceTables,
} from "../instance-tables.ts";

/** Version of the export format (privacy/README.md, "Export"); the first line carries it. */
export const EXPORT_FORMAT_VERSION = 1;

/** What an export reads. */
export interface ExportDeps {
  pg: pg.Pool;
  /** For discovery (system.columns). */
  clickhouse: ClickHouseExecutor;
  /** For streaming a table's rows as the server writes them. */
  clickhouseClient: ClickHouseClient;
  /** Cluster name in cluster mode ("" or absent on one server): rows are read through the Distributed tables. */
  clickhouseCluster?: string;
}

// Secrets and credentials are not "data about" the instance a person can read: left out of the export.
const SECRET_COLUMNS = new Set(["instance_token"]);
const FETCH_ROWS = 1000;

/**
 * Everything stored about an instance as NDJSON, one line per row with a `table` field: a first line
 * `{"table":"_export",…}`, then its PostgreSQL rows (the instance, every table with an instance_id column,
 * the licenses it holds), then its rows in every ClickHouse table with an instance_id column (aggregate
 * states finalized). Memory stays bounded whatever the row count: PostgreSQL rows come through a cursor
 * 1,000 at a time, ClickHouse's JSONEachRow response is passed on chunk by chunk, and nothing is read
 * ahead of what the consumer takes (backpressure through the async generator).
 */
export function instanceExport(deps: ExportDeps, instanceId: string, now = new Date()): Readable {
  return Readable.from(exportChunks(deps, instanceId, now), { objectMode: false });
}

async function* exportChunks(deps: ExportDeps, instanceId: string, now: Date): AsyncGenerator<Buffer> {
  yield line({
    table: "_export",
    format: EXPORT_FORMAT_VERSION,
    instance_id: instanceId,
    generated_at: now.toISOString(),
  });
  yield* postgresRows(deps.pg, instanceId);
  for (const table of await clickHouseInstanceTables(deps.clickhouse, deps.clickhouseCluster)) {
    const res = await deps.clickhouseClient.exec({ query: clickHouseExportQuery(table, instanceId) });
    for await (const chunk of res.stream) yield chunk as Buffer;
  }
}

/** The SELECT that exports one ClickHouse table's rows of an instance (aggregate states finalized). */
export function clickHouseExportQuery(table: ClickHouseInstanceTable, instanceId: string): string {
  const cols = table.columns.map((c) =>
    c.type.startsWith("AggregateFunction(")
      ? `finalizeAggregation(${sqlIdentifier(c.name)}) AS ${sqlIdentifier(c.name)}`
      : sqlColumnRef(c.name),
  );
  return `SELECT ${sqlString(table.name)} AS \`table\`, ${cols.join(", ")} FROM ${sqlIdentifier(table.name)}
    WHERE instance_id = ${sqlString(instanceId)} FORMAT JSONEachRow`;
}

// Nested subcolumns (tags.key) are selected by their dotted name.
function sqlColumnRef(name: string): string {
  return name
    .split(".")
    .map((p) => sqlIdentifier(p))
    .join(".");
}

function line(value: unknown): Buffer {
  return Buffer.from(`${JSON.stringify(value)}\n`);
}

async function* postgresRows(pool: pg.Pool, instanceId: string): AsyncGenerator<Buffer> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    const tables = await postgresInstanceTables(client);
    const instanceCols = await client.query<{ c: string }>(
      `SELECT column_name::text AS c FROM information_schema.columns
       WHERE table_schema = current_schema() AND table_name = 'instances' AND data_type <> 'bytea'
       ORDER BY ordinal_position`,
    );
    const queries: [string, string][] = [
      [
        "instances",
        select(
          "instances",
          instanceCols.rows.map((r) => r.c),
          "id = $1",
        ),
      ],
    ];
    for (const t of tables) {
      if (t.name === "audit_log" || t.name === "licenses") continue;
      queries.push([t.name, select(t.name, t.columns, "instance_id::text = $1")]);
    }
    const lic = tables.find((t) => t.name === "licenses");
    if (lic) {
      queries.push([
        "licenses",
        select(
          "licenses",
          lic.columns,
          "id IN (SELECT id FROM licenses WHERE instance_id = $1::uuid UNION SELECT license_id FROM license_activations WHERE instance_id = $1::uuid)",
        ),
      ]);
    }
    for (const [i, [name, sql]] of queries.entries()) {
      const cursor = `export_${i}`;
      await client.query(
        // row_to_json keeps the columns' order; "table" is put first as text (jsonb would sort the keys).
        `DECLARE ${cursor} NO SCROLL CURSOR FOR SELECT '{"table":' || to_json(${pgLiteral(name)}::text)::text || ',' || substr(row_to_json(x)::text, 2) AS line FROM (${sql.replaceAll("$1", pgLiteral(instanceId))}) x`,
      );
      for (;;) {
        const { rows } = await client.query<{ line: string }>(`FETCH ${FETCH_ROWS} FROM ${cursor}`);
        if (rows.length === 0) break;
        yield Buffer.from(`${rows.map((r) => r.line).join("\n")}\n`);
      }
      await client.query(`CLOSE ${cursor}`);
    }
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

function select(table: string, columns: string[], where: string): string {
  const cols = columns.filter((c) => !SECRET_COLUMNS.has(c)).map(pgIdent);
  return `SELECT ${cols.join(", ")} FROM ${pgIdent(table)} WHERE ${where}`;
}

function pgIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new RangeError(`not a plain column name: ${name}`);
  return `"${name}"`;
}

// DECLARE … CURSOR takes no bind parameters: the one value (a UUID checked by the route) becomes a literal.
function pgLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
