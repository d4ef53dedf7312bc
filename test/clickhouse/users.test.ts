import { afterAll, describe, expect, it } from "vitest";
import { serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { type ClickHouseCredentials, readStackFile } from "../../lib/stack-file.ts";

// The read-only users of the local 18.16 server, as stack/ writes them into users.xml. They may read
// only the application database `smstats`, so that is where this test reads (the suite's own database,
// smstats_test, is out of their reach by design). `npm test` never touches `smstats`: the test neither
// creates nor migrates it (the refusals below run in `system`, which every user may use, naming smstats'
// tables; 18.16 refuses a readonly user's write before it looks for the table), and compares what the users read with what the owner reads there.
const config = loadConfig();
const stack = readStackFile(config.dataDir);
const APP_DATABASE = "smstats";
const owner = serverExecutor(config.clickhouse);

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

afterAll(() => owner.close());

/** What the stack's owner sees in `smstats` (absent on a stack where `npm start` never ran). */
async function appDatabase(): Promise<{ exists: boolean; rollup: string | null }> {
  const tables = await owner.rows<{ name: string }>(
    `SELECT name FROM system.tables WHERE database = '${APP_DATABASE}' AND name = 'active_instances_1d'`,
  );
  const exists =
    (await owner.rows(`SELECT name FROM system.databases WHERE name = '${APP_DATABASE}'`)).length > 0;
  if (tables.length === 0) return { exists, rollup: null };
  const [row] = await owner.rows<{ n: string }>(
    `SELECT toString(count()) AS n FROM ${APP_DATABASE}.active_instances_1d`,
  );
  return { exists, rollup: row?.n ?? null };
}

describe.each(["analyst", "grafana"] as const)("ClickHouse user %s", (name) => {
  it("may use the smstats database and reads what the owner reads there", async () => {
    const app = await appDatabase();
    const probe = await query(credentials(name), "SELECT 6 * 7 FORMAT TSV");
    if (!app.exists) {
      // Allowed but absent (code 81), not refused (291): the user's database list names smstats.
      expect(probe.body).toMatch(/Code: 81\b/);
      return;
    }
    expect([probe.status, probe.body]).toEqual([200, "42"]);
    if (app.rollup !== null) {
      const res = await query(credentials(name), "SELECT count() FROM active_instances_1d FORMAT TSV");
      expect([res.status, res.body]).toEqual([200, app.rollup]);
    }
  });

  it("cannot insert (readonly)", async () => {
    const res = await query(
      credentials(name),
      `INSERT INTO ${APP_DATABASE}.environment (instance_id) VALUES ('written-by-a-readonly-user')`,
      "system",
    );
    expect(res.status).not.toBe(200);
    expect(res.body).toMatch(/Code: 164\b.*readonly/);
  });

  it("cannot create a table (readonly)", async () => {
    const res = await query(
      credentials(name),
      `CREATE TABLE ${APP_DATABASE}.readonly_probe (x UInt8) ENGINE = Memory`,
      "system",
    );
    expect(res.status).not.toBe(200);
    expect(res.body).toMatch(/Code: 164\b.*readonly/);
  });

  it("cannot raise its own limits with a SET", async () => {
    const res = await query(credentials(name), "SET max_memory_usage = 0", "system");
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
