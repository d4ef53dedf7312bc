import { afterAll, describe, expect, it } from "vitest";
import { failoverExecutor, isUnreachable } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { freePort } from "../../lib/net/index.ts";

// The processors' executor in cluster mode: a node that does not answer hands the request to the next.
const config = loadConfig();
const dead = `http://127.0.0.1:${await freePort()}`;
const ch = failoverExecutor(config.clickhouse, [dead, config.clickhouse.url]);

afterAll(() => ch.close());

describe("failoverExecutor", () => {
  it("answers from the next node when the first cannot be reached", async () => {
    expect(await ch.rows<{ x: number }>("SELECT 1 AS x")).toEqual([{ x: 1 }]);
  });

  it("does not retry a statement the server refused, and says so", async () => {
    const err = await ch.rows("SELECT no_such_function()").catch((e: unknown) => e);
    expect(isUnreachable(err)).toBe(false);
    expect(String(err)).toMatch(/no_such_function|Unknown function/);
  });

  it("fails with the connection error when no node answers", async () => {
    const none = failoverExecutor(config.clickhouse, [dead]);
    const err = await none.rows("SELECT 1").catch((e: unknown) => e);
    expect(isUnreachable(err)).toBe(true);
    await none.close();
  });
});
