import { sqlIdentifier, sqlNumber, sqlString } from "../../lib/sql/index.ts";

/**
 * A small, fixed telemetry fixture for the analytics tests: five instances across the three tiers and
 * three versions, rows on days 1, 2, 3, 10, 20 and 40 before today (UTC), in every raw table. Times are
 * relative to today because the stored queries use ranges relative to now(); everything else is fixed.
 */

/** One instance of the fixture with the common columns its rows carry. */
export interface FixtureInstance {
  instance_id: string;
  tier: "starter" | "party_host" | "venue";
  app_version: string;
  platform: string;
  country: string;
}

export const A: FixtureInstance = {
  instance_id: "inst-starter-a",
  tier: "starter",
  app_version: "1.4.2",
  platform: "linux",
  country: "DE",
};
export const B: FixtureInstance = {
  instance_id: "inst-starter-b",
  tier: "starter",
  app_version: "1.5.0",
  platform: "windows",
  country: "US",
};
export const P: FixtureInstance = {
  instance_id: "inst-party",
  tier: "party_host",
  app_version: "1.5.0",
  platform: "darwin",
  country: "GB",
};
export const V: FixtureInstance = {
  instance_id: "inst-venue",
  tier: "venue",
  app_version: "1.5.0",
  platform: "linux",
  country: "",
};
export const N: FixtureInstance = {
  instance_id: "inst-new",
  tier: "starter",
  app_version: "1.3.0",
  platform: "linux",
  country: "FR",
};

/** Where and when a fixture row happened: days before today (UTC) and a time of day. */
interface At {
  inst: FixtureInstance;
  daysAgo: number;
  at: string;
}

export interface QualityRow extends At {
  metric_name: string;
  value: number;
  tags: Record<string, string>;
}

export interface PlaybackRow extends At {
  event_type: "played" | "skipped" | "queued" | "removed";
  session_id: string;
  song_hash: string;
  song_source: string;
  song_file_type: string;
  skip_reason: "" | "user" | "admin" | "error";
  /** undefined: the instance did not measure it (stored as 0 with has_wait = 0). */
  wait?: number;
}

export interface SessionRow extends At {
  session_id: string;
  event_type: "started" | "ended" | "user_joined" | "user_left" | "snapshot";
  duration_sec: number;
  users_joined_total: number;
  users_peak_concurrent: number;
  users_by_role: Record<string, number>;
  user_hash: string;
  user_role: string;
}

export interface LibraryRow extends At {
  total_songs: number;
  total_size_gb: number;
  growth_rate: number;
  songs_by_source: Record<string, number>;
  file_types: Record<string, number>;
}

export interface EnvironmentRow extends At {
  version: string;
  os_platform: string;
  cpu_cores: number;
  ram_total_gb: number;
}

const api = (inst: FixtureInstance, daysAgo: number, at: string, value: number, operation: string) =>
  ({ inst, daysAgo, at, metric_name: "api_response_times_ms", value, tags: { operation } }) as QualityRow;

export const quality: QualityRow[] = [
  api(A, 1, "10:00:10", 10, "queue_add"),
  api(A, 1, "10:00:40", 20, "queue_add"),
  api(A, 1, "10:01:10", 30, "queue_add"),
  {
    ...api(A, 1, "10:01:50", 40, "queue_add"),
    tags: { client: "web", operation: "queue_add" },
  },
  {
    inst: A,
    daysAgo: 1,
    at: "10:02:00",
    metric_name: "error_count_by_type",
    value: 3,
    tags: { type: "mpv" },
  },
  {
    inst: B,
    daysAgo: 1,
    at: "11:30:00",
    metric_name: "error_count_by_type",
    value: 2,
    tags: { type: "network" },
  },
  { inst: B, daysAgo: 1, at: "11:30:00", metric_name: "uptime_seconds", value: 3600, tags: {} },
  api(V, 1, "10:00:30", 100, "queue_add"),
  api(P, 2, "09:15:00", 5, "search"),
  api(P, 2, "09:45:00", 15, "search"),
  // A `type` tag on a metric other than error_count_by_type must not become an error_type.
  { inst: P, daysAgo: 2, at: "09:45:00", metric_name: "memory_usage_mb", value: 512, tags: { type: "heap" } },
  {
    inst: V,
    daysAgo: 2,
    at: "22:00:00",
    metric_name: "error_count_by_type",
    value: 1,
    tags: { type: "mpv" },
  },
  api(A, 40, "12:00:00", 999, "queue_add"),
];

