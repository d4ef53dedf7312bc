import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig, repoRoot } from "../../lib/config/index.ts";
import { failedThresholds, runScenario } from "../../loadtest/runner.ts";
import { ensureK6 } from "../../loadtest/tools/k6.ts";
import { TEST_NS } from "../support/env.ts";
import { type RunningService, startService } from "../support/services.ts";

// The k6 smoke scenario in CI: real k6 (built once into .tools/bin) against ingest + processor on the tests'
// namespace of the local stack; and the harness's other half, a run that must fail on its thresholds.
const config = loadConfig();
const ch = serverExecutor(config.clickhouse);
const out = (name: string) =>
  join(repoRoot, ".data", "loadtest", `harness-${TEST_NS || "default"}-${name}.json`);
let service: RunningService | undefined;

beforeAll(async () => {
  await ensureK6();
  service = await startService();
}, 600_000);
afterAll(async () => {
  await service?.stop();
  await ch.close();
});

describe("k6 load-test harness", () => {
  it("passes the smoke scenario's thresholds, and its batches reach ClickHouse", async () => {
    const started = Date.now();
    const r = await runScenario({
      scenario: "smoke",
      baseUrl: (service as RunningService).ingestUrl,
      summaryFile: out("smoke"),
      durationS: 8,
      onOutput: () => {},
    });
    expect(failedThresholds(r.summary), r.output).toEqual([]);
    expect(r.exitCode, r.output).toBe(0);
    const sent = r.summary?.metrics["http_reqs{endpoint:batch}"]?.values.count ?? 0;
    const accepted = r.summary?.metrics.batches_accepted?.values.count ?? 0;
    expect(sent).toBeGreaterThan(100);
    expect(accepted).toBeGreaterThan(0.99 * sent);
    expect(Date.now() - started).toBeLessThan(60_000);
    // Every batch answered 202 is in ClickHouse a little later (each carries quality metrics), and only those.
    const deadline = Date.now() + 30_000;
    let batches = 0;
    while (Date.now() < deadline) {
      const rows = await ch.rows<{ n: string }>(
        // Batch ids are stored as keyed hashes (shape-rules.ts), so the run's rows are those ingest
        // received since it started (test files run one at a time).
        `SELECT uniqExact(instance_id, batch_id) AS n FROM metrics_quality WHERE received_at >= toDateTime(${Math.floor(started / 1000)})`,
      );
      batches = Number(rows[0]?.n);
      if (batches >= accepted) break;
      await new Promise((res) => setTimeout(res, 500));
    }
    expect(batches).toBe(accepted);
  }, 120_000);

  it("fails the run (k6 exit 99) when a threshold cannot hold", async () => {
    const r = await runScenario({
      scenario: "smoke",
      baseUrl: (service as RunningService).ingestUrl,
      summaryFile: out("impossible"),
      durationS: 2,
      extraThresholds: { "http_req_duration{endpoint:batch}": ["p(95)<0.001"] },
      onOutput: () => {},
    });
    expect(r.exitCode, r.output).toBe(99);
    expect(failedThresholds(r.summary)).toEqual(["http_req_duration{endpoint:batch} p(95)<0.001"]);
  }, 120_000);

  it("refuses a target that is not loopback", async () => {
    await expect(
      runScenario({ scenario: "smoke", baseUrl: "http://10.0.0.1:8080", summaryFile: out("refused") }),
    ).rejects.toThrow(/loopback/);
  });
});
