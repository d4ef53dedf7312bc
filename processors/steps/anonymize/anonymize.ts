import type {
  LibrarySnapshot,
  Metric,
  MetricsBatch,
  PlaybackEvent,
  PlaybackEventType,
  PrivacyFlags,
  SessionEvent,
  SessionEventType,
  SkipReason,
} from "../../../schemas/index.ts";
import { fileTypeCounts, songFileType } from "./file-type.ts";
import { songHash, userHash } from "./keyed-hashes.ts";
import {
  FILE_TYPES,
  PLATFORMS,
  ROLES,
  type ShapeReport,
  SOURCES,
  scrubText,
  shapeCounts,
  shapeEnum,
  shapeIdentifier,
  shapeMetricName,
  shapeOsVersion,
  shapeTags,
  shapeVersion,
} from "./shape-rules.ts";

/** The server secret the keyed hashes are made with, and who is told of every value shaped. */
export interface AnonymizeOptions {
  /** HMAC key: the same on every processor, and never changed, or hashes stop matching across time. */
  secret: Buffer;
  /** Told of each value replaced or dropped by the shape rules (shape-rules.ts); none by default. */
  report?: ShapeReport;
}

const ignore: ShapeReport = () => {};

// Row types list their fields rather than spreading the decoded event: a field added to the schema
// reaches ClickHouse only once someone has decided here that it carries no personal data.

/** A playback event ready for its table: the song as a hash, tokens and opted-in text, the user as a hash. */
export interface AnonymizedPlaybackEvent {
  time_ms: number;
  event_type: PlaybackEventType;
  session_id: string | null;
  skip_reason: SkipReason | null;
  wait_time_sec: number | null;
  songs_played_session: number | null;
  songs_played_total: number | null;
  /** Keyed hash of the normalised artist and title, the same on every instance; '' when both are unknown. */
  song_hash: string;
  /** The title as sent, only when the instance opted in to plain song names; else ''. */
  song_title: string;
  /** The artist as sent, only when the instance opted in to plain song names; else ''. */
  song_artist: string;
  /** youtube, local or other. */
  song_source: string;
  song_duration_sec: number | null;
  /** The file's extension as a token (mp4, cdg, …), '' when unknown; never a name or path. */
  file_type: string;
  /** Keyed hash of the user id salted with the instance; '' when no user. */
  user_hash: string;
}

/** A session event ready for its table: the user who joined or left as a hash. */
export interface AnonymizedSessionEvent {
  time_ms: number;
  session_id: string;
  event_type: SessionEventType;
  start_ms: number | null;
  duration_sec: number | null;
  users_joined_total: number | null;
  users_peak_concurrent: number | null;
  users_by_role: Record<string, number>;
  room_count: number | null;
  user_role: string | null;
  /** Keyed hash of the user id salted with the instance; '' when no user. */
  user_hash: string;
}

/** A batch (enriched or not) with every family row-ready and no plain personal data left but what was opted in. */
export type AnonymizedBatch<T extends MetricsBatch = MetricsBatch> = Omit<
  T,
  "metrics" | "library" | "playback" | "session"
> & {
  metrics: Metric[];
  library: LibrarySnapshot[];
  playback: AnonymizedPlaybackEvent[];
  session: AnonymizedSessionEvent[];
};

/**
 * What the instance's flags allow in plain text. Only an explicit false opts in (the schema defaults to
 * true). A local song's title and artist stay hidden while exclude_local is on, because local files are
 * usually named after them; file names and paths are never kept, whatever the flags say.
 */
// Only song titles and artists can be stored plain, and only when the instance opted in. User ids are
// always keyed hashes, whatever anonymize_users says: the issue's rule is that with the opt-in on "the
// titles appear and nothing else does", and a plain user id is personal data no analysis needs.
function plainPolicy(privacy: PrivacyFlags) {
  return {
    songs: (source: string) =>
      privacy.anonymize_songs === false && !(privacy.exclude_local && source === "local"),
  };
}

const plain = (allowed: boolean, value: string | null) => (allowed && value ? value.trim() : "");

/** The batch's environment with every string in its shape (versions, the platform enum). */
function shapeEnvironment(
  env: MetricsBatch["environment"],
  report: ShapeReport,
): MetricsBatch["environment"] {
  if (!env) return env;
  return {
    ...env,
    version: shapeVersion("environment.version", env.version, report),
    os_platform: shapeEnum("environment.os_platform", env.os_platform, PLATFORMS, report),
    os_version: shapeOsVersion("environment.os_version", env.os_version, report),
    go_version: shapeVersion("environment.go_version", env.go_version, report),
    mpv_version: shapeVersion("environment.mpv_version", env.mpv_version, report),
  };
}

