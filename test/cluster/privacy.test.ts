import { createInterface } from "node:readline";
import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ClickHouseExecutor, serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import {
  bodySha256Hex,
  requestSignature,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
} from "../../licensing/index.ts";
import { FleetHttpClient, type RegisteredInstance } from "../../loadtest/fleet/http-client.ts";
import { createFleet } from "../../loadtest/fleet/index.ts";
import { type PipelineProcess, removeNamespaceStreams, startPipeline } from "../../loadtest/service.ts";
import { cluster, clusterEnv, nodeUrl, onNode, syncReplicas } from "./support.ts";

// Issue 15's erasure and export on the cluster stack (issue 16): an instance's rows live on the shard of
// its id, and ingest talks to one ClickHouse server, so what it reads or deletes on that server alone
// misses every instance of the other shard. Instances on both shards are exported (every row, through the
// Distributed tables) and erased (ALTER … ON CLUSTER on the local tables, followed on every replica);
// afterwards none of the four servers holds a row of theirs, and the other instances keep all of theirs.

const handle = cluster();
const ns = `privacy_${process.pid}`;
const env = clusterEnv(handle, ns);
const config = loadConfig({ ...process.env, ...env });
const db = config.clickhouse.database;
let pipeline: PipelineProcess;
let ch: ClickHouseExecutor;
const registered: RegisteredInstance[] = [];

interface LocalTable {
  table: string;
  engine: string;
}

/** The replicated local tables with an instance_id column (the same on every server). */
async function instanceTables(url: string): Promise<LocalTable[]> {
  return onNode<LocalTable>(
    handle,
    url,
    `SELECT name AS table, engine FROM system.tables WHERE database = '${db}' AND engine LIKE 'Replicated%'
       AND name IN (SELECT table FROM system.columns WHERE database = '${db}' AND name = 'instance_id')
     ORDER BY name`,
  );
}

/**
 * Rows of each instance on one server, by table ("<instance>/<table>" → rows). Tables that merge rows
 * (the rollups) are counted with FINAL: their plain count changes with background merges, not content.
 */
async function rowsByInstance(url: string, tables: LocalTable[]): Promise<Map<string, number>> {
  const union = tables
    .map(
      (t) =>
        `SELECT instance_id, '${t.table}' AS t FROM ${db}.${t.table}${t.engine === "ReplicatedMergeTree" ? "" : " FINAL"}`,
    )
    .join(" UNION ALL ");
  const rows = await onNode<{ instance_id: string; t: string; n: string }>(
    handle,
    url,
    `SELECT instance_id, t, count() AS n FROM (${union}) GROUP BY instance_id, t`,
  );
  const out = new Map<string, number>();
  for (const r of rows) {
    out.set(`${r.instance_id}/${r.t}`, Number(r.n));
    out.set(r.instance_id, (out.get(r.instance_id) ?? 0) + Number(r.n));
  }
  return out;
}

function signedFetch(inst: RegisteredInstance, method: "GET" | "DELETE", path: string) {
  const timestamp = Date.now();
  return fetch(`${pipeline.ingestUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${inst.token}`,
      "x-forwarded-for": inst.sim.ip,
      [TIMESTAMP_HEADER]: String(timestamp),
      [SIGNATURE_HEADER]: requestSignature({
        secret: inst.secret,
        method,
        path,
        timestamp,
        bodySha256Hex: bodySha256Hex(Buffer.alloc(0)),
      }),
    },
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  pipeline = await startPipeline(
    {
      ...env,
      SMSTATS_INGEST_RATE_LIMIT_TIERS: "starter=1000000,party_host=1000000,venue=1000000",
      SMSTATS_ABUSE_MAX_ERROR_REPORTS_PER_HOUR: "100000000",
    },
    180_000,
  );
  ch = serverExecutor(config.clickhouse);
  // Sixteen simulated instances over a week (about 90 batches; 14 of them active, every family): rows sharded by
  // cityHash64(instance_id) over two shards, both shards hold some of them (checked below).
  const fleet = createFleet({ seed: 15, instances: 16, days: 7, batchIntervalSec: 7200 });
  const client = new FleetHttpClient(pipeline.ingestUrl, { maxAttempts: 50, maxWaitMs: 1000 });
  const bySim = new Map<string, RegisteredInstance>();
  for (const sim of fleet.instances) {
    const inst = await client.register(sim);
    bySim.set(sim.instance_id, inst);
    registered.push(inst);
  }
  let sent = 0;
  for (const { instance, batch } of fleet.batches()) {
    const outcome = await client.send(bySim.get(instance.instance_id) as RegisteredInstance, batch);
    expect(outcome.ok, JSON.stringify(outcome)).toBe(true);
    sent++;
  }
  // Every batch stored: the processors ack only after ClickHouse has the rows, so the stream drains.
  const deadline = Date.now() + 120_000;
  for (;;) {
    const [r] = await ch.rows<{ n: string }>(
      `SELECT uniqExact(instance_id, batch_id) AS n FROM (
         SELECT instance_id, batch_id FROM metrics_quality UNION ALL SELECT instance_id, batch_id FROM events_playback
         UNION ALL SELECT instance_id, batch_id FROM events_session UNION ALL SELECT instance_id, batch_id FROM snapshots_library
         UNION ALL SELECT instance_id, batch_id FROM environment)`,
    );
    if (Number(r?.n) >= sent) break;
    if (Date.now() > deadline) throw new Error(`${r?.n} of ${sent} batches stored after 120 s`);
    await sleep(1000);
  }
  await syncReplicas(handle, db);
}, 400_000);

