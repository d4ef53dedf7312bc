import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { sqlString } from "../../lib/sql/index.ts";
import { stackDown, stackUp } from "../../stack/index.ts";
import { seedBody } from "../support/app.ts";
import { fetchBatch, registerInstance } from "../support/instance-client.ts";
import { type RunningService, startService } from "../support/services.ts";

const config = loadConfig();
const ch = serverExecutor(config.clickhouse);
let service: RunningService | undefined;

beforeAll(async () => {
  service = await startService();
});
afterAll(async () => {
  await stackUp();
  await service?.stop("SIGTERM");
  await ch.close();
});

describe("when ClickHouse is away", () => {
  it("keeps accepting batches, acknowledges none of them, and inserts them once ClickHouse is back", async () => {
    const down = await stackDown({ only: ["clickhouse"] });
    expect(down.services).toMatchObject([{ name: "clickhouse", action: "stopped" }]);

    const running = service as RunningService;
    const instance = await registerInstance(running.ingestUrl);
    const id = instance.instanceId;
    for (let i = 0; i < 5; i++) {
      const res = await fetchBatch(running.ingestUrl, instance, { ...seedBody(id), batch_id: `b${i}` });
      expect(res.status).toBe(202);
    }
    // The processor tries, fails, and naks; it must not ack what ClickHouse did not take.
    await new Promise((r) => setTimeout(r, 2_500));
    const processorMetrics = await (await fetch(`http://127.0.0.1:${running.processorPort}/metrics`)).text();
    expect(processorMetrics).toMatch(
      /smstats_component_errors_total\{[^}]*component="clickhouse_sink"[^}]*type="insert"[^}]*\} [1-9]/,
    );

    await stackUp();
    const deadline = Date.now() + 45_000;
    let rows: { n: string }[] = [];
    while (Date.now() < deadline) {
      rows = await ch
        .rows<{ n: string }>(`SELECT count() AS n FROM metrics_quality WHERE instance_id = ${sqlString(id)}`)
        .catch(() => []);
      if (Number(rows[0]?.n) >= 10) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    // Had a failed insert been acknowledged, these batches would be gone for good.
    expect(Number(rows[0]?.n)).toBe(10);
  });
});
