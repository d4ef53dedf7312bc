import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ClickHouseExecutor, serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { sqlString } from "../../lib/sql/index.ts";
import { type PipelineProcess, startPipeline } from "../../loadtest/service.ts";
import { stackDown, stackUp } from "../../stack/index.ts";
import { seedBody } from "../support/app.ts";
import { TEST_ENV } from "../support/env.ts";
import { fetchBatch, registerInstance, type TestInstance } from "../support/instance-client.ts";

// Redis stopped for 10 s, then PostgreSQL for 10 s, under a steady load on ingest and the processor
// running as `npm start` runs them: clients see only 202, 429 or 503 with Retry-After on every route,
// every 202 ends up in ClickHouse, and each outage costs a couple of log lines, not one per request.
const config = loadConfig();
const ch: ClickHouseExecutor = serverExecutor(config.clickhouse);
let pipeline: PipelineProcess;
let instance: TestInstance;

beforeAll(async () => {
  pipeline = await startPipeline({
    ...TEST_ENV,
    SMSTATS_INGEST_RATE_LIMIT_TIERS: "starter=1000000",
    SMSTATS_PROCESSOR_FLUSH_AGE_MS: "200",
    SMSTATS_RETENTION_INTERVAL_MS: "0",
  });
  instance = await registerInstance(pipeline.ingestUrl);
});
afterAll(async () => {
  // Whatever happened, leave every server running for the suites after this one.
  await stackUp();
  await pipeline?.stop();
  await ch.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Seen {
  route: string;
  status: number;
  retryAfter: string | null;
  /** The error code of an answer outside the allowed ones (what to look at when one appears). */
  code?: string;
}

describe("when Redis, then PostgreSQL, stop under load", () => {
  it("answers only 202, 429 or 503 with Retry-After, stores every 202 and logs each outage once", async () => {
    const url = pipeline.ingestUrl;
    const accepted = new Set<string>();
    const seen: Seen[] = [];
    const failures: string[] = [];
    let running = true;
    const record = (route: string, res: Response, body: ArrayBuffer) => {
      const code =
        res.status >= 400
          ? (JSON.parse(Buffer.from(body).toString("utf8") || "{}") as { error?: { code?: string } }).error
              ?.code
          : undefined;
      seen.push({
        route,
        status: res.status,
        retryAfter: res.headers.get("retry-after"),
        ...(code && res.status !== 503 && res.status !== 401 ? { code } : {}),
      });
    };
    const batches = Array.from({ length: 3 }, async (_, c) => {
      for (let i = 0; running; i++) {
        const batchId = `outage-${instance.instanceId}-${c}-${i}`;
        const metrics = Array.from({ length: 5 }, (_, k) => ({ name: `outage_metric_${k}`, value: i + k }));
        try {
          const res = await fetchBatch(url, instance, {
            ...seedBody(instance.instanceId),
            batch_id: batchId,
            metrics,
          });
          record("batch", res, await res.arrayBuffer());
          if (res.status === 202) accepted.add(batchId);
        } catch (err) {
          failures.push(`batch: ${(err as Error).message}`);
        }
        await sleep(20);
      }
    });
    // Registration (licensing scope) and an admin route, which both need PostgreSQL.
    const others = (async () => {
      while (running) {
        for (const [route, init] of [
          [
            "register",
            {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({
                hwid: crypto.randomUUID().replace(/-/g, ""),
                platform: "linux",
                version: "1.2.0",
                consent: { quality: true },
              }),
            },
          ],
          ["admin", { headers: { authorization: `Bearer smadm_${"x".repeat(43)}` } }],
        ] as const) {
          const path = route === "register" ? "/v1/instances/register" : "/v1/admin/licenses";
          try {
            const res = await fetch(`${url}${path}`, init as RequestInit);
            record(route, res, await res.arrayBuffer());
          } catch (err) {
            failures.push(`${route}: ${(err as Error).message}`);
          }
        }
        await sleep(200);
      }
    })();

    await sleep(2_000);
    await stackDown({ only: ["redis"] });
    await sleep(10_000);
    await stackUp();
    await sleep(3_000);
    await stackDown({ only: ["postgres"] });
    await sleep(10_000);
    await stackUp();
    await sleep(4_000);
    running = false;
    await Promise.all([...batches, others]);

    const byStatus = (route: string) =>
      seen
        .filter((s) => s.route === route)
        .reduce<Record<number, number>>((m, s) => {
          m[s.status] = (m[s.status] ?? 0) + 1;
          return m;
        }, {});
    console.info(
      `store outages: batch ${JSON.stringify(byStatus("batch"))}, register ${JSON.stringify(byStatus("register"))}, admin ${JSON.stringify(byStatus("admin"))}`,
    );
    expect(failures, `ingest and processor said:\n${pipeline.output().slice(-4000)}`).toEqual([]);
    const allowed: Record<string, number[]> = {
      batch: [202, 429, 503],
      register: [201, 429, 503],
      admin: [401, 503],
    };
    expect(seen.filter((s) => !allowed[s.route]?.includes(s.status))).toEqual([]);
    expect(seen.filter((s) => (s.status === 503 || s.status === 429) && !s.retryAfter)).toEqual([]);
    // Both outages were seen by clients, and ingest served again after each.
    expect(byStatus("batch")[503] ?? 0).toBeGreaterThan(0);
    expect(byStatus("admin")[503] ?? 0).toBeGreaterThan(0);
    expect(seen.slice(-10).some((s) => s.route === "batch" && s.status === 202)).toBe(true);

    // Every 202 is stored once the pipeline catches up.
    const stored = async () => {
      const [r] = await ch.rows<{ batches: string }>(
        `SELECT uniqExact(batch_id) AS batches FROM metrics_quality WHERE instance_id = ${sqlString(instance.instanceId)}`,
      );
      return Number(r?.batches);
    };
    const deadline = Date.now() + 90_000;
    let got = await stored();
    while (got < accepted.size && Date.now() < deadline) {
      await sleep(500);
      got = await stored();
    }
    expect(got, "every batch that got a 202 is stored").toBe(accepted.size);

    // The log: at most a few error lines per outage (none expected), and the outage told once each way.
    const lines = pipeline
      .output()
      .split("\n")
      .filter((l) => l.startsWith("{"));
    const errors = lines.filter((l) => /"level":"(error|fatal)"/.test(l));
    const ingestOutage = lines.filter((l) => l.includes("is unavailable; requests that need it"));
    console.info(
      `store outages: ${errors.length} error lines, ${ingestOutage.length} outage lines from ingest`,
    );
    expect(errors.length, errors.slice(0, 5).join("\n")).toBeLessThanOrEqual(6);
    expect(ingestOutage.length).toBeGreaterThanOrEqual(2);
    expect(ingestOutage.length).toBeLessThanOrEqual(4);
  }, 200_000);
});