const play = (
  inst: FixtureInstance,
  daysAgo: number,
  at: string,
  event_type: PlaybackRow["event_type"],
  song_hash: string,
  song_source: string,
  song_file_type: string,
  extra: Partial<PlaybackRow> = {},
): PlaybackRow => ({
  inst,
  daysAgo,
  at,
  event_type,
  session_id: "",
  song_hash,
  song_source,
  song_file_type,
  skip_reason: "",
  ...extra,
});

export const playback: PlaybackRow[] = [
  play(A, 1, "10:05:00", "played", "h1", "youtube", "mp4", { session_id: "s1", wait: 12.5 }),
  play(A, 1, "10:10:00", "played", "h2", "youtube", "mp4", { session_id: "s1" }),
  play(A, 1, "10:20:00", "skipped", "h3", "youtube", "mp4", { session_id: "s1", skip_reason: "user" }),
  play(A, 1, "11:00:00", "queued", "h4", "local", "mp3", { session_id: "s1" }),
  play(A, 1, "11:05:00", "played", "h4", "local", "mp3", { session_id: "s1", wait: 30 }),
  play(B, 1, "12:00:00", "played", "h1", "youtube", "mp4", { wait: 4 }),
  play(B, 1, "12:10:00", "skipped", "h5", "local", "cdg", { skip_reason: "error" }),
  play(B, 1, "12:20:00", "removed", "h5", "local", "cdg"),
  play(P, 2, "20:00:00", "played", "h6", "local", "mkv", { session_id: "s2", wait: 5 }),
  // A song the instance could not identify: counted as a play, not as a unique song.
  play(P, 2, "20:10:00", "played", "", "local", "mkv", { session_id: "s2" }),
  play(P, 2, "20:15:00", "skipped", "h6", "local", "mkv", { session_id: "s2", skip_reason: "admin" }),
  play(V, 3, "21:00:00", "played", "h7", "youtube", "webm", { session_id: "s3" }),
  play(V, 3, "21:05:00", "played", "h7", "youtube", "webm", { session_id: "s3" }),
  play(V, 3, "21:10:00", "skipped", "h8", "youtube", "webm", { session_id: "s3", skip_reason: "user" }),
  play(A, 40, "12:00:00", "played", "h1", "youtube", "mp4"),
  play(V, 40, "12:00:00", "played", "h7", "youtube", "webm"),
];

const session = (
  inst: FixtureInstance,
  daysAgo: number,
  at: string,
  session_id: string,
  event_type: SessionRow["event_type"],
  extra: Partial<SessionRow> = {},
): SessionRow => ({
  inst,
  daysAgo,
  at,
  session_id,
  event_type,
  duration_sec: 0,
  users_joined_total: 0,
  users_peak_concurrent: 0,
  users_by_role: {},
  user_hash: "",
  user_role: "",
  ...extra,
});

export const sessions: SessionRow[] = [
  session(A, 1, "09:00:00", "s1", "started"),
  session(A, 1, "09:05:00", "s1", "user_joined", {
    user_hash: "u1",
    user_role: "guest",
    users_joined_total: 1,
  }),
  session(A, 1, "10:00:00", "s1", "snapshot", {
    users_peak_concurrent: 5,
    users_joined_total: 5,
    users_by_role: { admin: 1, guest: 4 },
  }),
  session(A, 1, "12:00:00", "s1", "ended", {
    duration_sec: 10800,
    users_peak_concurrent: 6,
    users_joined_total: 7,
  }),
  session(P, 2, "19:00:00", "s2", "started"),
  session(P, 2, "23:00:00", "s2", "ended", { duration_sec: 14400, users_peak_concurrent: 12 }),
  session(V, 3, "20:00:00", "s3", "started"),
  session(V, 3, "22:00:00", "s3", "snapshot", {
    users_peak_concurrent: 30,
    users_by_role: { admin: 1, guest: 29 },
  }),
];

