import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { barChartPng, digestWeek } from "../../digest/index.ts";
import { type ClickHouseExecutor, serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig, repoRoot } from "../../lib/config/index.ts";
import { migrateClickHouse } from "../../lib/migrate/index.ts";
import { sqlIdentifier, sqlString } from "../../lib/sql/index.ts";
import { createFleet } from "../../loadtest/fleet/index.ts";
import { type SmtpSink, startSmtpSink } from "../../mail/smtp-sink.ts";
import { TEST_NS } from "../support/env.ts";
import { loadBatches } from "../support/fleet-loader.ts";

// The digest over the simulated fleet `smstats demo` sends (the same simulator, its batches loaded through
// the processors' steps into a ClickHouse database of this test's own), sent by the CLI to a local sink.
const config = loadConfig();
const database = `smstats_digest_${TEST_NS || "x"}_${process.pid}`;
const ch: ClickHouseExecutor = serverExecutor({ ...config.clickhouse, database });
const week = digestWeek(new Date());
let sink: SmtpSink;

const smstats = (args: string[]) =>
  promisify(execFile)(process.execPath, [join(repoRoot, "bin/smstats.mjs"), ...args], {
    cwd: repoRoot,
    env: { ...process.env, SMSTATS_CLICKHOUSE_DATABASE: database, SMSTATS_SMTP_URL: sink.url },
  });

beforeAll(async () => {
  sink = await startSmtpSink();
  await ch.ensureDatabase();
  await migrateClickHouse(ch);
  const fleet = createFleet({ seed: 18, instances: 25, days: 14, end: week.to.getTime() });
  await loadBatches([ch], fleet.batches(), { secret: Buffer.alloc(32, 7) });
});
afterAll(async () => {
  await ch.exec(`DROP DATABASE IF EXISTS ${sqlIdentifier(database)}`);
  await ch.close();
  await sink?.close();
});

const inWeek = `toDate(time) >= toDate(${sqlString(week.from.toISOString().slice(0, 10))}) AND toDate(time) < toDate(${sqlString(week.to.toISOString().slice(0, 10))})`;
const fmt = (n: number) => n.toLocaleString("en-US");

describe("weekly digest", () => {
  it("arrives with the figures the rollups hold (two recomputed from the raw rows) and a chart that decodes", async () => {
    const { stdout } = await smstats([
      "digest",
      "send",
      "--to",
      "admins@example.com",
      "--at",
      week.to.toISOString(),
    ]);
    expect(stdout).toContain("sent to admins@example.com");
    const mail = await sink.waitFor((m) => /weekly digest/.test(m.subject ?? ""));
    const [active] = await ch.rows<{ n: string }>(
      `SELECT uniqExact(instance_id) AS n FROM (
         SELECT instance_id, time FROM metrics_quality UNION ALL SELECT instance_id, time FROM events_playback
         UNION ALL SELECT instance_id, time FROM events_session UNION ALL SELECT instance_id, time FROM snapshots_library
         UNION ALL SELECT instance_id, time FROM environment) WHERE ${inWeek}`,
    );
    const [plays] = await ch.rows<{ n: string }>(
      `SELECT count() AS n FROM events_playback WHERE event_type = 'played' AND ${inWeek}`,
    );
    console.log(`digest: ${Number(active?.n)} active instances, ${Number(plays?.n)} plays in the week`);
    expect(Number(active?.n)).toBeGreaterThan(0);
    expect(Number(plays?.n)).toBeGreaterThan(0);
    expect(mail.text).toContain(`Active instances: ${fmt(Number(active?.n))} (`);
    expect(mail.text).toContain(`Plays: ${fmt(Number(plays?.n))} (`);
    for (const section of ["Versions", "biggest movers", "Licenses", "Pipeline health", "Dead letters"]) {
      expect(mail.text).toContain(section);
    }
    expect(mail.html).toContain('src="cid:chart"');
    const chart = mail.attachments.find((a) => a.cid === "chart");
    expect(chart?.contentType).toBe("image/png");
    const png = PNG.sync.read(chart?.content as Buffer);
    expect([png.width, png.height]).toEqual([600, 200]);
  });

  it("--dry-run prints the digest and sends nothing", async () => {
    const before = sink.messages.length;
    const { stdout } = await smstats([
      "digest",
      "send",
      "--dry-run",
      "--to",
      "x@example.com",
      "--at",
      week.to.toISOString(),
    ]);
    expect(stdout).toContain("Active instances:");
    expect(stdout).toContain("not sent: --dry-run");
    await new Promise((r) => setTimeout(r, 300));
    expect(sink.messages.length).toBe(before);
  });

  it("covers the seven UTC days before the digest's day, and draws this week's bars in the accent colour", async () => {
    const w = digestWeek(new Date("2026-03-09T08:00:00Z"));
    expect([w.previousFrom, w.from, w.to].map((d) => d.toISOString().slice(0, 10))).toEqual([
      "2026-02-23",
      "2026-03-02",
      "2026-03-09",
    ]);
    const png = PNG.sync.read(await barChartPng([1, 2, 3], { width: 60, height: 40, highlight: 1 }));
    const at = (x: number, y: number) => [...png.data.subarray((y * 60 + x) * 4, (y * 60 + x) * 4 + 3)];
    expect(at(43, 25)).toEqual([52, 120, 246]);
    expect(at(15, 25)).toEqual([170, 170, 170]);
    expect(at(15, 15)).toEqual([255, 255, 255]);
  });
});
