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

describe("ClickHouse alert rules (both engines): error-rate spike, active instances", () => {
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

  const activeRule = provisioned("smstats-scale-active-instances");
  const activeSpec = ALERTS.find((a) => a.uid === "smstats-scale-active-instances") as AlertSpec;
  const activeInstances = async (engine: ClickHouseExecutor) => {
    const sql = clickhouseAlertSql(activeRule.query, {
      from: new Date(now.getTime() - activeSpec.rangeSeconds * 1000),
      to: now,
      intervalMs: 60_000,
    });
    const rows = await engine.rows<{ scope: string; active_instances: number | string }>(sql);
    return rows.map((r) => Number(r.active_instances));
  };

  it("scaling trigger: quiet with the simulated fleet's active instances", async () => {
    for (const engine of engines) {
      const active = await activeInstances(engine);
      console.log(`active instances (${engine.engine}): ${active}`);
      expect(active.length).toBe(1);
      expect(active.filter((n) => n > activeRule.above)).toEqual([]);
    }
  });

  it("scaling trigger: fires once more than 10,000 instances reported in the last day", async () => {
    const time = new Date(now.getTime() - 3_600_000).toISOString().slice(0, 19).replace("T", " ");
    const rows = Array.from({ length: 10_001 }, (_, k) => ({
      time,
      instance_id: `scale-${k}`,
      tier: "starter",
      app_version: victim.version,
      platform: victim.platform,
      country: victim.country,
      batch_id: `scale-${k}`,
      row_index: 0,
      received_at: time,
      metric_name: "uptime_seconds",
      value: 60,
      "tags.key": [],
      "tags.value": [],
    }));
    await insertRows(engines, "metrics_quality", rows);
    for (const engine of engines) {
      const active = await activeInstances(engine);
      console.log(`active instances after injection (${engine.engine}): ${active}`);
      expect(active.filter((n) => n > activeRule.above)).toHaveLength(1);
    }
  });
});

// promtool (Debian's prometheus package, installed by the stack: stack/tools.ts) evaluates the PromQL
// rules. It is required: without it this block fails, it does not skip.
const promtool = spawnSync("promtool", ["--version"]).status === 0;

describe("PromQL alert rules in promtool (baseline quiet, spike fires)", () => {
  it("promtool is installed (npm test's stack installs the prometheus package)", () => {
    expect(promtool, "promtool not found: run `npm run stack:up` (installs Debian's prometheus)").toBe(true);
  });
  const dir = mkdtempSync(join(tmpdir(), "smstats-promtool-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const promRules = ALERTS.filter((a) => a.datasource === "prometheus").map((a) => ({
    ...provisioned(a.uid),
    uid: a.uid,
  }));

  const cases: PromCase[] = [
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

  cases.push(...scalingCases(), ...sloCases());

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

type PromCase = {
  uid: string;
  evalMinutes: number;
  labels: Record<string, string>;
  baseline: { series: string; values: string }[];
  spike: { series: string; values: string }[];
};

// The scaling triggers: a healthy baseline, and the condition held for 30 minutes.
function scalingCases(): PromCase[] {
  const latency = (buckets: Record<string, number>) =>
    Object.entries(buckets).map(([le, perMinute]) => ({
      series: `smstats_http_request_duration_seconds_bucket{route="/v1/stats/batch",method="POST",tier="venue",le="${le}"}`,
      values: `0+${perMinute}x40`,
    }));
  const disk = (mountpoint: string, availPercent: number) => [
    { series: `node_filesystem_size_bytes{mountpoint="${mountpoint}",fstype="ext4"}`, values: "100+0x40" },
    {
      series: `node_filesystem_avail_bytes{mountpoint="${mountpoint}",fstype="ext4"}`,
      values: `${availPercent}+0x40`,
    },
  ];
  return [
    {
      uid: "smstats-scale-api-latency",
      evalMinutes: 40,
      labels: {},
      baseline: latency({ "0.1": 580, "0.25": 600, "0.5": 600, "1": 600, "+Inf": 600 }),
      spike: latency({ "0.1": 100, "0.25": 300, "0.5": 500, "1": 600, "+Inf": 600 }),
    },
    {
      uid: "smstats-scale-db-connections",
      evalMinutes: 40,
      labels: {},
      baseline: [
        { series: "smstats_postgres_connections", values: "40+0x40" },
        { series: "smstats_postgres_max_connections", values: "100+0x40" },
      ],
      spike: [
        { series: "smstats_postgres_connections", values: "85+0x40" },
        { series: "smstats_postgres_max_connections", values: "100+0x40" },
      ],
    },
    {
      uid: "smstats-scale-jetstream-storage",
      evalMinutes: 40,
      labels: { mountpoint: "/var/lib/nats" },
      baseline: disk("/var/lib/nats", 60),
      spike: disk("/var/lib/nats", 20),
    },
    {
      uid: "smstats-scale-clickhouse-storage",
      evalMinutes: 40,
      labels: { mountpoint: "/var/lib/clickhouse" },
      baseline: disk("/var/lib/clickhouse", 45),
      spike: disk("/var/lib/clickhouse", 25),
    },
  ];
}

// Venue SLO burn rates over 8 hours of validate traffic (600 requests a minute): the baseline fails 0.01 %
// and is 0.2 % slow; the spike fails 5 % (or is 30 % slow) for the last 7 hours.
function sloCases(): PromCase[] {
  const route = 'route="/v1/auth/validate",method="POST",tier="venue"';
  const requests = (failedPerMinute: string) => [
    { series: `smstats_http_requests_total{${route},status="200"}`, values: "0+600x480" },
    { series: `smstats_http_requests_total{${route},status="503"}`, values: failedPerMinute },
    // Other tiers' failures never count against the Venue budget.
    {
      series: `smstats_http_requests_total{route="/v1/auth/validate",method="POST",tier="starter",status="503"}`,
      values: "0+300x480",
    },
  ];
  const durations = (fastPerMinute: string) => [
    { series: `smstats_http_request_duration_seconds_count{${route}}`, values: "0+600x480" },
    { series: `smstats_http_request_duration_seconds_bucket{${route},le="0.5"}`, values: fastPerMinute },
  ];
  const labels = { route: "/v1/auth/validate" };
  return (["1h", "6h"] as const).flatMap((w) => [
    {
      uid: `smstats-slo-success-burn-${w}`,
      evalMinutes: 480,
      labels,
      baseline: requests("0+0.06x480"),
      spike: requests("0+0.06x59 3.6+30x420"),
    },
    {
      uid: `smstats-slo-latency-burn-${w}`,
      evalMinutes: 480,
      labels,
      baseline: durations("0+598.8x480"),
      spike: durations("0+598.8x59 35329+420x420"),
    },
  ]);
}
