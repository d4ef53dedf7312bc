import { errorBodySchema } from "../../../../lib/http/index.ts";

/** Options that size the batch body schema. */
export interface BatchSchemaOptions {
  /** Most items in one batch, over all families. */
  maxItems: number;
}

const time = {
  type: "string",
  format: "date-time",
  description: "RFC 3339; defaults to the batch timestamp",
};
const optString = (maxLength: number) => ({ type: ["string", "null"], maxLength });
// The Avro types' ranges: an int is 32-bit, and avsc refuses longs beyond 2^53 - 2.
const INT_MAX = 2_147_483_647;
const LONG_MAX = 2 ** 52;
const int = (type: string | string[] = "integer") => ({ type, minimum: 0, maximum: INT_MAX });
const long = (type: string | string[] = "integer") => ({ type, minimum: 0, maximum: LONG_MAX });
const counts = { type: "object", additionalProperties: long(), maxProperties: 64 };
const intCounts = { type: "object", additionalProperties: int(), maxProperties: 64 };

/** One quality metric: the seed's {name, value, tags}. */
export const metricSchema = {
  type: "object",
  required: ["name", "value"],
  additionalProperties: false,
  properties: {
    name: { type: "string", minLength: 1, maxLength: 64, pattern: "^[A-Za-z][A-Za-z0-9_.]*$" },
    value: { type: "number" },
    tags: {
      type: "object",
      maxProperties: 32,
      propertyNames: { maxLength: 64 },
      additionalProperties: { type: "string", maxLength: 256 },
    },
    time,
  },
} as const;

/** A library snapshot, sent on each library sync. */
export const librarySchema = {
  type: "object",
  required: ["total_songs"],
  additionalProperties: false,
  properties: {
    time,
    total_songs: long(),
    songs_by_source: counts,
    file_types: counts,
    total_size_gb: { type: "number", minimum: 0 },
    growth_rate: { type: "number" },
    avg_song_duration_sec: { type: "number", minimum: 0 },
  },
} as const;

/** A playback event: played, skipped (with a reason), queued or removed. */
export const playbackSchema = {
  type: "object",
  required: ["event_type", "song"],
  additionalProperties: false,
  properties: {
    time,
    event_type: { type: "string", enum: ["played", "skipped", "queued", "removed"] },
    session_id: optString(64),
    song: {
      type: "object",
      required: ["source"],
      additionalProperties: false,
      properties: {
        artist: optString(256),
        title: optString(256),
        duration_sec: int(["integer", "null"]),
        source: { type: "string", minLength: 1, maxLength: 32 },
        file_type: optString(16),
        file_path: optString(1024),
      },
    },
    skip_reason: { type: ["string", "null"], enum: ["user", "admin", "error", null] },
    wait_time_sec: { type: ["number", "null"], minimum: 0 },
    songs_played_session: int(["integer", "null"]),
    songs_played_total: long(["integer", "null"]),
    user_id: optString(128),
  },
} as const;

/** A session event: started, ended, a user joining or leaving, or a periodic snapshot. */
export const sessionSchema = {
  type: "object",
  required: ["session_id", "event_type"],
  additionalProperties: false,
  properties: {
    time,
    session_id: { type: "string", minLength: 1, maxLength: 64 },
    event_type: { type: "string", enum: ["started", "ended", "user_joined", "user_left", "snapshot"] },
    start: { type: ["string", "null"], format: "date-time" },
    duration_sec: { type: ["number", "null"], minimum: 0 },
    users_joined_total: int(["integer", "null"]),
    users_peak_concurrent: int(["integer", "null"]),
    users_by_role: intCounts,
    room_count: int(["integer", "null"]),
    user_id: optString(128),
    user_role: optString(32),
  },
} as const;

/** The instance's environment, sent at start-up. */
export const environmentSchema = {
  type: "object",
  required: ["version", "os_platform"],
  additionalProperties: false,
  properties: {
    time,
    version: { type: "string", maxLength: 32 },
    os_platform: { type: "string", maxLength: 32 },
    os_version: { type: "string", maxLength: 64 },
    go_version: { type: "string", maxLength: 32 },
    mpv_version: { type: "string", maxLength: 64 },
    cpu_cores: int(),
    ram_total_gb: { type: "number", minimum: 0 },
  },
} as const;

/** The item schemas by family, validated one item at a time (see the partial-batch policy). */
export const itemSchemas = {
  metrics: metricSchema,
  library: librarySchema,
  playback: playbackSchema,
  session: sessionSchema,
  environment: environmentSchema,
} as const;

/** The families a batch carries, as JSON field names. */
export type FamilyField = keyof typeof itemSchemas;

/**
 * The envelope: everything but the items, which are only checked to be lists (objects) here so that one
 * bad item does not reject its whole batch.
 */
export function envelopeSchema(opts: BatchSchemaOptions) {
  const list = { type: "array", maxItems: opts.maxItems, items: { type: "object" } };
  return {
    type: "object",
    required: ["instance_id", "timestamp"],
    properties: {
      instance_id: { type: "string", minLength: 1, maxLength: 128 },
      batch_id: { type: "string", minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9._:-]+$" },
      seq: { ...long(), description: "per-instance batch sequence number, from 1" },
      sent_at: {
        type: "string",
        format: "date-time",
        description: "the instance's clock when it sent the batch",
      },
      timestamp: { type: "string", format: "date-time" },
      app_version: { type: "string", maxLength: 32 },
      sdk_version: { type: "string", maxLength: 32 },
      privacy: {
        type: "object",
        additionalProperties: false,
        properties: {
          anonymize_songs: { type: "boolean" },
          anonymize_users: { type: "boolean" },
          exclude_local: { type: "boolean" },
        },
      },
      metrics: list,
      library: list,
      playback: list,
      session: list,
      environment: { type: ["object", "null"] },
    },
  } as const;
}

/** The full body schema, items included: what the OpenAPI document shows clients. */
export function documentedBodySchema(opts: BatchSchemaOptions) {
  const env = envelopeSchema(opts);
  const list = (items: object) => ({ type: "array", maxItems: opts.maxItems, items });
  return {
    ...env,
    properties: {
      ...env.properties,
      metrics: list(metricSchema),
      library: list(librarySchema),
      playback: list(playbackSchema),
      session: list(sessionSchema),
      environment: { ...environmentSchema, type: ["object", "null"] },
    },
  };
}

const rejected = {
  type: "array",
  items: {
    type: "object",
    properties: { family: { type: "string" }, index: { type: "integer" }, reason: { type: "string" } },
  },
};

/** Response schemas of the batch route. */
export const batchResponseSchemas = {
  202: {
    type: "object",
    required: ["accepted", "batch_id", "duplicate", "rejected"],
    properties: {
      accepted: { type: "integer", description: "items stored" },
      batch_id: { type: "string" },
      duplicate: {
        type: "boolean",
        description: "the batch was already stored (a retry); nothing stored again",
      },
      rejected: { ...rejected, description: "invalid items, dropped: family, index in its list, reason" },
      filtered: {
        type: "object",
        additionalProperties: { type: "integer" },
        description: "items dropped because the instance did not consent to their family",
      },
      clamped: { type: "integer", description: "items whose future time was clamped to the receive time" },
    },
  },
  400: {
    ...errorBodySchema,
    properties: { ...errorBodySchema.properties, rejected },
  },
  "4xx": errorBodySchema,
  "5xx": errorBodySchema,
} as const;
