import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { sqlString } from "../../lib/sql/index.ts";
import { preaggregate } from "../../processors/steps/downsample/index.ts";
import { freshBatch, toJsonBody } from "../support/batches.ts";
import { fetchBatch, registerInstance } from "../support/instance-client.ts";
import { quantile } from "../support/quantile.ts";
import { type RunningService, startService } from "../support/services.ts";

// Every family over HTTP into its raw table and every rollup that reads it, with exact counts. The
// batch carries an app version of its own, so the rollups' rows of this run are told apart by it.

const config = loadConfig();
const ch = serverExecutor(config.clickhouse);
let service: RunningService | undefined;
// A version string of the stored shape (shape-rules.ts keeps only versions), unique to the run.
const part = () => Math.floor(Math.random() * 1_000_000);
const version = `0.${part()}.${part()}`;

const one = async <T>(sql: string) => (await ch.rows<T>(sql))[0] as T;
const num = (v: unknown) => Number(v);

beforeAll(async () => {
  service = await startService();
});
afterAll(async () => {
  await service?.stop("SIGTERM");
  await ch.close();
});

describe("every family through the pipeline", () => {
  it("lands in its raw table and in every rollup with exact counts", async () => {
    const url = (service as RunningService).ingestUrl;
    const instance = await registerInstance(url);
    const sent = { ...freshBatch("everything", instance.instanceId, `fam-${version}`), app_version: version };
    const res = await fetchBatch(url, instance, toJsonBody(sent));
    expect(res.status, await res.text()).toBe(202);

    // mpv health samples of one minute become one row (processors/steps/downsample); the example has two
    // 30 s apart, which share a minute or not depending on the clock, so the expectation follows the step.
    const stored = preaggregate(sent).batch.metrics;
    const id = sqlString(instance.instanceId);
    const expected = {
      metrics_quality: stored.length,
      events_playback: sent.playback.length,
      events_session: sent.session.length,
      snapshots_library: sent.library.length,
      environment: sent.environment ? 1 : 0,
    };
    const counts = async () => {
      const out: Record<string, number> = {};
      for (const table of Object.keys(expected)) {
        out[table] = num(
          (await one<{ n: string }>(`SELECT count() AS n FROM ${table} WHERE instance_id = ${id}`)).n,
        );
      }
      return out;
    };
    const deadline = Date.now() + 20_000;
    let got = await counts();
    while (JSON.stringify(got) !== JSON.stringify(expected) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      got = await counts();
    }
    expect(got).toEqual(expected);

    // Every raw row carries the enrichment: the tier from PostgreSQL and this batch's version.
    const tiers = await ch.rows<{ tier: string }>(
      `SELECT DISTINCT tier FROM events_playback WHERE instance_id = ${id}`,
    );
    expect(tiers).toEqual([{ tier: "starter" }]);

    const v = sqlString(version);
    // An insert makes the raw rows visible before its materialized views have written theirs, so each
    // rollup is polled until it holds the expected values (or the timeout fails it with a diff).
    const poll = { timeout: 15_000, interval: 250 };
    const round = (x: number) => Math.round(x * 1e9) / 1e9;
    for (const rollup of ["quality_1m", "quality_1h", "quality_1d"]) {
      await expect
        .poll(async () => {
          const q = await one<{ n: string; s: number }>(
            `SELECT countMerge(samples) AS n, sumMerge(value_sum) AS s FROM ${rollup} WHERE app_version = ${v}`,
          );
          return [num(q.n), round(q.s)];
        }, poll)
        .toEqual([stored.length, round(stored.reduce((a, m) => a + m.value, 0))]);
    }
    // Quantiles per metric: the states are exact below 8192 values, so only float rounding is tolerated
    // (9 decimal digits).
    const names = [...new Set(stored.map((m) => m.name))].sort();
    const wantQ = names.map((name) => {
      const values = stored.filter((m) => m.name === name).map((m) => m.value);
      return [name, ...[0.5, 0.95, 0.99].map((l) => round(quantile(values, l)))];
    });
    for (const rollup of ["quality_1m", "quality_1h", "quality_1d"]) {
      await expect
        .poll(async () => {
          const rows = await ch.rows<{ metric_name: string; q: number[] }>(
            `SELECT metric_name, quantilesMerge(0.5, 0.95, 0.99)(value_quantiles) AS q FROM ${rollup}
             WHERE app_version = ${v} GROUP BY metric_name ORDER BY metric_name`,
          );
          return rows.map((r) => [r.metric_name, ...r.q.map((x) => round(Number(x)))]);
        }, poll)
        .toEqual(wantQ);
    }
    const by = (type: string, reason?: string) =>
      sent.playback.filter((e) => e.event_type === type && (!reason || e.skip_reason === reason)).length;
    for (const rollup of ["playback_1h", "playback_1d"]) {
      await expect
        .poll(async () => {
          const p = await one<Record<string, string>>(
            `SELECT sumMerge(plays) AS plays, sumMerge(skips) AS skips, sumMerge(skips_user) AS user,
                    sumMerge(skips_admin) AS admin, sumMerge(skips_error) AS error, sumMerge(queued) AS queued,
                    sumMerge(removed) AS removed FROM ${rollup} WHERE app_version = ${v}`,
          );
          return Object.fromEntries(Object.entries(p).map(([k, x]) => [k, num(x)]));
        }, poll)
        .toEqual({
          plays: by("played"),
          skips: by("skipped"),
          user: by("skipped", "user"),
          admin: by("skipped", "admin"),
          error: by("skipped", "error"),
          queued: by("queued"),
          removed: by("removed"),
        });
    }
    await expect
      .poll(async () => {
        const daily = await ch.rows<{ songs_played: string; songs_skipped: string }>(
          `SELECT songs_played, songs_skipped FROM daily_playback_stats WHERE instance_id = ${id}`,
        );
        return daily.map((d) => [num(d.songs_played), num(d.songs_skipped)]);
      }, poll)
      .toEqual([[by("played"), by("skipped")]]);
    const sessionsBy = (type: string) => sent.session.filter((e) => e.event_type === type).length;
    await expect
      .poll(async () => {
        const x = await one<{ started: string; ended: string }>(
          `SELECT sumMerge(started) AS started, sumMerge(ended) AS ended FROM sessions_1d WHERE app_version = ${v}`,
        );
        return [num(x.started), num(x.ended)];
      }, poll)
      .toEqual([sessionsBy("started"), sessionsBy("ended")]);
    await expect
      .poll(async () => {
        const x = await one<{ n: string }>(
          `SELECT uniqMerge(instances) AS n FROM active_instances_1d WHERE app_version = ${v}`,
        );
        return num(x.n);
      }, poll)
      .toBe(1);
  });
});
