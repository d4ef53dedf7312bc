import { randomBytes, randomUUID } from "node:crypto";
import type pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createPgPool } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { createInstanceLookup } from "../../processors/steps/enrich/index.ts";

const HWID_PREFIX = `enrich-${process.pid}-`;
let pool: pg.Pool;

beforeAll(() => {
  pool = createPgPool(loadConfig().postgres.url, "enrich-test", 4);
});
afterEach(() => {
  vi.restoreAllMocks();
});
afterAll(async () => {
  await pool?.query("DELETE FROM instances WHERE hwid LIKE $1", [`${HWID_PREFIX}%`]);
  await pool?.end();
});

async function insertInstance(row: { tier: string; platform: string | null; version: string | null }) {
  const { rows } = await pool.query<{ id: string }>(
    "INSERT INTO instances (hwid, tier, platform, version) VALUES ($1, $2, $3, $4) RETURNING id",
    [`${HWID_PREFIX}${randomBytes(8).toString("hex")}`, row.tier, row.platform, row.version],
  );
  return (rows[0] as { id: string }).id;
}

describe("createInstanceLookup against PostgreSQL", () => {
  it("reads an instance's tier, platform and version", async () => {
    const id = await insertInstance({ tier: "pro", platform: "linux", version: "1.4.2" });
    const lookup = createInstanceLookup(pool, { ttlMs: 60_000, maxEntries: 100 });
    expect(await lookup(id)).toEqual({ tier: "pro", platform: "linux", version: "1.4.2" });
  });

  it("gives '' for a platform and version the instance never sent", async () => {
    const id = await insertInstance({ tier: "starter", platform: null, version: null });
    const lookup = createInstanceLookup(pool, { ttlMs: 60_000, maxEntries: 100 });
    expect(await lookup(id)).toEqual({ tier: "starter", platform: "", version: "" });
  });

  it("answers undefined for an instance that does not exist, and for an id that is not a UUID", async () => {
    const query = vi.spyOn(pool, "query");
    const lookup = createInstanceLookup(pool, { ttlMs: 60_000, maxEntries: 100 });
    expect(await lookup(randomUUID())).toBeUndefined();
    expect(await lookup("abc123'; DROP TABLE instances; --")).toBeUndefined();
    // The malformed id never reaches PostgreSQL, which would answer with an error the caller would retry.
    expect(query).toHaveBeenCalledTimes(1);
  });

  it("queries once per instance within the TTL, even for concurrent calls", async () => {
    const id = await insertInstance({ tier: "pro", platform: "linux", version: "1.4.2" });
    const query = vi.spyOn(pool, "query");
    const lookup = createInstanceLookup(pool, { ttlMs: 60_000, maxEntries: 100 });
    const answers = await Promise.all([lookup(id), lookup(id), lookup(id)]);
    expect(answers.every((a) => a?.tier === "pro")).toBe(true);
    expect(await lookup(id)).toEqual({ tier: "pro", platform: "linux", version: "1.4.2" });
    expect(query).toHaveBeenCalledTimes(1);
  });

  it("sees a tier change only after the TTL", async () => {
    const id = await insertInstance({ tier: "starter", platform: "linux", version: "1.4.2" });
    let now = 1_000;
    const query = vi.spyOn(pool, "query");
    const lookup = createInstanceLookup(pool, { ttlMs: 5_000, maxEntries: 100, now: () => now });
    expect((await lookup(id))?.tier).toBe("starter");
    await pool.query("UPDATE instances SET tier = 'pro' WHERE id = $1", [id]);
    now += 4_999;
    expect((await lookup(id))?.tier).toBe("starter");
    now += 1;
    expect((await lookup(id))?.tier).toBe("pro");
    // The spy also saw the UPDATE above: two lookups' queries plus that one.
    expect(query).toHaveBeenCalledTimes(3);
  });

  it("caches an unknown instance too, so an erased instance's batches cost one query per TTL", async () => {
    const query = vi.spyOn(pool, "query");
    const lookup = createInstanceLookup(pool, { ttlMs: 60_000, maxEntries: 100 });
    const gone = randomUUID();
    for (let i = 0; i < 5; i++) expect(await lookup(gone)).toBeUndefined();
    expect(query).toHaveBeenCalledTimes(1);
  });

  it("rejects when PostgreSQL fails and queries again on the next call", async () => {
    const id = await insertInstance({ tier: "pro", platform: "linux", version: "1.4.2" });
    const broken = createPgPool("postgres://nobody@127.0.0.1:1/none", "enrich-test-down", 1);
    try {
      const query = vi.spyOn(broken, "query");
      const failing = createInstanceLookup(broken, { ttlMs: 60_000, maxEntries: 100 });
      await expect(failing(id)).rejects.toThrow();
      await expect(failing(id)).rejects.toThrow();
      expect(query).toHaveBeenCalledTimes(2);
    } finally {
      await broken.end();
    }
  });
});