export const library: LibraryRow[] = [
  {
    inst: A,
    daysAgo: 1,
    at: "08:00:00",
    total_songs: 100,
    total_size_gb: 10,
    growth_rate: 1,
    songs_by_source: { local: 40, youtube: 60 },
    file_types: { mp4: 60, mp3: 40 },
  },
  {
    inst: A,
    daysAgo: 1,
    at: "20:00:00",
    total_songs: 110,
    total_size_gb: 11,
    growth_rate: 2,
    songs_by_source: { local: 45, youtube: 65 },
    file_types: { mp4: 65, mp3: 45 },
  },
  {
    inst: A,
    daysAgo: 2,
    at: "08:00:00",
    total_songs: 95,
    total_size_gb: 9.5,
    growth_rate: 1,
    songs_by_source: { local: 38, youtube: 57 },
    file_types: { mp4: 57, mp3: 38 },
  },
  {
    inst: V,
    daysAgo: 1,
    at: "09:00:00",
    total_songs: 1000,
    total_size_gb: 200,
    growth_rate: 5,
    songs_by_source: { local: 1000 },
    file_types: { mp4: 500, webm: 300, cdg: 200 },
  },
  {
    inst: P,
    daysAgo: 3,
    at: "10:00:00",
    total_songs: 50,
    total_size_gb: 5,
    growth_rate: 0.5,
    songs_by_source: { local: 50 },
    file_types: { mkv: 50 },
  },
];

export const environment: EnvironmentRow[] = [
  {
    inst: B,
    daysAgo: 1,
    at: "10:00:00",
    version: "1.5.0",
    os_platform: "windows",
    cpu_cores: 8,
    ram_total_gb: 16,
  },
  {
    inst: N,
    daysAgo: 10,
    at: "10:00:00",
    version: "1.3.0",
    os_platform: "linux",
    cpu_cores: 2,
    ram_total_gb: 4,
  },
  {
    inst: V,
    daysAgo: 20,
    at: "10:00:00",
    version: "1.5.0",
    os_platform: "linux",
    cpu_cores: 4,
    ram_total_gb: 8,
  },
];

/** Calendar arithmetic of the fixture, anchored on one UTC day. */
export interface FixtureClock {
  /** 'YYYY-MM-DD' of the day `daysAgo` days before today. */
  day(daysAgo: number): string;
  /** 'YYYY-MM-DD hh:mm:ss' of a row. */
  time(row: { daysAgo: number; at: string }): string;
}

/** A clock for the UTC day that contains `now`. */
export function fixtureClock(now: Date): FixtureClock {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const day = (daysAgo: number) => new Date(today - daysAgo * 86_400_000).toISOString().slice(0, 10);
  return { day, time: (row) => `${day(row.daysAgo)} ${row.at}` };
}

// Each batch reaches ingest at the end of its day (instances buffer while offline).
const RECEIVED_AT = "23:59:00";

function common(clock: FixtureClock, row: At, table: string, index: number): string[] {
  const { inst } = row;
  return [
    sqlString(clock.time(row)),
    sqlString(inst.instance_id),
    sqlString(inst.tier),
    sqlString(inst.app_version),
    sqlString(inst.platform),
    sqlString(inst.country),
    // One batch per instance, day and table: row_index counts rows within it.
    sqlString(`${table}-${inst.instance_id}-${row.daysAgo}`),
    sqlNumber(index),
    sqlString(`${clock.day(row.daysAgo)} ${RECEIVED_AT}`),
  ];
}

const COMMON_COLUMNS = [
  "time",
  "instance_id",
  "tier",
  "app_version",
  "platform",
  "country",
  "batch_id",
  "row_index",
  "received_at",
];

function array(values: readonly string[]): string {
  return `[${values.map(sqlString).join(", ")}]`;
}

function numbers(values: readonly number[]): string {
  return `[${values.map(sqlNumber).join(", ")}]`;
}

function insert(table: string, columns: string[], tuples: string[][]): string {
  // Column names are this file's constants, not values; Nested ones (tags.key) are dotted names that
  // sqlIdentifier rightly refuses, and ClickHouse reads them unquoted.
  const names = [...COMMON_COLUMNS, ...columns].join(", ");
  return `INSERT INTO ${sqlIdentifier(table)} (${names}) VALUES ${tuples.map((t) => `(${t.join(", ")})`).join(", ")}`;
}

// Each table is inserted in two statements so that every rollup holds partial states of the same key in
// different parts, which only a correct -Merge adds up.
function halves<T>(rows: T[]): T[][] {
  const middle = Math.ceil(rows.length / 2);
  return [rows.slice(0, middle), rows.slice(middle)].filter((h) => h.length > 0);
}