/**
 * The batch_id as it is stored: the instance's own id when it has a fixed format, else a keyed hash
 * (shape-rules.ts). The sink de-duplicates on it, so whoever compares stored batches with messages
 * (the stream sweeper) shapes the message's batch_id the same way.
 */
export function storedBatchId(secret: Buffer, instanceId: string, batchId: string, report = ignore): string {
  return shapeIdentifier("batch_id", secret, instanceId, batchId, report);
}

/**
 * Replaces song titles, artists and user ids by keyed hashes (plain copies only where the instance opted
 * in, scrubbed of paths, e-mail and addresses), drops file paths and names, and gives every other string
 * its shape from shape-rules.ts: identifiers fixed-format or hashed, roles, sources, platforms and file
 * types enums, versions a version pattern, metric tags an allowlist per metric. Pure: the same batch and
 * secret always give the same output; `report` hears of every value replaced or dropped.
 */
export function anonymize<T extends MetricsBatch>(batch: T, opts: AnonymizeOptions): AnonymizedBatch<T> {
  const { secret } = opts;
  const report = opts.report ?? ignore;
  const id = (field: string, value: string) =>
    shapeIdentifier(field, secret, batch.instance_id, value, report);
  const fileType = (t: string) => (t ? shapeEnum("playback.song_file_type", t, FILE_TYPES, report) : t);
  const allow = plainPolicy(batch.privacy);
  const user = (id: string | null) => ({
    user_hash: userHash(secret, batch.instance_id, id),
  });
  const playback = (e: PlaybackEvent): AnonymizedPlaybackEvent => {
    const { song } = e;
    const plainSong = allow.songs(song.source);
    return {
      time_ms: e.time_ms,
      event_type: e.event_type,
      session_id: e.session_id === null ? null : id("playback.session_id", e.session_id),
      skip_reason: e.skip_reason,
      wait_time_sec: e.wait_time_sec,
      songs_played_session: e.songs_played_session,
      songs_played_total: e.songs_played_total,
      song_hash: songHash(secret, song.artist, song.title),
      song_title: scrubText("playback.song_title", plain(plainSong, song.title), report),
      song_artist: scrubText("playback.song_artist", plain(plainSong, song.artist), report),
      song_source: shapeEnum("playback.song_source", song.source, SOURCES, report),
      song_duration_sec: song.duration_sec,
      file_type: fileType(songFileType(song.file_type, song.file_path)),
      ...user(e.user_id),
    };
  };
  const session = (e: SessionEvent): AnonymizedSessionEvent => ({
    time_ms: e.time_ms,
    session_id: id("session.session_id", e.session_id),
    event_type: e.event_type,
    start_ms: e.start_ms,
    duration_sec: e.duration_sec,
    users_joined_total: e.users_joined_total,
    users_peak_concurrent: e.users_peak_concurrent,
    users_by_role: shapeCounts("session.users_by_role.role", e.users_by_role, ROLES, report),
    room_count: e.room_count,
    user_role: e.user_role === null ? null : shapeEnum("session.user_role", e.user_role, ROLES, report),
    ...user(e.user_id),
  });
  return {
    ...batch,
    batch_id: storedBatchId(secret, batch.instance_id, batch.batch_id, report),
    app_version: shapeVersion("app_version", batch.app_version, report),
    sdk_version: shapeVersion("sdk_version", batch.sdk_version, report),
    environment: shapeEnvironment(batch.environment, report),
    metrics: batch.metrics.map((m) => {
      const tags = shapeTags(m.name, m.tags, report);
      const name = shapeMetricName(secret, m.name, report);
      return tags === m.tags && name === m.name ? m : { ...m, name, tags };
    }),
    library: batch.library.map((l) => ({
      ...l,
      songs_by_source: shapeCounts("library.songs_by_source.source", l.songs_by_source, SOURCES, report),
      file_types: shapeCounts(
        "library.file_types.file_type",
        fileTypeCounts(l.file_types),
        FILE_TYPES,
        report,
      ),
    })),
    playback: batch.playback.map(playback),
    session: batch.session.map(session),
  };
}
