import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig, repoRoot } from "../../lib/config/index.ts";
import { migrateClickHouse, migratePostgres } from "../../lib/migrate/index.ts";
import { sqlIdentifier } from "../../lib/sql/index.ts";
import { loadPiiVault } from "../../licensing/index.ts";
import { tableSink } from "../../processors/sinks/clickhouse/index.ts";
import { clickhouseDateTime } from "../../processors/steps/route/index.ts";

// `smstats retention run` over every store, on databases of this suite's own (PostgreSQL and ClickHouse),
// so the run deletes nothing another suite relies on. Defaults: leases 90 days past not-after, refresh
// tokens 7 days past expiry, abuse flags 180 days, activation addresses 30 days, audit 730 days, raw
// starter rows 90 days.
const run = promisify(execFile);
const database = `smstats_rtn_${process.pid}`;
const env = { ...process.env, SMSTATS_POSTGRES_DATABASE: database, SMSTATS_CLICKHOUSE_DATABASE: database };
const config = loadConfig(env);
const ch = serverExecutor(config.clickhouse);
let db: pg.Client;
const DAY = 86_400_000;
const ago = (days: number) => new Date(Date.now() - days * DAY);

async function smstats(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [join(repoRoot, "bin/smstats.mjs"), ...args], {
    cwd: repoRoot,
    env,
  });
  return stdout;
}

/** Rows per table (activations: those still holding an address) in this suite's PostgreSQL database. */
async function counts(): Promise<Record<string, number>> {
  const one = async (sql: string) => (await db.query<{ n: number }>(sql)).rows[0]?.n as number;
  return {
    leases: await one("SELECT count(*)::int AS n FROM leases"),
    refresh_tokens: await one("SELECT count(*)::int AS n FROM refresh_tokens"),
    abuse_flags: await one("SELECT count(*)::int AS n FROM abuse_flags"),
    audit_log: await one("SELECT count(*)::int AS n FROM audit_log"),
    activations: await one("SELECT count(*)::int AS n FROM license_activations"),
    addresses: await one("SELECT count(*)::int AS n FROM license_activations WHERE ip_sealed IS NOT NULL"),
    raw: Number((await ch.rows<{ n: string }>("SELECT count() AS n FROM metrics_quality"))[0]?.n),
  };
}

beforeAll(async () => {
  await migratePostgres(config.postgres.url, undefined, config.dataDir);
  await migrateClickHouse(ch);
  db = new pg.Client({ connectionString: config.postgres.url });
  await db.connect();
  const vault = await loadPiiVault(config.dataDir);
  const inst = (
    await db.query(
      "INSERT INTO instances (hwid, platform, version) VALUES ('rtn-hwid', 'linux', '1') RETURNING id",
    )
  ).rows[0].id;
  const lic = (
    await db.query(
      "INSERT INTO licenses (license_key, tier, owner_email_sealed) VALUES ('rtn-key', 'venue', $1) RETURNING id",
      [vault.sealEmail("rtn@example.com")],
    )
  ).rows[0].id;
  // One row past its retention and one within it, per table.
  for (const [days, live] of [
    [40, false],
    [5, true],
  ] as const) {
    await db.query(
      `INSERT INTO license_activations (license_id, instance_id, activated_at, ip_sealed, country, deactivated_at)
       VALUES ($1, $2, $3, $4, 'DE', $5)`,
      [lic, inst, ago(days), vault.sealAddress("2.168.182.9"), live ? null : ago(days - 1)],
    );
  }
  for (const days of [100, 10]) {
    await db.query(
      `INSERT INTO leases (id, instance_id, tier, reason, nonce, kid, issued_at, not_after)
       VALUES (gen_random_uuid(), $1, 'venue', 'VALID', 'n', 'k', $2, $2)`,
      [inst, ago(days)],
    );
  }
  for (const days of [10, -1]) {
    await db.query(
      "INSERT INTO refresh_tokens (token_hash, instance_id, expires_at) VALUES (sha256(gen_random_uuid()::text::bytea), $1, $2)",
      [inst, ago(days)],
    );
  }
  for (const days of [200, 1]) {
    await db.query(
      "INSERT INTO abuse_flags (rule, subject, created_at) VALUES ('key_guessing', 'ip:x', $1)",
      [ago(days)],
    );
  }
  for (const days of [800, 1]) {
    await db.query(
      `INSERT INTO audit_log (at, actor, action, target_type, target_id, source)
       VALUES ($1, 'cli:test', 'license.issue', 'license', $2, 'cli')`,
      [ago(days), lic],
    );
  }
  // Raw rows of a starter instance: one 200 days old (its week is past 90 days), one from yesterday.
  const sink = await tableSink(ch, "metrics_quality", "JSONEachRow");
  await sink.insert(
    [200, 1].map((days) => ({
      time: clickhouseDateTime(ago(days).getTime()),
      instance_id: "i-rtn",
      tier: "starter",
      app_version: "1.0.0",
      platform: "linux",
      country: "DE",
      batch_id: `rtn-${days}`,
      row_index: 0,
      received_at: clickhouseDateTime(ago(days).getTime()),
      metric_name: "cpu_usage_percent",
      value: days,
      "tags.key": [],
      "tags.value": [],
    })),
  );
});
afterAll(async () => {
  await db?.end();
  await ch.exec(`DROP DATABASE IF EXISTS ${sqlIdentifier(database)}`).catch(() => undefined);
  await ch.close();
  const admin = new URL(config.postgres.url);
  admin.pathname = "/postgres";
  const c = new pg.Client({ connectionString: admin.toString() });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await c.end();
});

describe("smstats retention run", () => {
  it("lists every store's expired rows with --dry-run, deletes nothing, then deletes exactly those", async () => {
    const before = await counts();
    expect(before).toEqual({
      leases: 2,
      refresh_tokens: 2,
      abuse_flags: 2,
      audit_log: 2,
      activations: 2,
      addresses: 2,
      raw: 2,
    });
    const dry = JSON.parse(await smstats("retention", "run", "--dry-run", "--json"));
    expect(dry.dryRun).toBe(true);
    expect(dry.dropped.map((d: { table: string }) => d.table)).toContain("metrics_quality");
    expect(
      Object.fromEntries(dry.postgres.map((p: { table: string; rows: number }) => [p.table, p.rows])),
    ).toEqual({
      license_activations: 1,
      leases: 1,
      refresh_tokens: 1,
      abuse_flags: 1,
      audit_log: 1,
    });
    expect(await counts()).toEqual(before);

    const text = await smstats("retention", "run");
    expect(text).toMatch(/postgres\tpurged\tlicense_activations\t1 addresses/);
    expect(text).toMatch(/postgres\tdeleted\taudit_log\t1 rows/);
    expect(await counts()).toEqual({
      leases: 1,
      refresh_tokens: 1,
      abuse_flags: 1,
      audit_log: 1,
      // The activation stays (seat history), with its country but without its address.
      activations: 2,
      addresses: 1,
      raw: 1,
    });
    const left = await db.query("SELECT country FROM license_activations WHERE ip_sealed IS NULL");
    expect(left.rows).toEqual([{ country: "DE" }]);
    // A second run finds nothing more.
    const again = JSON.parse(await smstats("retention", "run", "--json"));
    expect(again.postgres.every((p: { rows: number }) => p.rows === 0)).toBe(true);
  });
});
