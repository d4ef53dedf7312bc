import type { AnonymizedBatch } from "../anonymize/index.ts";
import type { EnrichedBatch } from "../enrich/index.ts";

const TWO_DIGITS = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, "0"));
let cachedDay = Number.NaN;
let cachedDayText = "";

/**
 * Formats epoch milliseconds as ClickHouse's DateTime text in UTC ('YYYY-MM-DD hh:mm:ss'). Called for
 * every row, so the date part is computed once per day and the time by arithmetic.
 */
export function clickhouseDateTime(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const day = Math.floor(seconds / 86_400);
  if (day !== cachedDay) {
    cachedDay = day;
    cachedDayText = `${new Date(day * 86_400_000).toISOString().slice(0, 10)} `;
  }
  const r = seconds - day * 86_400;
  return `${cachedDayText}${TWO_DIGITS[Math.floor(r / 3600)]}:${TWO_DIGITS[Math.floor((r % 3600) / 60)]}:${TWO_DIGITS[r % 60]}`;
}

/** The raw tables a batch is routed to, one per telemetry family. */
export const RAW_TABLES = [
  "metrics_quality",
  "events_playback",
  "events_session",
  "snapshots_library",
  "environment",
] as const;

/** One of the raw tables. */
export type RawTable = (typeof RAW_TABLES)[number];

/** Rows per table, in ClickHouse's JSONEachRow spelling (Nested columns as dotted arrays). */
export type TableRows = Record<RawTable, Record<string, unknown>[]>;

/** An empty set of rows for every table. */
export function emptyRows(): TableRows {
  return Object.fromEntries(RAW_TABLES.map((t) => [t, []])) as unknown as TableRows;
}

/** A map's keys in order, for Nested columns (pairs of arrays) whose order must not depend on the sender. */
const sortedKeys = (counts: Record<string, number>) => Object.keys(counts).sort();

/**
 * Turns an enriched, anonymized batch into rows of every raw table: the common columns first (see
 * clickhouse/migrations/0002_raw_tables.sql), then each family's own. Absent values become '' or 0, as
 * the tables have no Nullable columns. `receivedAtMs` is the ingest time from the message header.
 */
