import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../lib/config/index.ts";
import { loadMigrations, migratePostgres, postgresMigrationsDir } from "../../lib/migrate/index.ts";

const config = loadConfig();
const dbName = `smstats_mig_${process.pid}`;
const url = (() => {
  const u = new URL(config.postgres.url);
  u.pathname = `/${dbName}`;
  return u.toString();
})();

afterAll(async () => {
  const admin = new URL(config.postgres.url);
  admin.pathname = "/postgres";
  const c = new pg.Client({ connectionString: admin.toString() });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await c.end();
});

describe("PostgreSQL migrations", () => {
  it("creates the database, applies every migration and records each", async () => {
    const report = await migratePostgres(url);
    expect(report.applied).toEqual(loadMigrations(postgresMigrationsDir).map((m) => m.version));
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const { rows } = await c.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
    );
    await c.end();
    expect(rows.map((r) => r.table_name)).toEqual(
      expect.arrayContaining(["instances", "licenses", "license_activations", "schema_migrations"]),
    );
  });

  it("applies nothing the second time, even from two runners at once", async () => {
    const [a, b] = await Promise.all([migratePostgres(url), migratePostgres(url)]);
    expect(a.applied).toEqual([]);
    expect(b.applied).toEqual([]);
  });
});
