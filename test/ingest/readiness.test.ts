import { createServer, type Server, type Socket } from "node:net";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IngestDeps } from "../../ingest/deps.ts";
import type { Config } from "../../lib/config/index.ts";
import { testIngest } from "../support/app.ts";

// A "ClickHouse" that accepts connections and never answers: a frozen server, started by this test on
// its own port. Ingest does not need ClickHouse, so its readiness must not wait for it.
let frozen: Server;
const held: Socket[] = [];
let app: FastifyInstance;
let deps: IngestDeps;
let config: Readonly<Config>;

beforeAll(async () => {
  frozen = createServer((s) => {
    held.push(s);
    s.on("error", () => {});
  });
  await new Promise<void>((r) => frozen.listen(0, "127.0.0.1", r));
  const port = (frozen.address() as { port: number }).port;
  ({ app, deps, config } = await testIngest({ SMSTATS_CLICKHOUSE_URL: `http://127.0.0.1:${port}` }));
});
afterAll(async () => {
  for (const s of held) s.destroy();
  await app?.close();
  await deps?.close();
  await new Promise((r) => frozen.close(r));
});

describe("ingest readiness", () => {
  it("checks only NATS, PostgreSQL and Redis, and answers at once while ClickHouse hangs", async () => {
    await app.ready();
    const started = performance.now();
    const ready = await app.inject("/health/ready");
    const ms = performance.now() - started;
    expect(ready.statusCode).toBe(200);
    expect(Object.keys(ready.json().checks).sort()).toEqual(["nats", "postgres", "redis"]);
    expect(ms).toBeLessThan(config.ingest.healthTimeoutMs);
  });

  it("gives each check a short deadline: the hanging ClickHouse is reported down on its own route", async () => {
    const started = performance.now();
    const res = await app.inject("/health/clickhouse");
    const ms = performance.now() - started;
    expect(res.statusCode).toBe(503);
    expect(res.headers["retry-after"]).toBeDefined();
    expect(res.json().clickhouse.error).toMatch(/no answer within/);
    expect(ms).toBeGreaterThanOrEqual(config.ingest.healthTimeoutMs - 5);
    expect(ms).toBeLessThan(config.ingest.healthTimeoutMs + 1000);
  });
});