export function route(
  batch: AnonymizedBatch<EnrichedBatch>,
  receivedAtMs: number,
  into: TableRows = emptyRows(),
  opts: { metrics?: boolean } = {},
): TableRows {
  const receivedAt = clickhouseDateTime(receivedAtMs || batch.received_at_ms || batch.timestamp_ms);
  // Every row is one object literal with the common columns spelled out (no spread: this runs per row).
  // Most rows are metrics; a sink with its own writer for them asks for the others only (opts.metrics
  // false, see routeStep).
  if (opts.metrics !== false)
    batch.metrics.forEach((m, i) => {
      const keys = Object.keys(m.tags);
      if (keys.length > 1) keys.sort();
      into.metrics_quality.push({
        time: clickhouseDateTime(m.time_ms ?? batch.timestamp_ms),
        instance_id: batch.instance_id,
        tier: batch.tier,
        app_version: batch.appVersion,
        platform: batch.platform,
        country: batch.country,
        batch_id: batch.batch_id,
        row_index: i,
        received_at: receivedAt,
        metric_name: m.name,
        value: m.value,
        "tags.key": keys,
        "tags.value": keys.map((k) => m.tags[k] as string),
      });
    });
  batch.playback.forEach((e, i) => {
    into.events_playback.push({
      time: clickhouseDateTime(e.time_ms ?? batch.timestamp_ms),
      instance_id: batch.instance_id,
      tier: batch.tier,
      app_version: batch.appVersion,
      platform: batch.platform,
      country: batch.country,
      batch_id: batch.batch_id,
      row_index: i,
      received_at: receivedAt,
      event_type: e.event_type,
      session_id: e.session_id ?? "",
      song_hash: e.song_hash,
      song_title: e.song_title,
      song_artist: e.song_artist,
      song_source: e.song_source,
      song_file_type: e.file_type,
      song_duration_sec: e.song_duration_sec ?? 0,
      skip_reason: e.skip_reason ?? "",
      wait_time_sec: e.wait_time_sec ?? 0,
      has_wait: e.wait_time_sec === null ? 0 : 1,
      songs_played_session: e.songs_played_session ?? 0,
      songs_played_total: e.songs_played_total ?? 0,
      user_hash: e.user_hash,
    });
  });
  batch.session.forEach((e, i) => {
    const roles = sortedKeys(e.users_by_role);
    into.events_session.push({
      time: clickhouseDateTime(e.time_ms ?? batch.timestamp_ms),
      instance_id: batch.instance_id,
      tier: batch.tier,
      app_version: batch.appVersion,
      platform: batch.platform,
      country: batch.country,
      batch_id: batch.batch_id,
      row_index: i,
      received_at: receivedAt,
      session_id: e.session_id,
      event_type: e.event_type,
      start_time: clickhouseDateTime(e.start_ms ?? e.time_ms),
      duration_sec: e.duration_sec ?? 0,
      users_joined_total: e.users_joined_total ?? 0,
      users_peak_concurrent: e.users_peak_concurrent ?? 0,
      "users_by_role.role": roles,
      "users_by_role.users": roles.map((k) => e.users_by_role[k] as number),
      room_count: e.room_count ?? 0,
      user_hash: e.user_hash,
      user_role: e.user_role ?? "",
    });
  });
  batch.library.forEach((l, i) => {
    const sources = sortedKeys(l.songs_by_source);
    const types = sortedKeys(l.file_types);
    into.snapshots_library.push({
      time: clickhouseDateTime(l.time_ms ?? batch.timestamp_ms),
      instance_id: batch.instance_id,
      tier: batch.tier,
      app_version: batch.appVersion,
      platform: batch.platform,
      country: batch.country,
      batch_id: batch.batch_id,
      row_index: i,
      received_at: receivedAt,
      total_songs: l.total_songs,
      total_size_gb: l.total_size_gb,
      growth_rate: l.growth_rate,
      avg_song_duration_sec: l.avg_song_duration_sec,
      "songs_by_source.source": sources,
      "songs_by_source.songs": sources.map((k) => l.songs_by_source[k] as number),
      "file_types.file_type": types,
      "file_types.songs": types.map((k) => l.file_types[k] as number),
    });
  });
  if (batch.environment) {
    const e = batch.environment;
    into.environment.push({
      time: clickhouseDateTime(e.time_ms ?? batch.timestamp_ms),
      instance_id: batch.instance_id,
      tier: batch.tier,
      app_version: batch.appVersion,
      platform: batch.platform,
      country: batch.country,
      batch_id: batch.batch_id,
      row_index: 0,
      received_at: receivedAt,
      version: e.version,
      os_platform: e.os_platform,
      os_version: e.os_version,
      go_version: e.go_version,
      mpv_version: e.mpv_version,
      cpu_cores: e.cpu_cores,
      ram_total_gb: e.ram_total_gb,
    });
  }
  return into;
}

/** Identifies a batch: ingest's message id is built from the same pair. */
export interface RoutedKey {
  instance_id: string;
  batch_id: string;
}

/**
 * Writes a batch's metric rows (most rows) in the sink's own form, given the batch and the ingest time
 * in ms; the route step stays format-neutral and the sink chooses the writer.
 */
export type MetricRowWriter<M> = (batch: AnonymizedBatch<EnrichedBatch>, receivedAtMs: number) => M;

/** What route hands the sink: a batch's rows per table, its metric rows as the sink's writer made them. */
export interface Routed<M> {
  key: RoutedKey;
  /** Row objects per raw table; `metrics_quality` is empty when the sink writes those rows itself. */
  rows: TableRows;
  /** The metric rows from the sink's writer; undefined without one. */
  metrics: M | undefined;
}

/**
 * The route step: one row per item into its family's raw table. With a writer from the sink the metric
 * rows are written by it (the JSONEachRow sink writes text straight from the batch); without one they
 * are row objects like every other family's.
 */
export function routeStep<M>(writeMetrics?: MetricRowWriter<M>) {
  return (batch: AnonymizedBatch<EnrichedBatch>, receivedAtMs: number): Routed<M> => ({
    key: { instance_id: batch.instance_id, batch_id: batch.batch_id },
    rows: route(batch, receivedAtMs, undefined, { metrics: !writeMetrics }),
    metrics: writeMetrics?.(batch, receivedAtMs),
  });
}
