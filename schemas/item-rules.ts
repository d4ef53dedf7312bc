import { SchemaRegistry } from "./registry.ts";

/**
 * The one source of item rules. The .avsc gives each field's name and type; this table adds what Avro
 * cannot say: sign, range, length, pattern, and the ClickHouse column the value ends in. Both the JSON
 * Schema of the HTTP body (what clients see in the OpenAPI document) and the checks on decoded Avro
 * batches are generated from the two (see `wireSchema` and `storedSchema`); nothing else states a limit.
 * test/schemas/item-rules.test.ts fails when a field has no rule, a rule names no field, or a range does
 * not fit the ClickHouse column it is stored in.
 */
export interface FieldRule {
  /** Strings: most UTF-16 code units (ClickHouse LowCardinality and rollups keep every distinct value). */
  maxLength?: number;
  minLength?: number;
  /** Strings: a regular expression the whole value must match. */
  pattern?: string;
  /** Numbers: inclusive bounds. Integers default to their Avro type's range. */
  minimum?: number;
  maximum?: number;
  /** Maps: most entries, longest key. */
  maxProperties?: number;
  keyMaxLength?: number;
  /** Maps: the rule of each value. */
  values?: FieldRule;
  /** `table.column` of clickhouse/migrations the value is stored in; its type must hold the range. */
  column?: string;
  /** A family list of the batch: its items are checked one by one against their own record. */
  family?: boolean;
  /** How the field looks in a JSON body: another name, an RFC 3339 string for a ms time, required. */
  json?: { name?: string; dateTime?: boolean; required?: boolean; omit?: boolean };
}

/** ClickHouse DateTime holds seconds 0 … 2^32-1: the range of every stored time, in ms. */
export const TIME_RANGE = { minimum: 0, maximum: 4_294_967_295_000 } as const;
/** Counters stored as UInt32 but carried as Avro int: never negative. */
const U31 = { minimum: 0, maximum: 2_147_483_647 } as const;
/** Counters stored as UInt64, carried as Avro long: avsc refuses longs beyond 2^53 - 2. */
const U52 = { minimum: 0, maximum: 2 ** 52 } as const;
const time = (column?: string): FieldRule => ({
  ...TIME_RANGE,
  ...(column ? { column } : {}),
  json: { name: "time", dateTime: true },
});
const nonNegative = (column: string): FieldRule => ({ minimum: 0, column });
const text = (maxLength: number, column?: string, extra: FieldRule = {}): FieldRule => ({
  maxLength,
  ...(column ? { column } : {}),
  ...extra,
});
const counts = (column: string, values: FieldRule): FieldRule => ({
  maxProperties: 64,
  keyMaxLength: 64,
  values: { ...values, column },
});
const required = { json: { required: true } } as const;

