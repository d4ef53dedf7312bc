import type pg from "pg";
import type { ClickHouseExecutor } from "../lib/clients/index.ts";
import { sqlString } from "../lib/sql/index.ts";

/** The week a digest covers: [from, to) and the week before it, [previousFrom, from). UTC days. */
export interface DigestWeek {
  previousFrom: Date;
  from: Date;
  to: Date;
}

/** The week ending at the start of `at`'s UTC day (a Monday-morning digest covers Monday to Sunday). */
export function digestWeek(at: Date): DigestWeek {
  const to = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
  return {
    to,
    from: new Date(to.getTime() - 7 * 86_400_000),
    previousFrom: new Date(to.getTime() - 14 * 86_400_000),
  };
}

/** Pipeline health at the time of the digest (null when a store could not be read). */
export interface PipelineHealth {
  lag: number | null;
  deadLetters: number | null;
  openSequenceGaps: number | null;
}

/** Every figure of the digest. */
export interface DigestFigures {
  week: DigestWeek;
  active: { thisWeek: number; lastWeek: number };
  plays: { thisWeek: number; lastWeek: number };
  versions: { app_version: string; active: number }[];
  /** Errors per instance-hour by version, this week and last, biggest change first. */
  errorMovers: { app_version: string; thisWeek: number; lastWeek: number }[];
  licenses: { created: number; renewed: number; cancelled: number };
  pipeline: PipelineHealth;
  /** Daily active instances over both weeks, for the chart. */
  daily: { day: string; active: number }[];
}

const day = (d: Date) => sqlString(d.toISOString().slice(0, 10));
const time = (d: Date) => sqlString(d.toISOString().slice(0, 19).replace("T", " "));

/** Reads the ClickHouse rollups for a week and the one before (no raw tables: the rollups are what is kept). */
export async function rollupFigures(ch: ClickHouseExecutor, w: DigestWeek) {
  const [prev, from, to] = [day(w.previousFrom), day(w.from), day(w.to)];
  const inWeek = `day >= toDate(${from}) AND day < toDate(${to})`;
  const inLast = `day >= toDate(${prev}) AND day < toDate(${from})`;
  const [active] = await ch.rows<{ this_week: number; last_week: number }>(
    `SELECT toFloat64(uniqMergeIf(instances, ${inWeek})) AS this_week, toFloat64(uniqMergeIf(instances, ${inLast})) AS last_week
     FROM active_instances_1d WHERE day >= toDate(${prev}) AND day < toDate(${to})`,
  );
  const [plays] = await ch.rows<{ this_week: number; last_week: number }>(
    `SELECT toFloat64(sumMergeIf(plays, ${inWeek})) AS this_week, toFloat64(sumMergeIf(plays, ${inLast})) AS last_week
     FROM playback_1d WHERE day >= toDate(${prev}) AND day < toDate(${to})`,
  );
  const versions = await ch.rows<{ app_version: string; active: number }>(
    `SELECT app_version, toFloat64(uniqMerge(instances)) AS active FROM active_instances_1d WHERE ${inWeek}
     GROUP BY app_version ORDER BY active DESC, app_version LIMIT 10`,
  );
  const errors = await ch.rows<{ app_version: string; this_week: number; last_week: number }>(
    `SELECT app_version,
       round(sumIf(hour_errors, bucket >= toDateTime(${time(w.from)})) / greatest(sumIf(hour_instances, bucket >= toDateTime(${time(w.from)})), 1), 4) AS this_week,
       round(sumIf(hour_errors, bucket < toDateTime(${time(w.from)})) / greatest(sumIf(hour_instances, bucket < toDateTime(${time(w.from)})), 1), 4) AS last_week
     FROM (
       SELECT bucket, app_version, toFloat64(sumMergeIf(value_sum, metric_name = 'error_count_by_type')) AS hour_errors,
         toFloat64(uniqMerge(instances)) AS hour_instances
       FROM quality_1h WHERE bucket >= toDateTime(${time(w.previousFrom)}) AND bucket < toDateTime(${time(w.to)})
       GROUP BY bucket, app_version)
     GROUP BY app_version`,
  );
  // (ClickHouse 18.16 resolves an alias before a column of the same name: the day's text is `d`.)
  const daily = await ch.rows<{ d: string; active: number }>(
    `SELECT toString(day) AS d, toFloat64(uniqMerge(instances)) AS active FROM active_instances_1d
     WHERE day >= toDate(${prev}) AND day < toDate(${to}) GROUP BY day ORDER BY day`,
  );
  const num = (v: unknown) => Number(v ?? 0);
  return {
    active: { thisWeek: num(active?.this_week), lastWeek: num(active?.last_week) },
    plays: { thisWeek: num(plays?.this_week), lastWeek: num(plays?.last_week) },
    versions: versions.map((v) => ({ app_version: v.app_version, active: num(v.active) })),
    errorMovers: errors
      .map((e) => ({ app_version: e.app_version, thisWeek: num(e.this_week), lastWeek: num(e.last_week) }))
      .sort(
        (a, b) =>
          Math.abs(b.thisWeek - b.lastWeek) - Math.abs(a.thisWeek - a.lastWeek) ||
          a.app_version.localeCompare(b.app_version),
      )
      .slice(0, 5),
    daily: daily.map((d) => ({ day: d.d, active: num(d.active) })),
  };
}

/** New, renewed and cancelled (expired by a provider or revoked) licenses of the week, from PostgreSQL. */
export async function licenseFigures(db: pg.Pool, w: DigestWeek): Promise<DigestFigures["licenses"]> {
  const { rows } = await db.query(
    `SELECT
       (SELECT count(*)::int FROM licenses WHERE created_at >= $1 AND created_at < $2) AS created,
       (SELECT count(*)::int FROM audit_log WHERE action = 'license.renew' AND at >= $1 AND at < $2) AS renewed,
       (SELECT count(*)::int FROM audit_log WHERE action IN ('license.expire', 'license.revoke') AND at >= $1 AND at < $2) AS cancelled`,
    [w.from, w.to],
  );
  return rows[0];
}
