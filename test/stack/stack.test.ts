import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { readStackFile, type StackFile } from "../../lib/stack-file.ts";
import { stackDown, stackStatus, stackUp } from "../../stack/index.ts";

// Its own folder and ports (base 28000), so it runs beside the main stack (base 27000) without touching it.
const dataDir = `/tmp/smstats-stack-test-${process.pid}`;
const options = { dataDir, portBase: 28000 };
const pidFile = (name: string) => join(dataDir, "run", `${name}.pid`);

function stackFile(): StackFile {
  const file = readStackFile(dataDir);
  if (file === undefined) throw new Error(`no stack.json in ${dataDir}`);
  return file;
}

async function clickhouse(sql: string): Promise<string> {
  const { url, username, password } = stackFile().clickhouse;
  const res = await fetch(url, {
    method: "POST",
    headers: { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}` },
    body: sql,
  });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`ClickHouse ${res.status}: ${body}`);
  return body.trim();
}

async function withPostgres<T>(use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: stackFile().postgres.url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

async function withRedis<T>(use: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis(stackFile().redis.url, { lazyConnect: true });
  await client.connect();
  try {
    return await use(client);
  } finally {
    client.disconnect();
  }
}

async function withJetStream<T>(use: (nc: Awaited<ReturnType<typeof connect>>) => Promise<T>): Promise<T> {
  const nc = await connect({ servers: stackFile().nats.url });
  try {
    return await use(nc);
  } finally {
    await nc.close();
  }
}

function deadPid(): number {
  // A child that already exited and was reaped: its pid names no process.
  const pid = spawnSync("true").pid;
  if (pid === undefined) throw new Error("could not spawn true");
  return pid;
}

describe("local stack on real servers (port base 28000, temporary data folder)", () => {
  afterAll(async () => {
    await stackDown(options);
    rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  it("starts all four servers, reports them up and writes stack.json for port base 28000", async () => {
    const up = await stackUp(options);
    expect(up.services.map((s) => [s.name, s.action])).toEqual([
      ["nats", "started"],
      ["clickhouse", "started"],
      ["postgres", "started"],
      ["redis", "started"],
    ]);
    const status = await stackStatus(options);
    expect(status.allUp).toBe(true);
    expect(status.services.map((s) => s.state)).toEqual(["up", "up", "up", "up"]);

    const file = stackFile();
    expect(file.nats).toEqual({ url: "nats://127.0.0.1:28422", monitorUrl: "http://127.0.0.1:28822" });
    expect(file.clickhouse).toMatchObject({
      url: "http://127.0.0.1:28123",
      nativePort: 28900,
      username: "smstats",
    });
    expect(file.postgres.url).toMatch(/^postgres:\/\/smstats:[0-9a-f]{48}@127\.0\.0\.1:28432\/smstats$/);
    expect(file.redis.url).toMatch(/^redis:\/\/:[0-9a-f]{48}@127\.0\.0\.1:28379\/0$/);
  }, 90_000);

  it("does nothing on a second up but report every server already up", async () => {
    const before = readFileSync(join(dataDir, "stack.json"), "utf8");
    const pids = (await stackStatus(options)).services.map((s) => s.pid);
    const up = await stackUp(options);
    expect(up.services.map((s) => s.action)).toEqual([
      "already-up",
      "already-up",
      "already-up",
      "already-up",
    ]);
    expect(up.services.map((s) => s.pid)).toEqual(pids);
    expect(up.stackFileWritten).toBe(false);
    expect(readFileSync(join(dataDir, "stack.json"), "utf8")).toBe(before);
  });

  it("gives ClickHouse a profile where LowCardinality works without query settings", async () => {
    expect(await clickhouse("SELECT toTypeName(toLowCardinality('a'))")).toBe("LowCardinality(String)");
    await clickhouse("CREATE TABLE lc_probe (x LowCardinality(String)) ENGINE = MergeTree() ORDER BY x");
    await clickhouse("DROP TABLE lc_probe");
  });

  it("starts over stale pid files: a dead pid and a live process that is not the server", async () => {
    await stackDown(options);
    const dead = deadPid();
    writeFileSync(pidFile("redis"), `${dead}\n`);
    writeFileSync(pidFile("nats"), `${process.pid}\n`);

    const up = await stackUp(options);
    expect(up.services.map((s) => s.action)).toEqual(["started", "started", "started", "started"]);
    expect(up.services.find((s) => s.name === "redis")?.removedStalePid).toBe(dead);
    expect(up.services.find((s) => s.name === "nats")?.removedStalePid).toBe(process.pid);
    expect(readFileSync(pidFile("nats"), "utf8").trim()).not.toBe(String(process.pid));
    expect((await stackStatus(options)).allUp).toBe(true);
  }, 90_000);

  it("keeps Redis, PostgreSQL, ClickHouse and JetStream data across down and up", async () => {
    await withRedis((r) => r.set("stack-test:key", "kept"));
    await withPostgres(async (c) => {
      await c.query("CREATE TABLE stack_test (id int PRIMARY KEY, note text)");
      await c.query("INSERT INTO stack_test VALUES (1, 'kept')");
    });
    await clickhouse("CREATE TABLE stack_test (id UInt32, note String) ENGINE = MergeTree() ORDER BY id");
    await clickhouse("INSERT INTO stack_test VALUES (1, 'kept')");
    await withJetStream(async (nc) => {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "STACK_TEST", subjects: ["stacktest.>"] });
      await jetstream(nc).publish("stacktest.one", "kept");
    });

    const down = await stackDown(options);
    expect(down.services.map((s) => s.action)).toEqual(["stopped", "stopped", "stopped", "stopped"]);
    expect((await stackStatus(options)).services.map((s) => s.state)).toEqual([
      "down",
      "down",
      "down",
      "down",
    ]);
    await stackUp(options);

    expect(await withRedis((r) => r.get("stack-test:key"))).toBe("kept");
    const rows = await withPostgres((c) => c.query("SELECT note FROM stack_test WHERE id = 1"));
    expect(rows.rows).toEqual([{ note: "kept" }]);
    expect(await clickhouse("SELECT note FROM stack_test WHERE id = 1")).toBe("kept");
    const stored = await withJetStream(async (nc) => {
      const jsm = await jetstreamManager(nc);
      return jsm.streams.getMessage("STACK_TEST", { seq: 1 });
    });
    expect(stored?.string()).toBe("kept");
  }, 90_000);
});
