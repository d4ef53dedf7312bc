import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expandQuery, loadQueries, type StoredQuery } from "../../clickhouse/queries/index.ts";
import { type ClickHouseExecutor, serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { migrateClickHouse } from "../../lib/migrate/index.ts";
import { sqlIdentifier, sqlString } from "../../lib/sql/index.ts";
import { chdbExecutor } from "../support/chdb.ts";
import { quantile } from "../support/quantile.ts";
import {
  A,
  B,
  environment,
  type FixtureClock,
  fixtureClock,
  fixtureInserts,
  library,
  P,
  playback,
  quality,
  sessions,
  V,
} from "./analytics-fixture.ts";

// The analytics schema (raw tables, materialized views, rollups, stored queries) on both engines: the
// local ClickHouse 18.16 server and chDB (26.x). Each engine gets a fresh database, all migrations and
// the same fixture; rollups are checked against values computed here from the fixture rows.
const config = loadConfig();
const database = `smstats_an_${process.pid}`;
const engines: ClickHouseExecutor[] = [
  serverExecutor({ ...config.clickhouse, database }),
  chdbExecutor(database),
];
const clock = fixtureClock(new Date());
const queries = loadQueries();
/** Every stored query's rows per engine, compared across engines at the end. */
const results = new Map<string, Map<string, unknown[]>>();

afterAll(async () => {
  await (engines[0] as ClickHouseExecutor).exec(`DROP DATABASE IF EXISTS ${sqlIdentifier(database)}`);
  await Promise.all(engines.map((e) => e.close()));
});

type Row = Record<string, unknown>;

// ClickHouse 18.16 writes 64-bit integers as JSON strings, 26.x as numbers: compare them as numbers.
function numeric(rows: Row[], fields: readonly string[]): Row[] {
  return rows.map((r) => {
    const out = { ...r };
    for (const f of fields) if (f in out) out[f] = Number(out[f]);
    return out;
  });
}

function groupBy<T>(rows: readonly T[], key: (row: T) => Row): Map<string, { key: Row; rows: T[] }> {
  const groups = new Map<string, { key: Row; rows: T[] }>();
  for (const row of rows) {
    const k = key(row);
    const id = JSON.stringify(k);
    const group = groups.get(id) ?? { key: k, rows: [] };
    group.rows.push(row);
    groups.set(id, group);
  }
  return groups;
}

function sorted(rows: Row[], keys: readonly string[]): Row[] {
  const id = (r: Row) => JSON.stringify(keys.map((k) => r[k]));
  return [...rows].sort((a, b) => (id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0));
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const distinct = (xs: readonly string[]) => new Set(xs).size;
const count = <T>(rows: readonly T[], test: (r: T) => boolean) => rows.filter(test).length;

function latest<T extends { at: string; daysAgo: number }>(rows: readonly T[]): T {
  return [...rows].sort((a, b) => (clock.time(a) < clock.time(b) ? -1 : 1)).at(-1) as T;
}

type Level = "minute" | "hour" | "day";
function bucket(row: { daysAgo: number; at: string }, level: Level): Row {
  const day = clock.day(row.daysAgo);
  if (level === "day") return { day };
  return {
    bucket: `${day} ${level === "minute" ? `${row.at.slice(0, 5)}:00` : `${row.at.slice(0, 2)}:00:00`}`,
  };
}

const dims = (r: { inst: typeof A }) => ({
  tier: r.inst.tier,
  app_version: r.inst.app_version,
  platform: r.inst.platform,
});

// What each rollup must hold, computed from the fixture rows without ClickHouse.
const expected = {
  quality(level: Level): Row[] {
    const groups = groupBy(quality, (r) => ({
      ...bucket(r, level),
      ...dims(r),
      metric_name: r.metric_name,
      operation: r.tags.operation ?? "",
      error_type: r.metric_name === "error_count_by_type" ? (r.tags.type ?? "") : "",
    }));
    return [...groups.values()].map(({ key, rows }) => {
      const values = rows.map((r) => r.value);
      return {
        ...key,
        samples: rows.length,
        value_sum: sum(values),
        value_min: Math.min(...values),
        value_max: Math.max(...values),
        q: [0.5, 0.95, 0.99].map((l) => quantile(values, l)),
        instances: distinct(rows.map((r) => r.inst.instance_id)),
      };
    });
  },
  playback(level: "hour" | "day"): Row[] {
    const groups = groupBy(playback, (r) => ({
      ...bucket(r, level),
      ...dims(r),
      song_source: r.song_source,
      song_file_type: r.song_file_type,
    }));
    return [...groups.values()].map(({ key, rows }) => {
      const played = rows.filter((r) => r.event_type === "played");
      const skipped = rows.filter((r) => r.event_type === "skipped");
      const waited = played.filter((r) => r.wait !== undefined);
      return {
        ...key,
        plays: played.length,
        skips: skipped.length,
        skips_user: count(skipped, (r) => r.skip_reason === "user"),
        skips_admin: count(skipped, (r) => r.skip_reason === "admin"),
        skips_error: count(skipped, (r) => r.skip_reason === "error"),
        queued: count(rows, (r) => r.event_type === "queued"),
        removed: count(rows, (r) => r.event_type === "removed"),
        unique_songs: distinct(played.filter((r) => r.song_hash !== "").map((r) => r.song_hash)),
        wait_sum: sum(waited.map((r) => r.wait as number)),
        waits: waited.length,
      };
    });
  },
  playbackInstance(): Row[] {
    const groups = groupBy(playback, (r) => ({
      day: clock.day(r.daysAgo),
      instance_id: r.inst.instance_id,
      tier: r.inst.tier,
    }));
    return [...groups.values()].map(({ key, rows }) => {
      const played = rows.filter((r) => r.event_type === "played");
      return {
        ...key,
        plays: played.length,
        skips: count(rows, (r) => r.event_type === "skipped"),
        unique_songs: distinct(played.filter((r) => r.song_hash !== "").map((r) => r.song_hash)),
      };
    });
  },
  sessions(level: "hour" | "day"): Row[] {
    const groups = groupBy(sessions, (r) => ({ ...bucket(r, level), ...dims(r) }));
    return [...groups.values()].map(({ key, rows }) => {
      const ended = rows.filter((r) => r.event_type === "ended");
      return {
        ...key,
        started: count(rows, (r) => r.event_type === "started"),
        ended: ended.length,
        ended_duration_sum: sum(ended.map((r) => r.duration_sec)),
        peak_users: Math.max(...rows.map((r) => r.users_peak_concurrent)),
        users_joined: count(rows, (r) => r.event_type === "user_joined"),
        sessions: distinct(rows.map((r) => r.session_id)),
      };
    });
  },
  activeInstances(): Row[] {
    const all = [...quality, ...playback, ...sessions, ...library, ...environment];
    const groups = groupBy(all, (r) => ({ day: clock.day(r.daysAgo), ...dims(r), country: r.inst.country }));
    return [...groups.values()].map(({ key, rows }) => ({
      ...key,
      instances: distinct(rows.map((r) => r.inst.instance_id)),
    }));
  },
  library(): Row[] {
    const groups = groupBy(library, (r) => ({
      day: clock.day(r.daysAgo),
      instance_id: r.inst.instance_id,
      tier: r.inst.tier,
    }));
    return [...groups.values()].map(({ key, rows }) => {
      const last = latest(rows);
      return {
        ...key,
        snapshots: rows.length,
        total_songs: last.total_songs,
        total_size_gb: last.total_size_gb,
        growth_rate: last.growth_rate,
      };
    });
  },
  libraryFileTypes(): Row[] {
    const perType = library.flatMap((r) =>
      Object.entries(r.file_types).map(([file_type, songs]) => ({ ...r, file_type, songs })),
    );
    const groups = groupBy(perType, (r) => ({
      day: clock.day(r.daysAgo),
      file_type: r.file_type,
      instance_id: r.inst.instance_id,
      tier: r.inst.tier,
    }));
    return [...groups.values()].map(({ key, rows }) => ({ ...key, songs: latest(rows).songs }));
  },
};

const QUALITY_MEASURES = `countMerge(samples) AS samples, sumMerge(value_sum) AS value_sum,
  minMerge(value_min) AS value_min, maxMerge(value_max) AS value_max,
  quantilesMerge(0.5, 0.95, 0.99)(value_quantiles) AS q, uniqMerge(instances) AS instances`;
const PLAYBACK_MEASURES = `sumMerge(plays) AS plays, sumMerge(skips) AS skips, sumMerge(skips_user) AS skips_user,
  sumMerge(skips_admin) AS skips_admin, sumMerge(skips_error) AS skips_error, sumMerge(queued) AS queued,
  sumMerge(removed) AS removed, uniqIfMerge(unique_songs) AS unique_songs, sumMerge(wait_sum) AS wait_sum,
  sumMerge(waits) AS waits`;
const SESSION_MEASURES = `sumMerge(started) AS started, sumMerge(ended) AS ended,
  sumMerge(ended_duration_sum) AS ended_duration_sum, maxMerge(peak_users) AS peak_users,
  sumMerge(users_joined) AS users_joined, uniqMerge(sessions) AS sessions`;
const LIBRARY_MEASURES = `countMerge(snapshots) AS snapshots, argMaxMerge(total_songs) AS total_songs,
  argMaxMerge(total_size_gb) AS total_size_gb, argMaxMerge(growth_rate) AS growth_rate`;

/** Each rollup: its key columns, how to read its states, which fields are counts, and what it must hold. */
const rollups: {
  table: string;
  keys: string[];
  measures: string;
  counts: string[];
  expected: () => Row[];
}[] = [
  ...(["minute", "hour", "day"] as const).map((level) => ({
    table: { minute: "quality_1m", hour: "quality_1h", day: "quality_1d" }[level],
    keys: [
      level === "day" ? "day" : "bucket",
      "tier",
      "app_version",
      "platform",
      "metric_name",
      "operation",
      "error_type",
    ],
    measures: QUALITY_MEASURES,
    counts: ["samples", "instances"],
    expected: () => expected.quality(level),
  })),
  ...(["hour", "day"] as const).map((level) => ({
    table: level === "hour" ? "playback_1h" : "playback_1d",
    keys: [
      level === "day" ? "day" : "bucket",
      "tier",
      "app_version",
      "platform",
      "song_source",
      "song_file_type",
    ],
    measures: PLAYBACK_MEASURES,
    counts: [
      "plays",
      "skips",
      "skips_user",
      "skips_admin",
      "skips_error",
      "queued",
      "removed",
      "unique_songs",
      "waits",
    ],
    expected: () => expected.playback(level),
  })),
  {
    table: "playback_instance_1d",
    keys: ["day", "instance_id", "tier"],
    measures: "sumMerge(plays) AS plays, sumMerge(skips) AS skips, uniqIfMerge(unique_songs) AS unique_songs",
    counts: ["plays", "skips", "unique_songs"],
    expected: expected.playbackInstance,
  },
  ...(["hour", "day"] as const).map((level) => ({
    table: level === "hour" ? "sessions_1h" : "sessions_1d",
    keys: [level === "day" ? "day" : "bucket", "tier", "app_version", "platform"],
    measures: SESSION_MEASURES,
    counts: ["started", "ended", "users_joined", "sessions"],
    expected: () => expected.sessions(level),
  })),
  {
    table: "active_instances_1d",
    keys: ["day", "tier", "app_version", "platform", "country"],
    measures: "uniqMerge(instances) AS instances",
    counts: ["instances"],
    expected: expected.activeInstances,
  },
  {
    table: "library_1d",
    keys: ["day", "instance_id", "tier"],
    measures: LIBRARY_MEASURES,
    counts: ["snapshots", "total_songs"],
    expected: expected.library,
  },
  {
    table: "library_file_types_1d",
    keys: ["day", "file_type", "instance_id", "tier"],
    measures: "argMaxMerge(songs) AS songs",
    counts: ["songs"],
    expected: expected.libraryFileTypes,
  },
];

// Quantile states are exact below 8192 values, so the only tolerance needed is floating-point rounding.
const QUANTILE_DIGITS = 9;

/** What each stored query must return for the fixture (clock-relative days), keyed by query name. */
function expectedQueryRows(c: FixtureClock): Record<string, Row[]> {
  return {
    active_instances_rolling: [{ yesterday: 3, last_7_days: 4, last_30_days: 5 }],
    api_latency_by_operation: [
      { operation: "queue_add", samples: 5, avg_ms: 40, p50_ms: 30, p95_ms: 88, p99_ms: 97.6, max_ms: 100 },
      { operation: "search", samples: 2, avg_ms: 10, p50_ms: 10, p95_ms: 14.5, p99_ms: 14.9, max_ms: 15 },
    ],
    daily_active_instances_by_version: [
      { day: c.day(20), app_version: "1.5.0", instances: 1 },
      { day: c.day(10), app_version: "1.3.0", instances: 1 },
      { day: c.day(3), app_version: "1.5.0", instances: 2 },
      { day: c.day(2), app_version: "1.4.2", instances: 1 },
      { day: c.day(2), app_version: "1.5.0", instances: 2 },
      { day: c.day(1), app_version: "1.4.2", instances: 1 },
      { day: c.day(1), app_version: "1.5.0", instances: 2 },
    ],
    // 1.4.2: 3 errors in 1 instance-hour; 1.5.0: 2 + 1 errors in 4 instance-hours (V at 10h and 22h, B at
    // 11h, P at 9h), of which two hours reported no error at all.
    error_rate_by_version: [
      { app_version: "1.4.2", errors: 3, instance_hours: 1, errors_per_instance_hour: 3 },
      { app_version: "1.5.0", errors: 3, instance_hours: 4, errors_per_instance_hour: 0.75 },
    ],
    // Only A's day-1 row: its day-40 play is older than 30 days.
    instance_daily_playback: [{ day: c.day(1), songs_played: 3, songs_skipped: 1, unique_songs: 3 }],
    library_growth: [
      { day: c.day(3), instances: 1, total_songs: 50, total_size_gb: 5, avg_songs: 50, avg_growth_rate: 0.5 },
      { day: c.day(2), instances: 1, total_songs: 95, total_size_gb: 9.5, avg_songs: 95, avg_growth_rate: 1 },
      {
        day: c.day(1),
        instances: 2,
        total_songs: 1110,
        total_size_gb: 211,
        avg_songs: 555,
        avg_growth_rate: 3.5,
      },
    ],
    skip_rate_by_source: [
      {
        song_source: "local",
        plays: 3,
        skips: 2,
        skip_rate: 0.4,
        skips_user: 0,
        skips_admin: 1,
        skips_error: 1,
      },
      {
        song_source: "youtube",
        plays: 5,
        skips: 2,
        skip_rate: 0.2857,
        skips_user: 2,
        skips_admin: 0,
        skips_error: 0,
      },
    ],
    // Each instance's latest snapshot in the last 7 days: A's of day 1 at 20:00, V's of day 1, P's of day 3.
    top_file_types: [
      { file_type: "mp4", songs: 565, instances: 2 },
      { file_type: "webm", songs: 300, instances: 1 },
      { file_type: "cdg", songs: 200, instances: 1 },
      { file_type: "mkv", songs: 50, instances: 1 },
      { file_type: "mp3", songs: 45, instances: 1 },
    ],
  };
}

const QUERY_COUNTS = [
  "instances",
  "yesterday",
  "last_7_days",
  "last_30_days",
  "samples",
  "errors",
  "instance_hours",
  "songs_played",
  "songs_skipped",
  "unique_songs",
  "total_songs",
  "plays",
  "skips",
  "skips_user",
  "skips_admin",
  "skips_error",
  "songs",
];

function queryValues(q: StoredQuery): Record<string, string> {
  return q.name === "instance_daily_playback" ? { instance_id: A.instance_id } : {};
}

describe.each(engines.map((e) => [e.engine, e] as const))("analytics schema on %s", (engine, ch) => {
  beforeAll(async () => {
    await migrateClickHouse(ch);
    for (const statement of fixtureInserts(clock)) await ch.exec(statement);
  });

  it("stores every fixture row in its raw table", async () => {
    const counts: Record<string, number> = {};
    for (const table of [
      "metrics_quality",
      "events_playback",
      "events_session",
      "snapshots_library",
      "environment",
    ]) {
      const [row] = await ch.rows<{ n: string | number }>(`SELECT count() AS n FROM ${sqlIdentifier(table)}`);
      counts[table] = Number(row?.n);
    }
    expect(counts).toEqual({
      metrics_quality: quality.length,
      events_playback: playback.length,
      events_session: sessions.length,
      snapshots_library: library.length,
      environment: environment.length,
    });
  });

  it.each(rollups.map((r) => [r.table, r] as const))(
    "%s holds exactly the fixture's counts and sums",
    async (table, rollup) => {
      const keys = rollup.keys.join(", ");
      const rows = await ch.rows<Row>(
        `SELECT ${keys}, ${rollup.measures} FROM ${sqlIdentifier(table)} GROUP BY ${keys}`,
      );
      const actual = sorted(numeric(rows, rollup.counts), rollup.keys);
      const want = sorted(rollup.expected(), rollup.keys);
      const withoutQuantiles = (rs: Row[]) => rs.map(({ q: _q, ...rest }) => rest);
      expect(withoutQuantiles(actual)).toEqual(withoutQuantiles(want));
      want.forEach((w, i) => {
        if (!("q" in w)) return;
        const got = actual[i]?.q as number[];
        (w.q as number[]).forEach((value, j) => {
          expect(got[j]).toBeCloseTo(value, QUANTILE_DIGITS);
        });
      });
    },
  );

  it("daily_playback_stats gives the seed's per-instance day rows", async () => {
    const rows = await ch.rows<Row>(
      "SELECT day, instance_id, songs_played, songs_skipped, unique_songs FROM daily_playback_stats ORDER BY day, instance_id",
    );
    const want: Row[] = [
      { day: clock.day(40), instance_id: A.instance_id, songs_played: 1, songs_skipped: 0, unique_songs: 1 },
      { day: clock.day(40), instance_id: V.instance_id, songs_played: 1, songs_skipped: 0, unique_songs: 1 },
      { day: clock.day(3), instance_id: V.instance_id, songs_played: 2, songs_skipped: 1, unique_songs: 1 },
      // P's unidentified song is a play but not a unique song.
      { day: clock.day(2), instance_id: P.instance_id, songs_played: 2, songs_skipped: 1, unique_songs: 1 },
      { day: clock.day(1), instance_id: A.instance_id, songs_played: 3, songs_skipped: 1, unique_songs: 3 },
      {
        day: clock.day(1),
        instance_id: B.instance_id,
        songs_played: 1,
        songs_skipped: 1,
        unique_songs: 1,
      },
    ];
    expect(numeric(rows, ["songs_played", "songs_skipped", "unique_songs"])).toEqual(want);
  });

  it("counts weekly and monthly actives by merging day states, not by adding daily counts", async () => {
    const window = (days: number) => `day > ${sqlString(clock.day(days))}`;
    const [row] = await ch.rows<Row>(
      `SELECT uniqMergeIf(instances, ${window(7)}) AS weekly, uniqMergeIf(instances, ${window(30)}) AS monthly,
              uniqMerge(instances) AS ever FROM active_instances_1d`,
    );
    const daily = await ch.rows<Row>(
      `SELECT day, uniqMerge(instances) AS n FROM active_instances_1d WHERE ${window(7)} GROUP BY day`,
    );
    expect(numeric([row as Row], ["weekly", "monthly", "ever"])).toEqual([
      { weekly: 4, monthly: 5, ever: 5 },
    ]);
    // The same week added up day by day: A, V and P were each active on two or three days.
    expect(sum(daily.map((d) => Number(d.n)))).toBe(8);
  });

  it.each(queries.map((q) => [q.name, q] as const))(
    "stored query %s returns the fixture's answer",
    async (name, query) => {
      const want = expectedQueryRows(clock)[name];
      expect(want, `no expected rows written for ${name}`).toBeDefined();
      const rows = numeric(await ch.rows<Row>(expandQuery(query, queryValues(query))), QUERY_COUNTS);
      expect(rows).toEqual(want);
      const perEngine = results.get(name) ?? new Map<string, unknown[]>();
      perEngine.set(engine, rows);
      results.set(name, perEngine);
    },
  );

  it("finds no rows for an instance id that tries to break out of its quotes", async () => {
    const query = queries.find((q) => q.name === "instance_daily_playback") as StoredQuery;
    const hostile = `${A.instance_id}' OR 1 = 1 OR instance_id = '\n-- `;
    expect(await ch.rows(expandQuery(query, { instance_id: hostile }))).toEqual([]);
  });

  it("drops one tier's weeks older than a cutoff by the partition read from system.parts", async () => {
    const cutoff = clock.day(30);
    const tables = ["metrics_quality", "events_playback"];
    const before = await rawCounts(ch, tables);
    const parts = await ch.rows<{ table: string; partition: string; partition_id: string; newest: string }>(
      `SELECT table, partition, partition_id, max(max_time) AS newest FROM system.parts
       WHERE database = ${sqlString(ch.database)} AND active AND table IN (${tables.map(sqlString).join(", ")})
       GROUP BY table, partition, partition_id`,
    );
    const old = parts.filter((p) => {
      const [tier, week] = parsePartition(p.partition);
      // A weekly partition may go when its whole week lies before the cutoff.
      return tier === "starter" && addDays(week, 7) <= cutoff && p.newest < cutoff;
    });
    expect(old.map((p) => [p.table, p.partition]).sort()).toEqual(
      tables.map((t) => [t, `('starter','${mondayOf(clock.day(40))}')`]).sort(),
    );
    for (const p of old) {
      const [tier, week] = parsePartition(p.partition);
      // Both forms work on 18.16 and 26.x; the test uses one per table so both stay proven.
      const target =
        p.table === "metrics_quality"
          ? `(${sqlString(tier)}, ${sqlString(week)})`
          : `ID ${sqlString(p.partition_id)}`;
      await ch.exec(`ALTER TABLE ${sqlIdentifier(p.table)} DROP PARTITION ${target}`);
    }
    const after = await rawCounts(ch, tables);
    // Gone: A's day-40 metric and play (starter). Kept: V's day-40 play (venue) and every newer row.
    expect(after).toEqual({
      metrics_quality: { ...before.metrics_quality, starter_old: 0 },
      events_playback: { ...before.events_playback, starter_old: 0 },
    });
    expect(before.events_playback).toMatchObject({ starter_old: 1, other_old: 1 });
    // Rollups keep what the dropped rows contributed.
    const [stats] = await ch.rows<Row>(
      `SELECT songs_played FROM daily_playback_stats WHERE day = ${sqlString(clock.day(40))} AND instance_id = ${sqlString(A.instance_id)}`,
    );
    expect(Number(stats?.songs_played)).toBe(1);
  });
});

describe("the two engines agree", () => {
  it.each(queries.map((q) => [q.name] as const))("%s returns the same rows on both", (name) => {
    const perEngine = results.get(name);
    expect([...(perEngine?.keys() ?? [])].sort()).toEqual(engines.map((e) => e.engine).sort());
    const [first, second] = [...(perEngine?.values() ?? [])];
    expect(second).toEqual(first);
  });
});

/** The (tier, week) of a raw table's partition as system.parts spells it on both engines. */
function parsePartition(partition: string): [string, string] {
  const m = /^\('([a-z_]+)','(\d{4}-\d{2}-\d{2})'\)$/.exec(partition);
  if (!m) throw new Error(`unexpected partition ${partition}`);
  return [m[1] as string, m[2] as string];
}

function addDays(day: string, days: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

function mondayOf(day: string): string {
  const weekday = new Date(`${day}T00:00:00Z`).getUTCDay();
  return addDays(day, -((weekday + 6) % 7));
}

async function rawCounts(
  ch: ClickHouseExecutor,
  tables: string[],
): Promise<Record<string, { starter_old: number; other_old: number; recent: number }>> {
  const cutoff = sqlString(`${clock.day(30)} 00:00:00`);
  const out: Record<string, { starter_old: number; other_old: number; recent: number }> = {};
  for (const table of tables) {
    const [row] = await ch.rows<Row>(
      `SELECT countIf(time < ${cutoff} AND tier = 'starter') AS starter_old,
              countIf(time < ${cutoff} AND tier != 'starter') AS other_old,
              countIf(time >= ${cutoff}) AS recent
       FROM ${sqlIdentifier(table)}`,
    );
    out[table] = {
      starter_old: Number(row?.starter_old),
      other_old: Number(row?.other_old),
      recent: Number(row?.recent),
    };
  }
  return out;
}