afterAll(async () => {
  await pipeline?.stop();
  await removeNamespaceStreams(env).catch(() => {});
  await ch?.exec(`DROP DATABASE IF EXISTS ${db} ON CLUSTER ${config.clickhouse.cluster}`).catch(() => {});
  await ch?.close();
});

describe("privacy rights on the cluster stack", () => {
  it("exports every row of an instance on either shard and erases them from all four servers", async () => {
    const servers = handle.topology.clickhouse.map((n) => ({ n, url: nodeUrl(handle, n.shard, n.replica) }));
    const tables = await instanceTables(servers[0]?.url as string);
    expect(tables.length).toBeGreaterThanOrEqual(10);
    const before = new Map<string, Map<string, number>>();
    for (const s of servers) before.set(s.url, await rowsByInstance(s.url, tables));
    // One instance per shard (replica 1 of each shard tells where an instance's rows live).
    const shardOf = (id: string) =>
      [1, 2].find((shard) => (before.get(nodeUrl(handle, shard, 1))?.get(id) ?? 0) > 0);
    const victims = [1, 2].map((shard) => registered.find((i) => shardOf(i.id) === shard));
    const where = registered.map((i) => `${i.id.slice(0, 8)}→${shardOf(i.id) ?? "none"}`).join(" ");
    expect(victims.every(Boolean), `instances on both shards: ${where}`).toBe(true);
    const keep = registered.filter((i) => !victims.includes(i));

    // Export: every row the instance has in ClickHouse, read through every shard: the raw tables' rows
    // exactly, the rollups' at least as many as they hold merged (parts not merged yet come as they are).
    for (const inst of victims as RegisteredInstance[]) {
      const res = await signedFetch(inst, "GET", `/v1/instances/${inst.id}/export`);
      expect(res.status).toBe(200);
      const exported = new Map<string, number>();
      const lines = createInterface({ input: Readable.fromWeb(res.body as never).pipe(createGunzip()) });
      for await (const line of lines) {
        const table = /^\{"table":\s*"([a-z_0-9]+)"/.exec(line)?.[1] ?? "";
        exported.set(table, (exported.get(table) ?? 0) + 1);
      }
      const shard = shardOf(inst.id) as number;
      const stored = before.get(nodeUrl(handle, shard, 1)) as Map<string, number>;
      let rows = 0;
      for (const t of tables) {
        const name = t.table.replace(/_local$/, "");
        const want = stored.get(`${inst.id}/${t.table}`) ?? 0;
        const got = exported.get(name) ?? 0;
        rows += got;
        if (t.engine === "ReplicatedMergeTree") expect(got, name).toBe(want);
        else expect(got, name).toBeGreaterThanOrEqual(want);
      }
      console.info(`cluster export: instance on shard ${shard}: ${rows} ClickHouse rows exported`);
      expect(rows).toBeGreaterThan(0);
    }

    // Erasure: each instance erases itself; the jobs are followed to the end.
    const started = Date.now();
    for (const inst of victims as RegisteredInstance[]) {
      const res = await signedFetch(inst, "DELETE", `/v1/instances/${inst.id}/data`);
      expect(res.status, await res.clone().text()).toBe(202);
      const { job_id } = (await res.json()) as { job_id: string };
      const deadline = Date.now() + 180_000;
      let job: { status: string; removed?: Record<string, number>; error?: string } = { status: "" };
      while (job.status !== "done" && Date.now() < deadline) {
        await sleep(500);
        job = (await (await fetch(`${pipeline.ingestUrl}/v1/erasures/${job_id}`)).json()) as typeof job;
      }
      expect(job.status, JSON.stringify(job)).toBe("done");
    }
    console.info(`cluster erasure: two instances erased in ${Date.now() - started} ms`);

    await syncReplicas(handle, db);
    for (const s of servers) {
      const after = await rowsByInstance(s.url, tables);
      for (const inst of victims as RegisteredInstance[]) {
        expect(after.get(inst.id) ?? 0, `rows of an erased instance on s${s.n.shard}r${s.n.replica}`).toBe(0);
      }
      for (const inst of keep) {
        expect(after.get(inst.id) ?? 0, `rows of a kept instance on s${s.n.shard}r${s.n.replica}`).toBe(
          before.get(s.url)?.get(inst.id) ?? 0,
        );
      }
    }
  }, 420_000);
});
