import { describe, expect, it } from "vitest";
import { clusterInsertSettings } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { clickhouseMigrationsDir, clusterStatements, loadMigrations } from "../../lib/migrate/index.ts";
import { splitStatements } from "../../lib/sql/index.ts";
import {
  allNodes,
  clickhouseClusterConfig,
  clusterTopology,
  natsClusterConfig,
  nodePorts,
  zookeeperConfig,
} from "../../stack/cluster/index.ts";
import { stackPorts } from "../../stack/ports.ts";

const target = { cluster: "smstats", database: "db", version: 3 };

describe("cluster form of the migrations", () => {
  it("turns a MergeTree table into a replicated local table and a Distributed table of the same name", () => {
    const [local, dist] = clusterStatements(
      "CREATE TABLE IF NOT EXISTS events (time DateTime, instance_id String) ENGINE = MergeTree() PARTITION BY toMonday(time) ORDER BY time",
      target,
    );
    expect(local).toBe(
      "CREATE TABLE IF NOT EXISTS db.events_local ON CLUSTER smstats (time DateTime, instance_id String) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/db/events_local-0003', '{replica}') PARTITION BY toMonday(time) ORDER BY time",
    );
    expect(dist).toBe(
      "CREATE TABLE IF NOT EXISTS db.events ON CLUSTER smstats AS db.events_local ENGINE = Distributed(smstats, db, events_local, cityHash64(instance_id))",
    );
  });

  it("keeps the engine family (AggregatingMergeTree → ReplicatedAggregatingMergeTree)", () => {
    const [local] = clusterStatements(
      "CREATE TABLE IF NOT EXISTS r (day Date, n AggregateFunction(count)) ENGINE = AggregatingMergeTree() ORDER BY day",
      target,
    );
    expect(local).toContain("ENGINE = ReplicatedAggregatingMergeTree(");
  });

  it("points materialized views from local table to local table, and plain views at the Distributed tables", () => {
    expect(
      clusterStatements(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS mv TO r AS\nSELECT toDate(time) AS day FROM events GROUP BY day",
        target,
      ),
    ).toEqual([
      "CREATE MATERIALIZED VIEW IF NOT EXISTS db.mv ON CLUSTER smstats TO db.r_local AS\nSELECT toDate(time) AS day FROM db.events_local GROUP BY day",
    ]);
    expect(
      clusterStatements("CREATE VIEW IF NOT EXISTS v AS SELECT day FROM r GROUP BY day", target),
    ).toEqual(["CREATE VIEW IF NOT EXISTS db.v ON CLUSTER smstats AS SELECT day FROM db.r GROUP BY day"]);
  });

  it("renames the local tables and re-creates the Distributed table for the new name", () => {
    expect(clusterStatements("RENAME TABLE a TO b", target)).toEqual([
      "RENAME TABLE db.a_local TO db.b_local ON CLUSTER smstats",
      "DROP TABLE IF EXISTS db.a ON CLUSTER smstats",
      "CREATE TABLE IF NOT EXISTS db.b ON CLUSTER smstats AS db.b_local ENGINE = Distributed(smstats, db, b_local, rand())",
    ]);
  });

  it("empties the local tables by a mutation on every shard, and backfills once through the Distributed tables", () => {
    expect(clusterStatements("TRUNCATE TABLE r", target)).toEqual([
      "ALTER TABLE db.r_local ON CLUSTER smstats DELETE WHERE 1",
    ]);
    expect(
      clusterStatements(
        "INSERT INTO r (day, n) SELECT toDate(time) AS day, count() AS n\nFROM events GROUP BY day",
        target,
      ),
    ).toEqual([
      "INSERT INTO db.r (day, n) SELECT toDate(time) AS day, count() AS n\nFROM db.events GROUP BY day",
    ]);
  });

  it("refuses a statement it has no cluster form for", () => {
    expect(() => clusterStatements("ALTER TABLE events ADD COLUMN x UInt8", target)).toThrow(
      /no cluster form/,
    );
  });

  it("has a cluster form for every statement of every migration", () => {
    for (const m of loadMigrations(clickhouseMigrationsDir)) {
      for (const s of splitStatements(m.sql)) {
        const forms = clusterStatements(s, { ...target, version: m.version });
        // A backfill is one INSERT … SELECT through the Distributed tables; everything else runs on
        // every node.
        for (const f of forms) {
          if (f.startsWith("INSERT INTO "))
            expect(f).toMatch(/^INSERT INTO db\.\w+ \([^)]*\) SELECT[\s\S]*\sFROM db\.\w+\b/);
          else expect(f).toContain("ON CLUSTER smstats");
        }
      }
    }
  });
});