// Rows of one table, instance and day form one batch; row_index is the position within it.
function indexed<T extends At>(rows: T[]): { row: T; index: number }[] {
  const seen = new Map<string, number>();
  return rows.map((row) => {
    const batch = `${row.inst.instance_id}-${row.daysAgo}`;
    const index = seen.get(batch) ?? 0;
    seen.set(batch, index + 1);
    return { row, index };
  });
}

/** INSERT … VALUES statements for every raw table, values quoted through lib/sql. */
export function fixtureInserts(clock: FixtureClock): string[] {
  const statements: string[] = [];
  const add = <T extends At>(table: string, rows: T[], columns: string[], values: (row: T) => string[]) => {
    for (const half of halves(indexed(rows))) {
      statements.push(
        insert(
          table,
          columns,
          half.map(({ row, index }) => [...common(clock, row, table, index), ...values(row)]),
        ),
      );
    }
  };
  add("metrics_quality", quality, ["metric_name", "value", "tags.key", "tags.value"], (r) => {
    const keys = Object.keys(r.tags).sort();
    return [
      sqlString(r.metric_name),
      sqlNumber(r.value),
      array(keys),
      array(keys.map((k) => r.tags[k] ?? "")),
    ];
  });
  add(
    "events_playback",
    playback,
    [
      "event_type",
      "session_id",
      "song_hash",
      "song_title",
      "song_artist",
      "song_source",
      "song_file_type",
      "song_duration_sec",
      "skip_reason",
      "wait_time_sec",
      "has_wait",
      "songs_played_session",
      "songs_played_total",
      "user_hash",
    ],
    (r) => [
      sqlString(r.event_type),
      sqlString(r.session_id),
      sqlString(r.song_hash),
      sqlString(""),
      sqlString(""),
      sqlString(r.song_source),
      sqlString(r.song_file_type),
      sqlNumber(180),
      sqlString(r.skip_reason),
      sqlNumber(r.wait ?? 0),
      sqlNumber(r.wait === undefined ? 0 : 1),
      sqlNumber(0),
      sqlNumber(0),
      sqlString("user-hash"),
    ],
  );
  add(
    "events_session",
    sessions,
    [
      "session_id",
      "event_type",
      "start_time",
      "duration_sec",
      "users_joined_total",
      "users_peak_concurrent",
      "users_by_role.role",
      "users_by_role.users",
      "room_count",
      "user_hash",
      "user_role",
    ],
    (r) => {
      const roles = Object.keys(r.users_by_role).sort();
      return [
        sqlString(r.session_id),
        sqlString(r.event_type),
        sqlString(clock.time(r)),
        sqlNumber(r.duration_sec),
        sqlNumber(r.users_joined_total),
        sqlNumber(r.users_peak_concurrent),
        array(roles),
        numbers(roles.map((k) => r.users_by_role[k] ?? 0)),
        sqlNumber(1),
        sqlString(r.user_hash),
        sqlString(r.user_role),
      ];
    },
  );
  add(
    "snapshots_library",
    library,
    [
      "total_songs",
      "total_size_gb",
      "growth_rate",
      "avg_song_duration_sec",
      "songs_by_source.source",
      "songs_by_source.songs",
      "file_types.file_type",
      "file_types.songs",
    ],
    (r) => {
      const sources = Object.keys(r.songs_by_source).sort();
      const types = Object.keys(r.file_types).sort();
      return [
        sqlNumber(r.total_songs),
        sqlNumber(r.total_size_gb),
        sqlNumber(r.growth_rate),
        sqlNumber(200),
        array(sources),
        numbers(sources.map((k) => r.songs_by_source[k] ?? 0)),
        array(types),
        numbers(types.map((k) => r.file_types[k] ?? 0)),
      ];
    },
  );
  add(
    "environment",
    environment,
    ["version", "os_platform", "os_version", "go_version", "mpv_version", "cpu_cores", "ram_total_gb"],
    (r) => [
      sqlString(r.version),
      sqlString(r.os_platform),
      sqlString("test-os"),
      sqlString("go1.22.4"),
      sqlString("0.37.0"),
      sqlNumber(r.cpu_cores),
      sqlNumber(r.ram_total_gb),
    ],
  );
  return statements;
}