/** Every field of every record of the latest MetricsBatch schema, by record name and Avro field name. */
export const itemRules = {
  MetricsBatch: {
    instance_id: text(128, "metrics_quality.instance_id", { minLength: 1, ...required }),
    batch_id: text(128, "metrics_quality.batch_id", { pattern: "^[A-Za-z0-9._:-]*$" }),
    seq: { ...U52 },
    sent_at_ms: { minimum: 0, maximum: 2 ** 52, json: { name: "sent_at", dateTime: true } },
    timestamp_ms: {
      minimum: -(2 ** 52),
      maximum: 2 ** 52,
      json: { name: "timestamp", dateTime: true, required: true },
    },
    received_at_ms: { minimum: 0, maximum: 2 ** 52, json: { omit: true } },
    app_version: text(32, "metrics_quality.app_version"),
    sdk_version: text(32),
    privacy: {},
    metrics: { family: true },
    library: { family: true },
    playback: { family: true },
    session: { family: true },
    environment: { family: true },
  },
  PrivacyFlags: { anonymize_songs: {}, anonymize_users: {}, exclude_local: {} },
  Metric: {
    name: text(64, "metrics_quality.metric_name", {
      minLength: 1,
      pattern: "^[A-Za-z][A-Za-z0-9_.]*$",
      ...required,
    }),
    value: { column: "metrics_quality.value", ...required },
    tags: { maxProperties: 32, keyMaxLength: 64, values: text(256, "metrics_quality.tags.value") },
    time_ms: time("metrics_quality.time"),
  },
  LibrarySnapshot: {
    time_ms: time("snapshots_library.time"),
    total_songs: { ...U52, column: "snapshots_library.total_songs", ...required },
    songs_by_source: counts("snapshots_library.songs_by_source.songs", U52),
    file_types: counts("snapshots_library.file_types.songs", U52),
    total_size_gb: nonNegative("snapshots_library.total_size_gb"),
    growth_rate: { column: "snapshots_library.growth_rate" },
    avg_song_duration_sec: nonNegative("snapshots_library.avg_song_duration_sec"),
  },
  PlaybackEvent: {
    time_ms: time("events_playback.time"),
    event_type: { column: "events_playback.event_type", ...required },
    session_id: text(64, "events_playback.session_id"),
    song: required,
    skip_reason: { column: "events_playback.skip_reason" },
    wait_time_sec: nonNegative("events_playback.wait_time_sec"),
    songs_played_session: { ...U31, column: "events_playback.songs_played_session" },
    songs_played_total: { ...U52, column: "events_playback.songs_played_total" },
    user_id: text(128),
  },
  Song: {
    artist: text(256),
    title: text(256),
    duration_sec: { ...U31, column: "events_playback.song_duration_sec" },
    source: text(32, "events_playback.song_source", { minLength: 1, ...required }),
    file_type: text(16, "events_playback.song_file_type"),
    file_path: text(1024),
  },
  SessionEvent: {
    time_ms: time("events_session.time"),
    session_id: text(64, "events_session.session_id", { minLength: 1, ...required }),
    event_type: { column: "events_session.event_type", ...required },
    start_ms: { ...TIME_RANGE, column: "events_session.start_time", json: { name: "start", dateTime: true } },
    duration_sec: nonNegative("events_session.duration_sec"),
    users_joined_total: { ...U31, column: "events_session.users_joined_total" },
    users_peak_concurrent: { ...U31, column: "events_session.users_peak_concurrent" },
    users_by_role: counts("events_session.users_by_role.users", U31),
    room_count: { ...U31, column: "events_session.room_count" },
    user_id: text(128),
    user_role: text(32, "events_session.user_role"),
  },
  Environment: {
    time_ms: time("environment.time"),
    version: text(32, "environment.version", required),
    os_platform: text(32, "environment.os_platform", required),
    os_version: text(64, "environment.os_version"),
    go_version: text(32, "environment.go_version"),
    mpv_version: text(64, "environment.mpv_version"),
    cpu_cores: { minimum: 0, maximum: 65_535, column: "environment.cpu_cores" },
    ram_total_gb: nonNegative("environment.ram_total_gb"),
  },
} as const satisfies Record<string, Record<string, FieldRule>>;

/** The records the rules cover. */
export type RuleRecord = keyof typeof itemRules;

const INT_RANGE = { minimum: -(2 ** 31), maximum: 2 ** 31 - 1 };
const LONG_RANGE = { minimum: -(2 ** 52), maximum: 2 ** 52 };

// biome-ignore lint/suspicious/noExplicitAny: Avro schema JSON is walked structurally.
type AvroJson = any;

/** The record definitions of the latest batch schema, by short name. */
export function latestRecords(): Map<string, AvroJson> {
  const registry = new SchemaRegistry();
  const json = registry.latest("songmartyn.stats.telemetry.MetricsBatch").json as AvroJson;
  const records = new Map<string, AvroJson>();
  const visit = (t: AvroJson): void => {
    if (Array.isArray(t)) {
      for (const branch of t) visit(branch);
      return;
    }
    if (!t || typeof t !== "object") return;
    if (t.type === "record") {
      records.set(t.name, t);
      for (const f of t.fields) visit(f.type);
    } else if (t.type === "array") visit(t.items);
    else if (t.type === "map") visit(t.values);
  };
  visit(json);
  return records;
}

const RECORDS = latestRecords();

/** Which JSON Schema to build: the JSON body's (names and times as clients send them) or the stored (decoded Avro) one. */
export type SchemaForm = "wire" | "stored";

// biome-ignore lint/suspicious/noExplicitAny: JSON Schema objects are built structurally.
type JsonSchema = Record<string, any>;

function nullable(schema: JsonSchema): JsonSchema {
  const out: JsonSchema = { ...schema, type: [schema.type, "null"] };
  if (schema.enum) out.enum = [...schema.enum, null];
  return out;
}

