import type {
  Environment,
  LibrarySnapshot,
  Metric,
  MetricsBatch,
  PlaybackEvent,
  PrivacyFlags,
  SessionEvent,
} from "./generated/telemetry.ts";

// Realistic batches of the latest MetricsBatch, as avsc decodes them: unions of null and one type
// are plain values or null (time_ms: 1767733200000 or null, environment: {...} or null, skip_reason:
// "user" or null), enums are their symbol strings, maps are plain objects, longs are numbers.
// Tests check that each is valid for the latest schema; other tests and load generators reuse them.

/** The telemetry families an example batch can carry; "everything" carries all of them at once. */
export type ExampleFamily = "quality" | "library" | "playback" | "session" | "environment" | "everything";

const INSTANCE = "3f8e2c1a-7b4d-4e9f-a2c6-5d1b8e0f7a93";
const SESSION = "sess-2026-01-06-1930-b7e1";
const SESSION_START = Date.parse("2026-01-06T19:30:00Z");
const T = Date.parse("2026-01-06T21:00:00Z");
const privacy: PrivacyFlags = { anonymize_songs: true, anonymize_users: true, exclude_local: true };

function envelope(seq: number, batchId: string): Omit<MetricsBatch, "metrics"> {
  return {
    instance_id: INSTANCE,
    batch_id: batchId,
    seq,
    // Sent two seconds after the batch closed; ingest received it 180 ms later.
    sent_at_ms: T + 2_000,
    timestamp_ms: T,
    received_at_ms: T + 2_180,
    app_version: "1.4.2",
    sdk_version: "0.3.0",
    privacy,
    library: [],
    playback: [],
    session: [],
    environment: null,
  };
}

const quality: Metric[] = [
  { name: "uptime_seconds", value: 5_412, tags: {}, time_ms: null },
  { name: "websocket_connections_total", value: 14, tags: {}, time_ms: null },
  { name: "websocket_errors", value: 1, tags: {}, time_ms: null },
  { name: "mpv_health_status", value: 1, tags: { status: "degraded" }, time_ms: T - 30_000 },
  { name: "mpv_health_status", value: 0, tags: { status: "ok" }, time_ms: null },
  { name: "mpv_restart_count", value: 1, tags: {}, time_ms: null },
  { name: "api_response_times_ms", value: 12.4, tags: { operation: "queue_add" }, time_ms: null },
  { name: "api_response_times_ms", value: 48.9, tags: { operation: "search" }, time_ms: null },
  { name: "error_count_by_type", value: 2, tags: { type: "youtube_download" }, time_ms: null },
  { name: "memory_usage_mb", value: 312.5, tags: {}, time_ms: null },
  { name: "cpu_usage_percent", value: 23.7, tags: {}, time_ms: null },
];

const library: LibrarySnapshot[] = [
  {
    time_ms: T - 60_000,
    total_songs: 4_821,
    songs_by_source: { local: 3_907, youtube: 902, other: 12 },
    file_types: { mp4: 2_310, webm: 902, mkv: 415, mp3: 611, cdg: 583 },
    total_size_gb: 187.3,
    growth_rate: 6.5,
    avg_song_duration_sec: 229.4,
  },
];

const localSong = {
  artist: "Queen",
  title: "Bohemian Rhapsody",
  duration_sec: 355,
  source: "local",
  file_type: "mp4",
  file_path: "/home/karaoke/Music/Karaoke/Queen - Bohemian Rhapsody.mp4",
};
const youtubeSong = {
  artist: "ABBA",
  title: "Dancing Queen",
  duration_sec: 231,
  source: "youtube",
  file_type: "webm",
  file_path: null,
};
const bare = { artist: null, title: null, duration_sec: null, file_type: null, file_path: null };

