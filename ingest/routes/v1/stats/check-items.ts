import type { MetricsBatch } from "../../../../schemas/index.ts";
import type { FamilyField } from "./batch-schema.ts";
import type { RejectedItem } from "./from-json.ts";

/** An instance's consent per family (the design's four categories). */
export interface Consent {
  quality: boolean;
  playback: boolean;
  session: boolean;
  library: boolean;
}

/** Which consent category each list of a batch falls under; the environment travels with quality. */
export const consentCategory: Record<FamilyField, keyof Consent> = {
  metrics: "quality",
  environment: "quality",
  library: "library",
  playback: "playback",
  session: "session",
};

/** Limits of the time checks. */
export interface TimeRules {
  receivedAt: number;
  /** Times further in the future than this are clamped to the receive time. */
  futureToleranceMs: number;
  /** Times older than this are rejected. */
  maxAgeMs: number;
}

/** What the checks did to a batch. */
export interface CheckedBatch {
  batch: MetricsBatch;
  rejected: RejectedItem[];
  /** Items dropped for lack of consent, by family. */
  filtered: Partial<Record<FamilyField, number>>;
  clamped: number;
  /** Whether the batch differs from the input (an Avro body must then be re-encoded). */
  changed: boolean;
  /** Items left. */
  items: number;
}

const METRIC_NAME = /^[A-Za-z][A-Za-z0-9_.]{0,63}$/;

function finite(...values: (number | null | undefined)[]): boolean {
  return values.every((v) => v === null || v === undefined || Number.isFinite(v));
}

/** Checks on a decoded item that the Avro types cannot express (JSON items passed their schema already). */
// biome-ignore lint/suspicious/noExplicitAny: the item's type follows `family`; each case reads its own fields.
function itemProblem(family: FamilyField, item: any): string | undefined {
  switch (family) {
    case "metrics":
      if (!METRIC_NAME.test(item.name)) return "name must match ^[A-Za-z][A-Za-z0-9_.]{0,63}$";
      if (!finite(item.value)) return "value must be a finite number";
      if (Object.keys(item.tags).length > 32) return "at most 32 tags";
      return undefined;
    case "library":
      return finite(item.total_size_gb, item.growth_rate, item.avg_song_duration_sec)
        ? undefined
        : "numbers must be finite";
    case "playback":
      if (!item.song?.source) return "song.source is required";
      return finite(item.wait_time_sec) ? undefined : "wait_time_sec must be finite";
    case "session":
      if (!item.session_id) return "session_id is required";
      return finite(item.duration_sec) ? undefined : "duration_sec must be finite";
    case "environment":
      return finite(item.ram_total_gb) ? undefined : "ram_total_gb must be finite";
  }
}

/**
 * The checks every batch passes, JSON or Avro: invalid items and items too old are dropped and
 * reported; future times beyond the tolerance are clamped to the receive time and counted; families
 * without consent are dropped and counted. Pure: the caller counts and publishes.
 */
export function checkItems(input: MetricsBatch, consent: Consent, rules: TimeRules): CheckedBatch {
  const rejected: RejectedItem[] = [];
  const filtered: Partial<Record<FamilyField, number>> = {};
  let clamped = 0;
  let changed = false;
  const latest = rules.receivedAt + rules.futureToleranceMs;
  const oldest = rules.receivedAt - rules.maxAgeMs;
  const batch: MetricsBatch = { ...input };
  if (batch.timestamp_ms > latest) {
    batch.timestamp_ms = rules.receivedAt;
    changed = true;
  }

  const keep = <T extends { time_ms?: number | null }>(family: FamilyField, items: T[]): T[] => {
    if (!consent[consentCategory[family]]) {
      if (items.length) {
        filtered[family] = items.length;
        changed = true;
      }
      return [];
    }
    const out: T[] = [];
    items.forEach((item, index) => {
      const problem = itemProblem(family, item);
      const time = item.time_ms ?? batch.timestamp_ms;
      if (problem) rejected.push({ family, index, reason: problem });
      else if (time < oldest) rejected.push({ family, index, reason: "time is older than the accepted age" });
      else if (time > latest) {
        clamped++;
        out.push({ ...item, time_ms: rules.receivedAt });
        return;
      } else out.push(item);
    });
    if (out.length !== items.length || clamped) changed = true;
    return out;
  };

  batch.metrics = keep("metrics", input.metrics);
  batch.library = keep("library", input.library);
  batch.playback = keep("playback", input.playback);
  batch.session = keep("session", input.session);
  batch.environment = keep("environment", input.environment ? [input.environment] : [])[0] ?? null;
  const items =
    batch.metrics.length +
    batch.library.length +
    batch.playback.length +
    batch.session.length +
    (batch.environment ? 1 : 0);
  return { batch, rejected, filtered, clamped, changed, items };
}