describe("cluster stack layout", () => {
  it("uses base+500…599 only, distinct ports, none of the single stack's", () => {
    const t = clusterTopology(36000);
    const ports = allNodes(t).flatMap(nodePorts);
    expect(new Set(ports).size).toBe(ports.length);
    for (const p of ports) {
      expect(p).toBeGreaterThanOrEqual(36500);
      expect(p).toBeLessThan(36600);
    }
    for (const p of Object.values(stackPorts(36000))) expect(ports).not.toContain(p);
    expect(t.clickhouse.map((n) => `${n.shard}/${n.replica}`)).toEqual(["1/1", "1/2", "2/1", "2/2"]);
  });

  it("names each NATS server uniquely and routes it to all three", () => {
    const t = clusterTopology(36000);
    const confs = t.nats.map((n) => natsClusterConfig(n, t.nats, "/x"));
    expect(new Set(confs.map((c) => /server_name: (\S+)/.exec(c)?.[1])).size).toBe(3);
    for (const c of confs) {
      for (const n of t.nats) expect(c).toContain(`nats-route://127.0.0.1:${n.route}`);
      expect(c).toMatch(/listen: 127\.0\.0\.1:/);
    }
  });

  it("encrypts every member's JetStream store at rest with the stack's key", () => {
    const t = clusterTopology(36000);
    for (const n of t.nats) {
      const c = natsClusterConfig(n, t.nats, "/x", "ab".repeat(24));
      expect(c).toMatch(/jetstream \{[^}]*cipher: chachapoly[^}]*key: "(ab){24}"/s);
    }
  });

  it("keeps ZooKeeper on loopback with its admin server (port 8080 by default) off", () => {
    const conf = zookeeperConfig(clusterTopology(36000).zookeeper, "/x");
    expect(conf).toContain("admin.enableServer=false");
    expect(conf).toContain("clientPortAddress=127.0.0.1");
  });

  it("gives every ClickHouse replica its macros, the cluster of 2 shards × 2 replicas and ZooKeeper", () => {
    const t = clusterTopology(36000);
    const node = t.clickhouse[3];
    if (!node) throw new Error("no node");
    const xml = clickhouseClusterConfig(node, t, "/d", "/l", "/u", { name: "u", password: "p" });
    expect(xml).toContain("<shard>02</shard>");
    expect(xml).toContain(`<replica>${node.name}</replica>`);
    expect(xml.match(/<internal_replication>true/g)?.length).toBe(2);
    expect(xml).toContain(`<port>${t.zookeeper.client}</port>`);
    expect(xml).toContain("<distributed_ddl>");
    expect(xml).toMatch(/<mark_cache_size>67108864</);
  });
});

describe("cluster settings", () => {
  const base = {
    SMSTATS_NATS_URL: "nats://127.0.0.1:1,nats://127.0.0.1:2",
    SMSTATS_CLICKHOUSE_URL: "http://127.0.0.1:3",
    SMSTATS_CLICKHOUSE_USER: "u",
    SMSTATS_CLICKHOUSE_PASSWORD: "p",
    SMSTATS_POSTGRES_URL: "postgres://u:p@127.0.0.1:4/db",
    SMSTATS_REDIS_URL: "redis://127.0.0.1:5",
    SMSTATS_DATA_DIR: "/nonexistent-smstats-dir",
  };

  it("defaults to one server and one JetStream replica", () => {
    const c = loadConfig(base);
    expect(c.clickhouse.cluster).toBe("");
    expect(c.clickhouse.shards).toEqual([]);
    expect(c.nats.replicas).toBe(1);
    expect(clusterInsertSettings(c.clickhouse)).toBeUndefined();
  });

  it("reads the cluster, its shards, the quorum and the replicas", () => {
    const c = loadConfig({
      ...base,
      SMSTATS_CLICKHOUSE_CLUSTER: "smstats",
      SMSTATS_CLICKHOUSE_SHARDS: "http://a:1|http://b:1,http://c:1|http://d:1",
      SMSTATS_CLICKHOUSE_INSERT_QUORUM: "2",
      SMSTATS_NATS_REPLICAS: "3",
    });
    expect(c.nats.servers).toHaveLength(2);
    expect(c.clickhouse.shards).toEqual([
      ["http://a:1", "http://b:1"],
      ["http://c:1", "http://d:1"],
    ]);
    expect(c.nats.replicas).toBe(3);
    expect(clusterInsertSettings(c.clickhouse)).toEqual({ insert_distributed_sync: 1, insert_quorum: 2 });
  });

  it("rejects a shard list entry that is not a URL", () => {
    expect(() => loadConfig({ ...base, SMSTATS_CLICKHOUSE_SHARDS: "nope|http://b:1" })).toThrow(/SHARDS/);
  });
});