const playback: PlaybackEvent[] = [
  {
    time_ms: T - 300_000,
    event_type: "queued",
    session_id: SESSION,
    song: youtubeSong,
    skip_reason: null,
    wait_time_sec: null,
    songs_played_session: null,
    songs_played_total: null,
    user_id: "user-5521",
  },
  {
    time_ms: T - 240_000,
    event_type: "played",
    session_id: SESSION,
    song: localSong,
    skip_reason: null,
    wait_time_sec: 412.5,
    songs_played_session: 23,
    songs_played_total: 1_874,
    user_id: "user-1093",
  },
  {
    time_ms: T - 180_000,
    event_type: "skipped",
    session_id: SESSION,
    song: youtubeSong,
    skip_reason: "user",
    wait_time_sec: 95,
    songs_played_session: 23,
    songs_played_total: 1_874,
    user_id: "user-5521",
  },
  {
    time_ms: T - 150_000,
    event_type: "skipped",
    session_id: SESSION,
    song: { ...bare, artist: "Bon Jovi", title: "Livin' on a Prayer", source: "youtube" },
    skip_reason: "admin",
    wait_time_sec: null,
    songs_played_session: 23,
    songs_played_total: 1_874,
    user_id: "user-0001",
  },
  {
    time_ms: T - 120_000,
    event_type: "skipped",
    session_id: SESSION,
    song: { ...bare, source: "local", file_type: "cdg", file_path: "/srv/karaoke/cdg/SC8127-04.cdg" },
    skip_reason: "error",
    wait_time_sec: null,
    songs_played_session: 23,
    songs_played_total: 1_874,
    user_id: null,
  },
  {
    time_ms: T - 60_000,
    event_type: "removed",
    session_id: SESSION,
    song: { ...bare, artist: "Journey", title: "Don't Stop Believin'", duration_sec: 251, source: "other" },
    skip_reason: null,
    wait_time_sec: null,
    songs_played_session: null,
    songs_played_total: null,
    user_id: "user-0001",
  },
];

const sessionEvent = {
  session_id: SESSION,
  start_ms: null,
  duration_sec: null,
  users_joined_total: null,
  users_peak_concurrent: null,
  users_by_role: {},
  room_count: null,
  user_id: null,
  user_role: null,
};

const session: SessionEvent[] = [
  { ...sessionEvent, time_ms: SESSION_START, event_type: "started", start_ms: SESSION_START, room_count: 1 },
  {
    ...sessionEvent,
    time_ms: SESSION_START + 45_000,
    event_type: "user_joined",
    user_id: "user-5521",
    user_role: "guest",
  },
  {
    ...sessionEvent,
    time_ms: T - 30_000,
    event_type: "snapshot",
    start_ms: SESSION_START,
    duration_sec: 5_370,
    users_joined_total: 19,
    users_peak_concurrent: 14,
    users_by_role: { admin: 1, guest: 12 },
    room_count: 1,
  },
  {
    ...sessionEvent,
    time_ms: T,
    event_type: "ended",
    start_ms: SESSION_START,
    duration_sec: 5_400,
    users_joined_total: 19,
    users_peak_concurrent: 14,
    room_count: 1,
  },
];

const environment: Environment = {
  time_ms: T - 5_400_000,
  version: "1.4.2",
  os_platform: "linux",
  os_version: "Debian GNU/Linux 12 (bookworm) 6.1.0-28-amd64",
  go_version: "go1.22.4",
  mpv_version: "0.35.1",
  cpu_cores: 4,
  ram_total_gb: 7.6,
};

// The batches share their arrays and songs, so they are frozen: a caller that wants to change one clones it.
function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** One realistic batch of the latest MetricsBatch per telemetry family, plus one carrying every family (deeply frozen). */
export const exampleBatches: Readonly<Record<ExampleFamily, MetricsBatch>> = deepFreeze({
  quality: { ...envelope(101, "b-101"), metrics: quality },
  library: { ...envelope(102, "b-102"), metrics: [], library },
  playback: { ...envelope(103, "b-103"), metrics: [], playback },
  session: { ...envelope(104, "b-104"), metrics: [], session },
  environment: { ...envelope(105, "b-105"), metrics: [], environment },
  everything: {
    ...envelope(106, "b-106"),
    privacy: { anonymize_songs: false, anonymize_users: true, exclude_local: false },
    metrics: quality,
    library,
    playback,
    session,
    environment,
  },
});
