import { beforeAll, describe, expect, it } from "vitest";
import { serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { migrateClickHouse } from "../../lib/migrate/index.ts";
import { type ClickHouseCredentials, readStackFile } from "../../lib/stack-file.ts";

// The read-only users of the local 18.16 server, as stack/ writes them into users.xml. They may read
// only the application database `smstats`, so that is where this test reads (the suite's own database,
// smstats_test, is out of their reach by design). It applies pending migrations to `smstats` first, as
// `npm start` does, so the rollups exist; it writes no rows there.
const config = loadConfig();
const stack = readStackFile(config.dataDir);
const APP_DATABASE = "smstats";

async function query(user: ClickHouseCredentials, sql: string, database = APP_DATABASE) {
  const url = new URL(stack?.clickhouse.url ?? config.clickhouse.url);
  url.searchParams.set("database", database);
  const res = await fetch(url, {
    method: "POST",
    headers: {
      authorization: `Basic ${Buffer.from(`${user.username}:${user.password}`).toString("base64")}`,
    },
    body: sql,
  });
  return { status: res.status, body: (await res.text()).trim() };
}

function credentials(name: "analyst" | "grafana"): ClickHouseCredentials {
  const user = stack?.clickhouse[name];
  if (!user) throw new Error(`stack.json has no clickhouse.${name}: run npm run stack:down and stack:up`);
  return user;
}

beforeAll(async () => {
  const app = serverExecutor({ ...config.clickhouse, database: APP_DATABASE });
  try {
    await migrateClickHouse(app);
  } finally {
    await app.close();
  }
});

describe.each(["analyst", "grafana"] as const)("ClickHouse user %s", (name) => {
  it("reads a rollup of the smstats database", async () => {
    const res = await query(credentials(name), "SELECT count() FROM active_instances_1d FORMAT TSV");
    expect(res.status).toBe(200);
    expect(Number(res.body)).toBeGreaterThanOrEqual(0);
  });

  it("cannot insert (readonly)", async () => {
    const res = await query(
      credentials(name),
      "INSERT INTO environment (instance_id) VALUES ('written-by-a-readonly-user')",
    );
    expect(res.status).not.toBe(200);
    expect(res.body).toMatch(/Code: 164\b.*readonly/);
  });

  it("cannot create a table (readonly)", async () => {
    const res = await query(credentials(name), "CREATE TABLE readonly_probe (x UInt8) ENGINE = Memory");
    expect(res.status).not.toBe(200);
    expect(res.body).toMatch(/Code: 164\b.*readonly/);
  });

  it("cannot raise its own limits with a SET", async () => {
    const res = await query(credentials(name), "SET max_memory_usage = 0");
    expect(res.status).not.toBe(200);
    expect(res.body).toMatch(/Code: 164\b/);
  });

  it("cannot read another database", async () => {
    const res = await query(
      credentials(name),
      "SELECT count() FROM schema_migrations",
      config.clickhouse.database,
    );
    expect(res.status).not.toBe(200);
    expect(res.body).toMatch(/Code: 291\b.*Access denied/);
  });
});
