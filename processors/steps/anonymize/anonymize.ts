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
import { withoutPathTags } from "./path-tags.ts";

/** The server secret the keyed hashes are made with. */
export interface AnonymizeOptions {
  /** HMAC key: the same on every processor, and never changed, or hashes stop matching across time. */
  secret: Buffer;
}

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

/**
 * Replaces song titles, artists and user ids by keyed hashes (plain copies only where the instance opted
 * in), drops file paths and names, keeps file types as extension tokens and strips path-like metric tags.
 * Pure: the same batch and secret always give the same output.
 */
export function anonymize<T extends MetricsBatch>(batch: T, opts: AnonymizeOptions): AnonymizedBatch<T> {
  const { secret } = opts;
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
      session_id: e.session_id,
      skip_reason: e.skip_reason,
      wait_time_sec: e.wait_time_sec,
      songs_played_session: e.songs_played_session,
      songs_played_total: e.songs_played_total,
      song_hash: songHash(secret, song.artist, song.title),
      song_title: plain(plainSong, song.title),
      song_artist: plain(plainSong, song.artist),
      song_source: song.source,
      song_duration_sec: song.duration_sec,
      file_type: songFileType(song.file_type, song.file_path),
      ...user(e.user_id),
    };
  };
  const session = (e: SessionEvent): AnonymizedSessionEvent => ({
    time_ms: e.time_ms,
    session_id: e.session_id,
    event_type: e.event_type,
    start_ms: e.start_ms,
    duration_sec: e.duration_sec,
    users_joined_total: e.users_joined_total,
    users_peak_concurrent: e.users_peak_concurrent,
    users_by_role: e.users_by_role,
    room_count: e.room_count,
    user_role: e.user_role,
    ...user(e.user_id),
  });
  return {
    ...batch,
    metrics: batch.metrics.map((m) => {
      const tags = withoutPathTags(m.tags);
      return tags === m.tags ? m : { ...m, tags };
    }),
    library: batch.library.map((l) => ({ ...l, file_types: fileTypeCounts(l.file_types) })),
    playback: batch.playback.map(playback),
    session: batch.session.map(session),
  };
}
