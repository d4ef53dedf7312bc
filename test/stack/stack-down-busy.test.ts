import { afterAll, describe, expect, it } from "vitest";
import { serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { stackDown, stackUp } from "../../stack/index.ts";

// `npm run stack:down` took ~26 s after a load: ClickHouse 18.16 waits on SIGTERM for running inserts
// and merges. This checkout's stack is stopped while ClickHouse runs long inserts: every server must be
// gone within a few seconds, and rows committed before the stop are all there after the next up.
const config = loadConfig();
const table = `stack_down_probe_${process.pid}`;

afterAll(async () => {
  await stackUp();
  const ch = serverExecutor(config.clickhouse);
  await ch.exec(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
  await ch.close();
});

describe("stack down under an insert load", () => {
  it("stops every server within a few seconds and keeps committed rows", async () => {
    const ch = serverExecutor(config.clickhouse);
    await ch.exec(`CREATE TABLE ${table} (n UInt64, s String) ENGINE = MergeTree ORDER BY n`);
    await ch.exec(`INSERT INTO ${table} SELECT number, toString(number) FROM numbers(100000)`);
    const running = Promise.allSettled(
      [0, 1].map(() =>
        ch.exec(`INSERT INTO ${table} SELECT number, toString(number) FROM numbers(1000000000)`),
      ),
    );
    await new Promise((r) => setTimeout(r, 1_000));
    const started = performance.now();
    const down = await stackDown();
    const ms = performance.now() - started;
    console.info(
      `stack down under load: ${Math.round(ms)} ms (${down.services.map((s) => `${s.name} ${s.action}`).join(", ")})`,
    );
    await running;
    await ch.close();
    expect(ms).toBeLessThan(6_000);
    for (const s of down.services) expect(["stopped", "killed"]).toContain(s.action);

    await stackUp();
    const after = serverExecutor(config.clickhouse);
    try {
      const [r] = await after.rows<{ n: string }>(`SELECT countIf(n < 100000) AS n FROM ${table}`);
      // The 100,000 committed rows at least once (an insert cut short may have committed parts of its own).
      expect(Number(r?.n)).toBeGreaterThanOrEqual(100_000);
    } finally {
      await after.close();
    }
  }, 90_000);
});