function valueSchema(t: AvroJson, rule: FieldRule, form: SchemaForm, doc?: string): JsonSchema {
  const described = (s: JsonSchema) => (doc ? { description: doc, ...s } : s);
  if (Array.isArray(t)) {
    const branch = t.find((b) => b !== "null");
    return nullable(valueSchema(branch, rule, form, doc));
  }
  const name = typeof t === "string" ? t : t.type;
  if (form === "wire" && rule.json?.dateTime && (name === "long" || name === "int")) {
    // Stored times must fit ClickHouse's DateTime; other times (the batch's own) are only clamped or aged.
    const stored =
      (rule.minimum ?? -1) >= TIME_RANGE.minimum && (rule.maximum ?? Infinity) <= TIME_RANGE.maximum;
    const range = stored
      ? ` within ${new Date(TIME_RANGE.minimum).toISOString()} … ${new Date(TIME_RANGE.maximum).toISOString()}`
      : "";
    const text = (doc ?? "").replace(/,? ms since the Unix epoch \(UTC\)/, "");
    return described({
      type: "string",
      format: "date-time",
      description: `${text} RFC 3339 date-time${range}.`.trim(),
    });
  }
  switch (name) {
    case "string": {
      const s: JsonSchema = { type: "string" };
      if (rule.minLength !== undefined) s.minLength = rule.minLength;
      if (rule.maxLength !== undefined) s.maxLength = rule.maxLength;
      if (rule.pattern !== undefined) s.pattern = rule.pattern;
      return described(s);
    }
    case "int":
    case "long": {
      const range = name === "int" ? INT_RANGE : LONG_RANGE;
      return described({
        type: "integer",
        minimum: rule.minimum ?? range.minimum,
        maximum: rule.maximum ?? range.maximum,
      });
    }
    case "float":
    case "double": {
      const s: JsonSchema = { type: "number" };
      if (rule.minimum !== undefined) s.minimum = rule.minimum;
      if (rule.maximum !== undefined) s.maximum = rule.maximum;
      return described(s);
    }
    case "boolean":
      return described({ type: "boolean" });
    case "enum":
      return described({ type: "string", enum: [...t.symbols] });
    case "map":
      return described({
        type: "object",
        ...(rule.maxProperties !== undefined ? { maxProperties: rule.maxProperties } : {}),
        ...(rule.keyMaxLength !== undefined ? { propertyNames: { maxLength: rule.keyMaxLength } } : {}),
        additionalProperties: valueSchema(t.values, rule.values ?? {}, form),
      });
    case "record":
      return recordSchema(t.name as RuleRecord, form);
    default: {
      const named = RECORDS.get(name);
      if (named) return recordSchema(name as RuleRecord, form);
      throw new Error(`item rules: no JSON Schema for Avro type ${JSON.stringify(t)}`);
    }
  }
}

/**
 * The JSON Schema of one record of the batch schema, from the .avsc and the rules. `wire`: the JSON
 * body (times as RFC 3339 strings under their JSON names, only the rules' required fields required);
 * `stored`: a decoded Avro value (every field present, times in ms within ClickHouse's DateTime range).
 * Array fields (the families) are left to the caller, which checks items one by one.
 */
export function recordSchema(record: RuleRecord, form: SchemaForm): JsonSchema {
  const avsc = RECORDS.get(record);
  if (!avsc) throw new Error(`item rules: no record ${record} in the latest schema`);
  const rules = itemRules[record] as Record<string, FieldRule>;
  const properties: JsonSchema = {};
  const requiredFields: string[] = [];
  for (const field of avsc.fields as { name: string; type: AvroJson; doc?: string }[]) {
    const rule = rules[field.name];
    if (!rule) throw new Error(`item rules: no rule for ${record}.${field.name}`);
    if (form === "wire" && rule.json?.omit) continue;
    const name = form === "wire" ? (rule.json?.name ?? field.name) : field.name;
    properties[name] = rule.family
      ? { description: field.doc }
      : valueSchema(field.type, rule, form, field.doc);
    if (form === "stored" || rule.json?.required) requiredFields.push(name);
  }
  // A decoded Avro record has exactly its fields (and avsc puts enumerable methods on its prototype).
  return form === "wire"
    ? { type: "object", additionalProperties: false, required: requiredFields, properties }
    : { type: "object", required: requiredFields, properties };
}

/** The Avro type's short record names a batch's families use, by JSON field name. */
export const familyRecords = {
  metrics: "Metric",
  library: "LibrarySnapshot",
  playback: "PlaybackEvent",
  session: "SessionEvent",
  environment: "Environment",
} as const satisfies Record<string, RuleRecord>;
