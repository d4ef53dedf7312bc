import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postgresPanelSql } from "../../grafana/macros/index.ts";
import { createPgPool } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { migratePostgres } from "../../lib/migrate/index.ts";
import { createFleet } from "../../loadtest/fleet/index.ts";
import { panelContext, sqlPanelQueries } from "../support/grafana-panels.ts";

// The licensing board's queries, macros expanded as Grafana's PostgreSQL datasource does, on the local
// PostgreSQL (the tests' database), over licensing rows made for a simulated fleet.
const config = loadConfig();
const DAY = 86_400_000;
const now = new Date();
const fleet = createFleet({ seed: 11, instances: 30, days: 1, end: now.getTime() });
const queries = sqlPanelQueries("postgres");
let pool: pg.Pool;
/** What each panel showed before the fixture went in: the panels count the whole (shared) test database. */
const before = new Map<string, Record<string, unknown>[]>();
const hwids = fleet.instances.map((i) => `graf-${i.hwid}`);

async function cleanup() {
  await pool.query(
    `DELETE FROM license_activations WHERE instance_id IN (SELECT id FROM instances WHERE hwid = ANY($1))`,
    [hwids],
  );
  await pool.query(
    `DELETE FROM licenses WHERE instance_id IN (SELECT id FROM instances WHERE hwid = ANY($1))`,
    [hwids],
  );
  await pool.query(`DELETE FROM instances WHERE hwid = ANY($1)`, [hwids]);
  await pool.query(`DELETE FROM audit_log WHERE actor = $1`, [AUDIT_ACTOR]);
}
const AUDIT_ACTOR = `graf-test-${process.pid}`;

beforeAll(async () => {
  await migratePostgres(config.postgres.url, undefined, config.dataDir);
  pool = createPgPool(config.postgres.url, "grafana-panels-test", 2);
  await cleanup();
  for (const q of queries)
    before.set(
      q.name,
      (await pool.query(postgresPanelSql(q.query.sql, panelContext(q.board, q.panel, now)))).rows,
    );
  // Every instance registered within the last 20 days; paid tiers hold a licence activated since; every
  // seventh licence revoked, every fifth expired, every ninth instance banned.
  for (const [i, inst] of fleet.instances.entries()) {
    const registered = new Date(now.getTime() - (1 + (i % 20)) * DAY);
    const { rows } = await pool.query<{ id: string }>(
      `INSERT INTO instances (hwid, platform, version, tier, registered_at, is_banned, ban_reason)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
      [
        hwids[i],
        inst.platform,
        inst.version,
        inst.tier,
        registered,
        i % 9 === 0,
        i % 9 === 0 ? "abuse" : null,
      ],
    );
    const id = rows[0]?.id;
    const { rows: lic } = await pool.query<{ id: string }>(
      `INSERT INTO licenses (license_key, tier, owner_email_index, instance_id, created_at, expires_at, is_revoked, revoke_reason)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
      [
        `graf-key-${inst.hwid}`,
        inst.tier,
        Buffer.from(`owner${i}`),
        id,
        registered,
        new Date(now.getTime() + (i % 5 === 0 ? -1 : 10 + i) * DAY),
        i % 7 === 0,
        i % 7 === 0 ? "chargeback" : null,
      ],
    );
    // What the admin commands write for a revocation or a ban (the revocations-and-bans panel).
    for (const [action, type, target, flag] of [
      ["license.revoke", "license", lic[0]?.id, i % 7 === 0],
      ["instance.ban", "instance", id, i % 9 === 0],
    ] as const) {
      if (!flag) continue;
      await pool.query(
        `INSERT INTO audit_log (at, actor, action, target_type, target_id, changes, source)
         VALUES ($1, $2, $3, $4, $5, '{}', 'cli')`,
        [new Date(registered.getTime() + 7_200_000), AUDIT_ACTOR, action, type, target],
      );
    }
    await pool.query(
      `INSERT INTO license_activations (license_id, instance_id, activated_at, country, user_agent)
       VALUES ($1, $2, $3, 'DE', 'SongMartyn-sim')`,
      [lic[0]?.id, id, new Date(registered.getTime() + 3_600_000)],
    );
  }
});

afterAll(async () => {
  console.log(`PostgreSQL panel queries: ${queries.length} run`);
  await cleanup();
  await pool.end();
});

describe("licensing board on the local PostgreSQL", () => {
  it("has PostgreSQL panels", () => expect(queries.length).toBeGreaterThanOrEqual(6));

  it.each(queries.map((q) => [q.name, q] as const))("%s returns its columns", async (_n, q) => {
    const sql = postgresPanelSql(q.query.sql, panelContext(q.board, q.panel, now));
    const { rows, fields } = await pool.query(sql);
    expect(rows.length, `${q.name} returned no rows`).toBeGreaterThan(0);
    expect(fields.map((f) => f.name)).toEqual([...q.query.columns]);
  });

  /** A panel's rows after minus before, keyed by its label columns, for the number column `value`. */
  async function delta(title: string, labels: string[], value: string): Promise<Record<string, number>> {
    const q = queries.find((x) => x.panel.title === title);
    if (!q) throw new Error(`no panel ${title}`);
    const key = (r: Record<string, unknown>) => labels.map((l) => String(r[l])).join("/");
    const out: Record<string, number> = {};
    for (const r of (await pool.query(postgresPanelSql(q.query.sql, panelContext(q.board, q.panel, now))))
      .rows)
      out[key(r)] = (out[key(r)] ?? 0) + Number(r[value]);
    for (const r of before.get(q.name) ?? []) out[key(r)] = (out[key(r)] ?? 0) - Number(r[value]);
    for (const k of Object.keys(out)) if (out[k] === 0) delete out[k];
    return out;
  }
  /** Counts the fixture's instances by a label, over those `keep` selects. */
  function tally(keep: (i: number) => boolean, label: (i: number) => string): Record<string, number> {
    const out: Record<string, number> = {};
    fleet.instances.forEach((_inst, i) => {
      if (keep(i)) out[label(i)] = (out[label(i)] ?? 0) + 1;
    });
    return out;
  }
  const tierOf = (i: number) => fleet.instances[i]?.tier as string;

  it("counts exactly the fixture's rows (values, not only shapes)", async () => {
    expect(await delta("Instances by tier", ["tier"], "instances")).toEqual(
      tally((i) => i % 9 !== 0, tierOf),
    );
    expect(await delta("Banned instances by reason", ["reason"], "instances")).toEqual(
      tally(
        (i) => i % 9 === 0,
        () => "abuse",
      ),
    );
    expect(await delta("Revoked licences by reason", ["tier", "reason"], "licences")).toEqual(
      tally(
        (i) => i % 7 === 0,
        (i) => `${tierOf(i)}/chargeback`,
      ),
    );
    // Licences: every seventh revoked; of the rest every fifth expired, the others expire in 10+i days.
    for (const [column, keep] of [
      ["revoked", (i: number) => i % 7 === 0],
      ["expired", (i: number) => i % 7 !== 0 && i % 5 === 0],
      ["active", (i: number) => i % 7 !== 0 && i % 5 !== 0],
      ["expiring_30d", (i: number) => i % 7 !== 0 && i % 5 !== 0 && 10 + i <= 30],
    ] as const)
      expect(await delta("Licences by tier", ["tier"], column), column).toEqual(tally(keep, tierOf));
  });
});
