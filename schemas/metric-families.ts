import { boundedMemo } from "../lib/memo.ts";
import { itemRules } from "./item-rules.ts";

/** The design's consent families. */
export type MetricFamily = "quality" | "playback" | "session" | "library";

// Fields of a family's own record that only make sense inside that record (times, ids, the song): a
// metric named like them says nothing about the family.
const GENERIC_FIELDS = new Set(["time_ms", "event_type", "session_id", "song", "user_id", "user_role"]);

const fieldsOf = (record: keyof typeof itemRules) =>
  Object.keys(itemRules[record]).filter((f) => !GENERIC_FIELDS.has(f));

/**
 * The one table that files a metric sent under `metrics` by what it means, for consent: the design
 * enforces consent "by what a metric means, not by which list it came in". A metric is filed under
 * playback, session or library when its name is one of that family's fields in the design's tables
 * (the family records of schemas/item-rules.ts, so a field added there is filed at once) or starts with
 * one of the family's prefixes; every other metric describes the software and is quality.
 *
 * | family   | names                                                                  | prefixes                   |
 * | -------- | ---------------------------------------------------------------------- | -------------------------- |
 * | playback | PlaybackEvent's fields (songs_played_total, wait_time_sec, skip_reason…) | playback_, song_, songs_, queue_ |
 * | session  | SessionEvent's fields (users_peak_concurrent, users_joined_total, room_count…) | session_, users_, user_, room_ |
 * | library  | LibrarySnapshot's fields (total_songs, songs_by_source, total_size_gb…) | library_                  |
 *
 * Names are compared lowercased with dots read as underscores (songs.played.total is songs_played_total).
 */
export const METRIC_FAMILY_TABLE: Readonly<
  Record<Exclude<MetricFamily, "quality">, { names: readonly string[]; prefixes: readonly string[] }>
> = Object.freeze({
  playback: {
    names: fieldsOf("PlaybackEvent"),
    prefixes: ["playback_", "song_", "songs_", "queue_"],
  },
  session: {
    names: fieldsOf("SessionEvent"),
    prefixes: ["session_", "users_", "user_", "room_"],
  },
  library: {
    names: fieldsOf("LibrarySnapshot"),
    prefixes: ["library_"],
  },
});

// Exact names are looked up before prefixes, so songs_by_source stays library although songs_ is playback's.
const byName = new Map<string, MetricFamily>();
for (const [family, { names }] of Object.entries(METRIC_FAMILY_TABLE)) {
  for (const n of names) if (!byName.has(n)) byName.set(n, family as MetricFamily);
}
const byPrefix = Object.entries(METRIC_FAMILY_TABLE).flatMap(([family, { prefixes }]) =>
  prefixes.map((p) => [p, family as MetricFamily] as const),
);

// Names repeat: a fleet sends a few dozen, each in every batch. Ingest files every metric of every batch,
// so the answer is remembered per name as sent (at most 4,096 names: lib/memo.ts).
const memo = boundedMemo<MetricFamily>(4096);

/** The consent family a metric's name files it under (see METRIC_FAMILY_TABLE); quality when none. */
export function metricFamily(name: string): MetricFamily {
  return memo(name, fileByName);
}

function fileByName(name: string): MetricFamily {
  const n = name.toLowerCase().replaceAll(".", "_");
  const exact = byName.get(n);
  if (exact) return exact;
  for (const [prefix, family] of byPrefix) if (n.startsWith(prefix)) return family;
  return "quality";
}
