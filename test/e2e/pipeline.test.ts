import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { sqlString } from "../../lib/sql/index.ts";
import { seedBody } from "../support/app.ts";
import { fetchBatch, registerInstance, type TestInstance } from "../support/instance-client.ts";
import { type RunningService, startService } from "../support/services.ts";
import { storedBatchIdOf } from "../support/stored-ids.ts";

const config = loadConfig();
const ch = serverExecutor(config.clickhouse);
let ports: { ingest: number; processor: number };
let service: RunningService | undefined;

beforeAll(async () => {
  service = await startService();
  ports = { ingest: service.ports.ingest, processor: service.ports.processor };
});
afterAll(async () => {
  await service?.stop("SIGTERM");
  await ch.close();
});

async function metricsIn(instanceId: string): Promise<Map<string, number>> {
  const rows = await ch.rows<{ batch_id: string; n: string }>(
    `SELECT batch_id, count() AS n FROM metrics_quality WHERE instance_id = ${sqlString(instanceId)} GROUP BY batch_id`,
  );
  return new Map(rows.map((r) => [r.batch_id, Number(r.n)]));
}

async function waitFor<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await fn();
  while (!ok(last) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    last = await fn();
  }
  return last;
}

describe("HTTP → JetStream → ClickHouse", () => {
  it("stores the seed's example batch in metrics_quality within 5 s of its 202", async () => {
    const url = (service as RunningService).ingestUrl;
    const instance = await registerInstance(url);
    const id = instance.instanceId;
    const res = await fetchBatch(url, instance, seedBody(id));
    expect(res.status).toBe(202);
    const started = Date.now();
    const found = await waitFor(
      () => metricsIn(id),
      (m) => [...m.values()].reduce((a, b) => a + b, 0) === 2,
      5_000,
    );
    expect([...found.values()]).toEqual([2]);
    expect(Date.now() - started).toBeLessThan(5_000);
    const rows = await ch.rows<{ metric_name: string; value: number; tag: string }>(
      `SELECT metric_name, value, tags.value[indexOf(tags.key, 'source')] AS tag FROM metrics_quality WHERE instance_id = ${sqlString(id)} ORDER BY metric_name`,
    );
    expect(rows).toEqual([
      { metric_name: "songs_played_total", value: 42, tag: "youtube" },
      { metric_name: "users_peak_concurrent", value: 15, tag: "" },
    ]);
  });

  it("keeps every batch that got a 202 when the service is stopped mid-stream and started again", async () => {
    const instance: TestInstance = await registerInstance((service as RunningService).ingestUrl);
    const id = instance.instanceId;
    // Keyed by the id as stored (shape-rules.ts hashes ids that are not in a fixed format).
    const asStored = await storedBatchIdOf();
    const accepted = new Map<string, number>();
    let stopAt = 0;
    let sent = 0;
    const running = service as RunningService;
    // Four clients post as fast as they can; after ~1.5 s the service gets Ctrl-C while they keep going.
    const clients = Array.from({ length: 4 }, async (_, c) => {
      for (let i = 0; i < 2000; i++) {
        const batchId = `c${c}-${i}`;
        const metrics = Array.from({ length: 1 + (i % 5) }, (_, k) => ({
          name: `restart_metric_${k}`,
          value: i,
        }));
        sent++;
        try {
          const res = await fetchBatch(running.ingestUrl, instance, {
            ...seedBody(id),
            batch_id: batchId,
            metrics,
          });
          if (res.status === 202) accepted.set(asStored(id, batchId), metrics.length);
          else await res.arrayBuffer();
        } catch {
          // Connection refused once the server stopped listening: the client keeps the batch.
          if (stopAt) return;
        }
        if (stopAt && Date.now() - stopAt > 3_000) return;
      }
    });
    await new Promise((r) => setTimeout(r, 1_500));
    stopAt = Date.now();
    const code = await running.stop("SIGINT");
    await Promise.all(clients);
    expect(code, running.output()).toBe(0);
    expect(accepted.size).toBeGreaterThan(20);

    service = await startService(ports);
    const expected = [...accepted.values()].reduce((a, b) => a + b, 0);
    const stored = await waitFor(
      () => metricsIn(id),
      (m) => [...accepted.keys()].every((b) => m.has(b)),
      30_000,
    );
    console.info(
      `restart test: ${sent} batches sent, ${accepted.size} got 202 (${expected} metrics), ${stored.size} batches found`,
    );
    const missing = [...accepted.keys()].filter((b) => !stored.has(b));
    expect(missing, `batches that got a 202 but are not in ClickHouse (of ${sent} sent)`).toEqual([]);
    for (const [batchId, n] of accepted) expect(stored.get(batchId), batchId).toBe(n);
    expect([...stored.values()].reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(expected);
  });
});
