import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../lib/config/index.ts";
import {
  loadMigrations,
  migratePostgres,
  postgresMigrationsDir,
  postgresTarget,
  runMigrations,
} from "../../lib/migrate/index.ts";
import { createRotatingSecretBox, keysDir, loadPiiVault, resealAll } from "../../licensing/index.ts";

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
  await c.query(`DROP DATABASE IF EXISTS ${dbName}_seal WITH (FORCE)`);
  await c.end();
});

describe("PostgreSQL migrations", () => {
  it("creates the database, applies every migration and records each", async () => {
    const report = await migratePostgres(url);
    expect(report.applied).toEqual(loadMigrations(postgresMigrationsDir).map((m) => m.version));
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const columns = new Set(
      (
        await c.query<{ c: string }>(
          "SELECT table_name || '.' || column_name AS c FROM information_schema.columns WHERE table_schema = 'public'",
        )
      ).rows.map((r) => r.c),
    );
    const tables = new Set([...columns].map((x) => x.split(".")[0]));
    const recorded = (
      await c.query<{ version: number; checksum: string }>(
        "SELECT version, checksum FROM schema_migrations ORDER BY version",
      )
    ).rows;
    const tiers = (await c.query("SELECT tier, key_label FROM tier_policies ORDER BY rank")).rows;
    await c.end();
    // Every table each migration creates and every column it adds is there (a skipped or half-applied
    // migration leaves one out), and each migration is recorded with its file's checksum.
    const migrations = loadMigrations(postgresMigrationsDir);
    const created = migrations.flatMap((m) =>
      [...m.sql.matchAll(/CREATE TABLE (?:IF NOT EXISTS )?([a-z_]+)/g)].map((x) => x[1] as string),
    );
    const added = migrations.flatMap((m) =>
      [...m.sql.matchAll(/ALTER TABLE ([a-z_]+) ADD COLUMN (?:IF NOT EXISTS )?([a-z_]+)/g)].map(
        (x) => `${x[1]}.${x[2]}`,
      ),
    );
    expect(created.length).toBeGreaterThan(10);
    expect(added.length).toBeGreaterThan(5);
    expect(created.filter((t) => !tables.has(t))).toEqual([]);
    expect(added.filter((col) => !columns.has(col))).toEqual([]);
    expect(recorded.map((r) => [Number(r.version), r.checksum])).toEqual(
      migrations.map((m) => [m.version, m.checksum]),
    );
    expect(tiers).toEqual([
      { tier: "starter", key_label: "STARTER" },
      { tier: "party_host", key_label: "PARTY" },
      { tier: "venue", key_label: "VENUE" },
    ]);
  });

  it("applies nothing the second time, even from two runners at once", async () => {
    const [a, b] = await Promise.all([migratePostgres(url), migratePostgres(url)]);
    expect(a.applied).toEqual([]);
    expect(b.applied).toEqual([]);
  });

  it("0008 seals the clear emails and addresses of existing rows, then drops the clear columns", async () => {
    const sealUrl = url.replace(`/${dbName}`, `/${dbName}_seal`);
    const target = postgresTarget(sealUrl);
    try {
      await runMigrations(target, loadMigrations(postgresMigrationsDir).slice(0, 7));
    } finally {
      await target.close();
    }
    const c = new pg.Client({ connectionString: sealUrl });
    await c.connect();
    try {
      const inst = (
        await c.query(
          "INSERT INTO instances (hwid, owner_email) VALUES ('mig-hwid', 'Old.Owner@Example.com') RETURNING id",
        )
      ).rows[0].id;
      const lic = (
        await c.query(
          "INSERT INTO licenses (license_key, tier, owner_email) VALUES ('k', 'venue', 'buyer@example.com') RETURNING id",
        )
      ).rows[0].id;
      await c.query(
        "INSERT INTO license_activations (license_id, instance_id, ip_address) VALUES ($1, $2, '2.168.182.7')",
        [lic, inst],
      );
      await c.query(
        "INSERT INTO payment_subscriptions (provider, subscription_ref, email) VALUES ('stripe', 'sub_1', 'payer@example.com')",
      );
      await c.query(
        `INSERT INTO audit_log (actor, action, target_type, target_id, changes, source, ip)
         VALUES ('token:x', 'license.issue', 'license', $1, '{"owner_email": "buyer@example.com", "tier": "venue"}', 'api', '3.113.134.5')`,
        [lic],
      );
      await c.query("INSERT INTO abuse_flags (rule, subject) VALUES ('key_guessing', '49.146.233.8')");

      expect((await migratePostgres(sealUrl, undefined, config.dataDir)).applied).toContain(8);
      const vault = await loadPiiVault(config.dataDir);
      const clear = await c.query(
        `SELECT table_name || '.' || column_name AS c FROM information_schema.columns
         WHERE table_schema = 'public' AND column_name IN ('owner_email', 'email', 'ip_address', 'ip')`,
      );
      expect(clear.rows).toEqual([]);
      const i = (await c.query("SELECT owner_email_sealed, owner_email_index FROM instances")).rows[0];
      expect(vault.openEmail(i.owner_email_sealed)).toBe("Old.Owner@Example.com");
      expect(i.owner_email_index).toEqual(vault.emailIndex("old.owner@example.com"));
      const l = (await c.query("SELECT owner_email_sealed FROM licenses")).rows[0];
      expect(vault.openEmail(l.owner_email_sealed)).toBe("buyer@example.com");
      const p = (await c.query("SELECT email_sealed, email_index FROM payment_subscriptions")).rows[0];
      expect([vault.openEmail(p.email_sealed), p.email_index]).toEqual([
        "payer@example.com",
        vault.emailIndex("payer@example.com"),
      ]);
      const a = (await c.query("SELECT ip_sealed, country FROM license_activations")).rows[0];
      expect([vault.openAddress(a.ip_sealed), a.country]).toEqual(["2.168.182.7", "DE"]);
      const au = (await c.query("SELECT ip_sealed, changes FROM audit_log")).rows[0];
      expect([vault.openAddress(au.ip_sealed), au.changes]).toEqual(["3.113.134.5", { tier: "venue" }]);
      const f = (await c.query("SELECT subject FROM abuse_flags")).rows[0];
      expect(f.subject).toBe(`ip:${vault.addressTag("49.146.233.8")}`);

      // A rotated box (key 1 beside key 0): reseal moves every value to key 1, and they still open.
      const key0 = readFileSync(join(keysDir(config.dataDir), "secret-box.key"));
      const rotated = createRotatingSecretBox(
        new Map([
          [0, key0],
          [1, randomBytes(32)],
        ]),
      );
      const report = await resealAll(c, rotated);
      expect(report["instances.owner_email_sealed"]).toEqual({ resealed: 1, unreadable: 0 });
      expect(report["license_activations.ip_sealed"]).toEqual({ resealed: 1, unreadable: 0 });
      const moved = (await c.query("SELECT owner_email_sealed FROM instances")).rows[0].owner_email_sealed;
      expect(rotated.keyIdOf(moved)).toBe(1);
      expect(rotated.open(moved, "pii:email").toString()).toBe("Old.Owner@Example.com");
      expect((await resealAll(c, rotated))["instances.owner_email_sealed"]).toEqual({
        resealed: 0,
        unreadable: 0,
      });
    } finally {
      await c.end();
    }
  });
});
