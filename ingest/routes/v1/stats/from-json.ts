import { createHash } from "node:crypto";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { dateTimeFormat, parseRfc3339 } from "../../../../lib/time/index.ts";
import type { MetricsBatch } from "../../../../schemas/index.ts";
import { type FamilyField, itemSchemas } from "./batch-schema.ts";

/** One item dropped from a batch: which list, where in it, and why. */
export interface RejectedItem {
  family: FamilyField;
  index: number;
  reason: string;
}

/** A JSON body after the envelope passed the route schema. */
export interface JsonBatchBody {
  instance_id: string;
  batch_id?: string;
  seq?: number;
  sent_at?: string;
  timestamp: string;
  app_version?: string;
  sdk_version?: string;
  privacy?: { anonymize_songs?: boolean; anonymize_users?: boolean; exclude_local?: boolean };
  metrics?: Record<string, unknown>[];
  library?: Record<string, unknown>[];
  playback?: Record<string, unknown>[];
  session?: Record<string, unknown>[];
  environment?: Record<string, unknown> | null;
}

const ajv = new Ajv({ allErrors: false, strict: false, coerceTypes: false });
ajv.addFormat("date-time", dateTimeFormat);
const validators = Object.fromEntries(
  Object.entries(itemSchemas).map(([family, schema]) => [family, ajv.compile(schema)]),
) as Record<FamilyField, ValidateFunction>;

// One validator over a whole list: the common case (every item valid) costs one call, not one per item.
const listValidators = Object.fromEntries(
  Object.entries(itemSchemas).map(([family, schema]) => [
    family,
    ajv.compile({ type: "array", items: schema }),
  ]),
) as Record<FamilyField, ValidateFunction>;

function reason(errors: ErrorObject[] | null | undefined): string {
  const e = errors?.[0];
  if (!e) return "invalid";
  return `${e.instancePath || "item"} ${e.message ?? "invalid"}`.trim();
}

// Times passed the schema's date-time format, which accepts exactly what parseRfc3339 reads.
const time = (value: unknown): number | null =>
  typeof value === "string" ? (parseRfc3339(value) as number) : null;
const ms = (value: unknown, fallback: number): number => time(value) ?? fallback;
const orNull = <T>(v: T | undefined): T | null => (v === undefined ? null : v);

/**
 * Maps a JSON body onto the Avro record, item by item. An item that fails its schema is left out and
 * reported (the partial-batch policy: a batch keeps its valid items); the envelope was validated before.
 */
export function fromJson(
  body: JsonBatchBody,
  receivedAt: number,
): { batch: MetricsBatch; rejected: RejectedItem[] } {
  const rejected: RejectedItem[] = [];
  const timestamp = time(body.timestamp) as number;
  const valid = <T>(
    family: FamilyField,
    items: Record<string, unknown>[] | undefined,
    // biome-ignore lint/suspicious/noExplicitAny: the item passed its family's JSON schema just before `map` runs.
    map: (i: any) => T,
  ): T[] => {
    if (!items || items.length === 0) return [];
    if ((listValidators[family] as (data: unknown) => boolean)(items)) return items.map(map);
    const out: T[] = [];
    items.forEach((item, index) => {
      const check = validators[family];
      if (check(item)) out.push(map(item));
      else rejected.push({ family, index, reason: reason(check.errors) });
    });
    return out;
  };
  const metrics = valid("metrics", body.metrics, (m) => ({
    name: m.name,
    value: m.value,
    tags: m.tags ?? {},
    time_ms: time(m.time),
  }));
  const library = valid("library", body.library, (l) => ({
    time_ms: ms(l.time, timestamp),
    total_songs: l.total_songs,
    songs_by_source: l.songs_by_source ?? {},
    file_types: l.file_types ?? {},
    total_size_gb: l.total_size_gb ?? 0,
    growth_rate: l.growth_rate ?? 0,
    avg_song_duration_sec: l.avg_song_duration_sec ?? 0,
  }));
  const playback = valid("playback", body.playback, (p) => ({
    time_ms: ms(p.time, timestamp),
    event_type: p.event_type,
    session_id: orNull(p.session_id),
    song: {
      artist: orNull(p.song.artist),
      title: orNull(p.song.title),
      duration_sec: orNull(p.song.duration_sec),
      source: p.song.source,
      file_type: orNull(p.song.file_type),
      file_path: orNull(p.song.file_path),
    },
    skip_reason: orNull(p.skip_reason),
    wait_time_sec: orNull(p.wait_time_sec),
    songs_played_session: orNull(p.songs_played_session),
    songs_played_total: orNull(p.songs_played_total),
    user_id: orNull(p.user_id),
  }));
  const session = valid("session", body.session, (s) => ({
    time_ms: ms(s.time, timestamp),
    session_id: s.session_id,
    event_type: s.event_type,
    start_ms: time(s.start),
    duration_sec: orNull(s.duration_sec),
    users_joined_total: orNull(s.users_joined_total),
    users_peak_concurrent: orNull(s.users_peak_concurrent),
    users_by_role: s.users_by_role ?? {},
    room_count: orNull(s.room_count),
    user_id: orNull(s.user_id),
    user_role: orNull(s.user_role),
  }));
  const [environment = null] = valid("environment", body.environment ? [body.environment] : [], (e) => ({
    time_ms: ms(e.time, timestamp),
    version: e.version,
    os_platform: e.os_platform,
    os_version: e.os_version ?? "",
    go_version: e.go_version ?? "",
    mpv_version: e.mpv_version ?? "",
    cpu_cores: e.cpu_cores ?? 0,
    ram_total_gb: e.ram_total_gb ?? 0,
  }));
  const batch: MetricsBatch = {
    instance_id: body.instance_id,
    batch_id: body.batch_id ?? "",
    seq: body.seq ?? 0,
    sent_at_ms: time(body.sent_at) ?? 0,
    timestamp_ms: timestamp,
    received_at_ms: receivedAt,
    app_version: body.app_version ?? "",
    sdk_version: body.sdk_version ?? "",
    privacy: {
      anonymize_songs: body.privacy?.anonymize_songs ?? true,
      anonymize_users: body.privacy?.anonymize_users ?? true,
      exclude_local: body.privacy?.exclude_local ?? true,
    },
    metrics,
    library,
    playback,
    session,
    environment,
  };
  if (!batch.batch_id) batch.batch_id = contentId(body);
  return { batch, rejected };
}

/**
 * The id of a batch sent without batch_id: a digest of its content, so a client that retries the same
 * body gets the same id and JetStream's duplicate window drops the retry.
 */
export function contentId(content: unknown): string {
  return createHash("sha256").update(JSON.stringify(content)).digest("base64url").slice(0, 32);
}
