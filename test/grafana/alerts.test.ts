import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { ALERTS, type AlertSpec, unescapeDollars } from "../../grafana/alerts.ts";
import { provisioningDir } from "../../grafana/build.ts";
import { clickhouseAlertSql } from "../../grafana/macros/index.ts";
import { type ClickHouseExecutor, serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { migrateClickHouse } from "../../lib/migrate/index.ts";
import { sqlIdentifier } from "../../lib/sql/index.ts";
import { createFleet } from "../../loadtest/fleet/index.ts";
import { chdbExecutor } from "../support/chdb.ts";
import { TEST_NS } from "../support/env.ts";
import { insertRows, loadBatches } from "../support/fleet-loader.ts";

// Alert rules as Grafana provisions them (read back from the committed file, $$ unescaped): the ClickHouse
// rule runs on both engines over simulated fleet data, quiet on the baseline and firing once a spike is
// injected; the PromQL rules run in promtool's rule tests against a baseline and a spike.
const rules = unescapeDollars(
  parse(readFileSync(join(provisioningDir, "alerting/smstats.yaml"), "utf8")).groups.flatMap(
    (g: { rules: unknown[] }) => g.rules,
  ),
) as {
  uid: string;
  for: string;
  data: { model: { rawSql?: string; expr?: string; conditions?: unknown } }[];
}[];

function provisioned(uid: string): { query: string; above: number; for: string } {
  const rule = rules.find((r) => r.uid === uid);
  if (!rule) throw new Error(`no provisioned rule ${uid}`);
  const [a, b] = rule.data;
  const conditions = (b?.model.conditions ?? []) as { evaluator: { type: string; params: number[] } }[];
  const threshold = conditions[0]?.evaluator;
  expect(threshold?.type).toBe("gt");
  return {
    query: (a?.model.rawSql ?? a?.model.expr) as string,
    above: threshold?.params[0] as number,
    for: rule.for,
  };
}

const HOUR = 3_600_000;
const now = new Date(Math.floor((Date.now() - 22 * HOUR) / (24 * HOUR)) * 24 * HOUR + 22 * HOUR);

describe("error-rate spike for one version (ClickHouse, both engines)", () => {
  const config = loadConfig();
  const database = `smstats_grafalert_${TEST_NS || "x"}_${process.pid}`;
  const engines: ClickHouseExecutor[] = [
    serverExecutor({ ...config.clickhouse, database }),
    chdbExecutor(database),
  ];
  const fleet = createFleet({ seed: 21, instances: 60, days: 3, end: now.getTime() });
  const rule = provisioned("smstats-error-rate-spike");
  const spec = ALERTS.find((a) => a.uid === "smstats-error-rate-spike") as AlertSpec;

  beforeAll(async () => {
    for (const e of engines) {
      await e.ensureDatabase();
      await migrateClickHouse(e);
    }
    await loadBatches(engines, fleet.batches(), { secret: Buffer.alloc(32, 9) });
  });
  afterAll(async () => {
    await (engines[0] as ClickHouseExecutor).exec(`DROP DATABASE IF EXISTS ${sqlIdentifier(database)}`);
    await Promise.all(engines.map((e) => e.close()));
  });

  const firing = async (engine: ClickHouseExecutor) => {
    const sql = clickhouseAlertSql(rule.query, {
      from: new Date(now.getTime() - spec.rangeSeconds * 1000),
      to: now,
      intervalMs: 60_000,
    });
    const rows = await engine.rows<{ app_version: string; spike_ratio: number | string }>(sql);
    return { rows, firing: rows.filter((r) => Number(r.spike_ratio) > rule.above).map((r) => r.app_version) };
  };

  const victim = fleet.instances[0] as (typeof fleet.instances)[number];

  it("stays quiet on the simulated baseline", async () => {
    for (const engine of engines) {
      const { rows, firing: f } = await firing(engine);
      console.log(`baseline (${engine.engine}): ${JSON.stringify(rows)} → firing ${JSON.stringify(f)}`);
      expect(f).toEqual([]);
    }
  });

  it("fires for the one version whose errors spike in the last hour", async () => {
    // 40 error reports of 5 errors each from the versions' instances in the last 40 minutes.
    const same = fleet.instances.filter((i) => i.version === victim.version).slice(0, 3);
    const rows = Array.from({ length: 40 }, (_, k) => {
      const inst = same[k % same.length] as typeof victim;
      const time = new Date(now.getTime() - (k + 1) * 60_000).toISOString().slice(0, 19).replace("T", " ");
      return {
        time,
        instance_id: inst.instance_id,
        tier: inst.tier,
        app_version: inst.version,
        platform: inst.platform,
        country: inst.country,
        batch_id: `spike-${k}`,
        row_index: 0,
        received_at: time,
        metric_name: "error_count_by_type",
        value: 5,
        "tags.key": ["type"],
        "tags.value": ["mpv_crash"],
      };
    });
    await insertRows(engines, "metrics_quality", rows);
    for (const engine of engines) {
      const { rows: out, firing: f } = await firing(engine);
      console.log(`spike (${engine.engine}): ${JSON.stringify(out)} → firing ${JSON.stringify(f)}`);
      expect(f).toEqual([victim.version]);
    }
  });
});

// promtool (Debian's prometheus package) evaluates the PromQL rules; absent, the test says how to get it.
const promtool = spawnSync("promtool", ["--version"]).status === 0;

describe.skipIf(!promtool)("PromQL alert rules in promtool (baseline quiet, spike fires)", () => {
  const dir = mkdtempSync(join(tmpdir(), "smstats-promtool-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const promRules = ALERTS.filter((a) => a.datasource === "prometheus").map((a) => ({
    ...provisioned(a.uid),
    uid: a.uid,
  }));

  const cases: {
    uid: string;
    evalMinutes: number;
    labels: Record<string, string>;
    baseline: { series: string; values: string }[];
    spike: { series: string; values: string }[];
  }[] = [
    {
      uid: "smstats-ingestion-lag",
      evalMinutes: 20,
      labels: { stream: "TELEMETRY" },
      baseline: [
        {
          series: 'smstats_jetstream_consumer_pending_messages{stream="TELEMETRY",consumer="processor"}',
          values: "100+0x30",
        },
      ],
      spike: [
        {
          series: 'smstats_jetstream_consumer_pending_messages{stream="TELEMETRY",consumer="processor"}',
          values: "100+5000x30",
        },
      ],
    },
    {
      uid: "smstats-consumer-stalled",
      evalMinutes: 20,
      labels: { stream: "TELEMETRY", consumer: "processor" },
      baseline: [
        {
          series: 'smstats_processor_consumer_stalled{stream="TELEMETRY",consumer="processor",instance="p1"}',
          values: "0x10 1 0x19",
        },
      ],
      spike: [
        {
          series: 'smstats_processor_consumer_stalled{stream="TELEMETRY",consumer="processor",instance="p1"}',
          values: "0x5 1x25",
        },
      ],
    },
    {
      uid: "smstats-dead-letter-growth",
      evalMinutes: 20,
      labels: {},
      baseline: [
        {
          series:
            'smstats_component_dropped_total{component="jetstream_source",unit="messages",reason="dead_letter:decode_failed"}',
          values: "0+0.1x30",
        },
      ],
      spike: [
        {
          series:
            'smstats_component_dropped_total{component="jetstream_source",unit="messages",reason="dead_letter:decode_failed"}',
          values: "0+5x30",
        },
      ],
    },
    {
      uid: "smstats-validation-failure-spike",
      evalMinutes: 1500,
      labels: {},
      baseline: [
        {
          series: 'smstats_licensing_answers_total{endpoint="validate",reason="VALID"}',
          values: "0+100x1500",
        },
        {
          series: 'smstats_licensing_answers_total{endpoint="validate",reason="EXPIRED"}',
          values: "0+2x1500",
        },
      ],
      spike: [
        {
          series: 'smstats_licensing_answers_total{endpoint="validate",reason="VALID"}',
          values: "0+100x1500",
        },
        {
          series: 'smstats_licensing_answers_total{endpoint="validate",reason="EXPIRED"}',
          values: "0+2x1470 2940+50x30",
        },
      ],
    },
  ];

  it("has a case for every PromQL rule", () => {
    expect(cases.map((c) => c.uid).sort()).toEqual(promRules.map((r) => r.uid).sort());
  });

  for (const scenario of ["baseline", "spike"] as const) {
    it.each(cases.map((c) => [c.uid, c] as const))(`%s: ${scenario}`, (_u, c) => {
      const rule = promRules.find((r) => r.uid === c.uid) as (typeof promRules)[number];
      // Grafana's threshold on the instant query is `(query) > above` in Prometheus' own terms.
      const rulesFile = join(dir, `${c.uid}.rules.yaml`);
      writeFileSync(
        rulesFile,
        stringify({
          groups: [
            {
              name: c.uid,
              interval: "1m",
              rules: [{ alert: c.uid, expr: `(${rule.query}) > ${rule.above}`, for: rule.for }],
            },
          ],
        }),
      );
      const testFile = join(dir, `${c.uid}.${scenario}.test.yaml`);
      writeFileSync(
        testFile,
        stringify({
          rule_files: [rulesFile],
          evaluation_interval: "1m",
          tests: [
            {
              interval: "1m",
              input_series: c[scenario],
              alert_rule_test: [
                {
                  eval_time: `${c.evalMinutes}m`,
                  alertname: c.uid,
                  exp_alerts: scenario === "baseline" ? [] : [{ exp_labels: c.labels }],
                },
              ],
            },
          ],
        }),
      );
      const out = spawnSync("promtool", ["test", "rules", testFile], { encoding: "utf8" });
      expect(out.status, `${out.stdout}\n${out.stderr}`).toBe(0);
    });
  }
});

// Without promtool the PromQL cases are skipped, loudly: the stack does not install Prometheus yet.
if (!promtool) console.warn("promtool not found: PromQL alert tests skipped (apt-get install prometheus)");
