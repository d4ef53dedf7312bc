import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Session } from "chdb";
import { type ClickHouseExecutor, insertStatement } from "../../lib/clients/index.ts";
import { sqlIdentifier, sqlString } from "../../lib/sql/index.ts";

/** A ClickHouse executor over chDB (ClickHouse 26.x in-process) in a temporary folder. */
export function chdbExecutor(database = "smstats"): ClickHouseExecutor {
  const dir = mkdtempSync(join(tmpdir(), "smstats-chdb-"));
  const session = new Session(dir);
  let inserts = 0;
  return {
    engine: "chdb",
    database,
    async ensureDatabase() {
      session.query(`CREATE DATABASE IF NOT EXISTS ${sqlIdentifier(database)}`);
      session.query(`USE ${sqlIdentifier(database)}`);
    },
    async exec(sql) {
      session.query(sql);
    },
    async rows<T>(sql: string) {
      const text = session.query(sql, "JSONEachRow");
      return text
        .split("\n")
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as T);
    },
    async insert(table, format, body, columns) {
      // chDB reads no request body: the body goes through a file, as clickhouse-local would take it.
      const file = join(dir, `insert-${++inserts}.${format === "ArrowStream" ? "arrows" : "ndjson"}`);
      writeFileSync(file, Array.isArray(body) ? Buffer.concat(body) : (body as Uint8Array));
      try {
        session.query(
          `${insertStatement(table, format, columns).replace(/ FORMAT /, ` FROM INFILE ${sqlString(file)} FORMAT `)}`,
        );
      } finally {
        rmSync(file, { force: true });
      }
    },
    async close() {
      session.cleanup();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
