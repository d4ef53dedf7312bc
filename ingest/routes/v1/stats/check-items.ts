import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { type MetricsBatch, metricFamily } from "../../../../schemas/index.ts";
import { familyRecords, recordSchema } from "../../../../schemas/item-rules.ts";
import type { FamilyField } from "./batch-schema.ts";
import type { RejectedItem } from "./from-json.ts";

/** An instance's consent per family (the design's four categories). */
export interface Consent {
  quality: boolean;
  playback: boolean;
  session: boolean;
  library: boolean;
}

/**
 * Which consent category each list of a batch falls under. The environment needs none: the design's
 * consent dialog leaves it (with licensing) working before any consent. Metrics are filed one by one by
 * what their name means (schemas/metric-families.ts; quality unless the name says otherwise).
 */
export const consentCategory: Record<FamilyField, keyof Consent | null> = {
  metrics: null,
  environment: null,
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
  /** Metrics dropped for lack of consent, by the consent family their name files them under. */
  filteredMetrics: Partial<Record<keyof Consent, number>>;
  /** Items whose future time (their own, or the batch's they go by) was clamped to the receive time. */
  clamped: number;
  /** Whether the batch timestamp itself was beyond the future tolerance (and was clamped). */
  timestampClamped: boolean;
  /** Whether the batch differs from the input (an Avro body must then be re-encoded). */
  changed: boolean;
  /** Items left. */
  items: number;
}

const ajv = new Ajv({ allErrors: false, strict: false, coerceTypes: false, strictNumbers: true });
const storedValidators = Object.fromEntries(
  Object.entries(familyRecords).map(([family, record]) => [
    family,
    ajv.compile(recordSchema(record, "stored")),
  ]),
) as Record<FamilyField, ValidateFunction>;
const storedEnvelope = ajv.compile(recordSchema("MetricsBatch", "stored"));

function firstError(errors: ErrorObject[] | null | undefined): string {
  const e = errors?.[0];
  if (!e) return "invalid";
  const where = e.instancePath ? e.instancePath.slice(1).replaceAll("/", ".") : "item";
  return `${where} ${e.message ?? "is invalid"}`;
}

/**
 * Why a decoded item cannot be stored (schemas/item-rules.ts: sign, range, length, pattern, finite
 * numbers), or undefined. JSON items passed the same rules' JSON Schema before; Avro items meet them here.
 */
export function itemProblem(family: FamilyField, item: unknown): string | undefined {
  const check = storedValidators[family];
  return check(item) ? undefined : firstError(check.errors);
}

/** Why a decoded batch's envelope (everything but the items) cannot be stored, or undefined. */
export function envelopeProblem(batch: MetricsBatch): string | undefined {
  return storedEnvelope(batch) ? undefined : firstError(storedEnvelope.errors).replace(/^item/, "body");
}

/**
 * The checks every batch passes, JSON or Avro: invalid items and items too old are dropped and
 * reported; future times beyond the tolerance are clamped to the receive time and counted; families
 * without consent are dropped and counted. Pure: the caller counts and publishes.
 */
export function checkItems(input: MetricsBatch, consent: Consent, rules: TimeRules): CheckedBatch {
  const rejected: RejectedItem[] = [];
  const filtered: Partial<Record<FamilyField, number>> = {};
  const filteredMetrics: Partial<Record<keyof Consent, number>> = {};
  let clamped = 0;
  let changed = false;
  const latest = rules.receivedAt + rules.futureToleranceMs;
  const oldest = rules.receivedAt - rules.maxAgeMs;
  const batch: MetricsBatch = { ...input };
  const timestampClamped = batch.timestamp_ms > latest;
  if (timestampClamped) {
    batch.timestamp_ms = rules.receivedAt;
    changed = true;
  }

  const keep = <T extends { time_ms?: number | null }>(
    family: FamilyField,
    items: T[],
    consented: (item: T) => boolean = () => true,
  ): T[] => {
    const category = consentCategory[family];
    if (category && !consent[category]) {
      if (items.length) {
        filtered[family] = items.length;
        changed = true;
      }
      return [];
    }
    const out: T[] = [];
    items.forEach((item, index) => {
      if (!consented(item)) return;
      // Times first: a far-future time (the batch's, for an item without its own) is clamped, not refused.
      const time = item.time_ms ?? input.timestamp_ms;
      if (time < oldest) {
        rejected.push({ family, index, reason: "time is older than the accepted age" });
        return;
      }
      const future = time > latest;
      const kept = future ? { ...item, time_ms: rules.receivedAt } : item;
      const problem = itemProblem(family, kept);
      if (problem) rejected.push({ family, index, reason: problem });
      else {
        if (future) clamped++;
        out.push(kept);
      }
    });
    if (out.length !== items.length || clamped) changed = true;
    return out;
  };

  batch.metrics = keep("metrics", input.metrics, (m) => {
    // A metric is consented by what it means: songs_played_total needs playback consent, whatever list
    // it came in. One without its family's consent is counted under metrics and under that family.
    // Consent is checked before the item rules (as for whole lists), so the name may not be a string yet.
    const family = typeof m.name === "string" ? metricFamily(m.name) : "quality";
    if (consent[family]) return true;
    filteredMetrics[family] = (filteredMetrics[family] ?? 0) + 1;
    filtered.metrics = (filtered.metrics ?? 0) + 1;
    return false;
  });
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
  return { batch, rejected, filtered, filteredMetrics, clamped, timestampClamped, changed, items };
}
