import { afterAll, describe, expect, it } from "vitest";
import { createPgPool } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { withTransaction } from "../../licensing/instances/transaction.ts";

// PostgreSQL stopped (or a backend terminated: 57P01) while a pooled connection is idle in a transaction
// its holder has not finished: the connection's 'error' must not crash the process (it did: ingest died
// at the end of the store-outage test's PostgreSQL stop), the holder's next query fails, and the pool
// goes on with a new connection.
const url = loadConfig().postgres.url;
const pool = createPgPool(url, "terminated-connection-test", 2);
const admin = createPgPool(url, "terminated-connection-admin", 1);
afterAll(async () => {
  await pool.end();
  await admin.end();
});

describe("a pooled connection terminated between two queries of a transaction", () => {
  it("fails its holder's next query, crashes nothing, and the pool serves the next caller", async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on("uncaughtException", onUncaught);
    try {
      const outcome = await withTransaction(pool, async (client) => {
        const { rows } = await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
        // Idle in the transaction (no query running) when the server ends the backend.
        await admin.query("SELECT pg_terminate_backend($1)", [rows[0]?.pid]);
        await new Promise((r) => setTimeout(r, 300));
        return client.query("SELECT 1");
      }).then(
        () => "committed",
        (err: Error) => `failed: ${err.message}`,
      );
      expect(outcome).toMatch(/^failed: /);
      expect(uncaught).toEqual([]);
      const { rows } = await pool.query<{ one: number }>("SELECT 1 AS one");
      expect(rows[0]?.one).toBe(1);
    } finally {
      process.off("uncaughtException", onUncaught);
    }
  });
});
