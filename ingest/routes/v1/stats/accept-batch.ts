import { HttpErrors } from "../../../../lib/http/index.ts";
import type { MetricsBatch } from "../../../../schemas/index.ts";
import type { Publishable } from "../../../publish/batch-publisher.ts";
import type { FamilyField } from "./batch-schema.ts";
import { type Consent, checkItems, type TimeRules } from "./check-items.ts";
import type { RejectedItem } from "./from-json.ts";
import type { ParsedBatch } from "./parse-batch.ts";

/** Items dropped for lack of consent, by family. */
export type Filtered = Partial<Record<FamilyField, number>>;
/** Metrics dropped for lack of consent, by the consent family their name files them under. */
export type FilteredMetrics = Partial<Record<keyof Consent, number>>;

/**
 * What to do with a parsed batch:
 * - invalid: answer 400 with the rejected items (no item left, or none sent);
 * - filtered: answer 202 with nothing stored (every item was filtered for lack of consent);
 * - publish: publish `input`, then answer 202.
 */
export type BatchDecision =
  | {
      kind: "invalid";
      message: string;
      rejected: RejectedItem[];
      filtered: Filtered;
      filteredMetrics: FilteredMetrics;
    }
  | {
      kind: "filtered";
      batchId: string;
      rejected: RejectedItem[];
      filtered: Filtered;
      filteredMetrics: FilteredMetrics;
    }
  | {
      kind: "publish";
      input: Publishable;
      /** The checked batch `input` carries (as bytes or as a record), for steps after this one. */
      batch: MetricsBatch;
      batchId: string;
      instanceId: string;
      seq: number;
      /** Items to store, by family. */
      counts: Record<FamilyField, number>;
      items: number;
      rejected: RejectedItem[];
      filtered: Filtered;
      filteredMetrics: FilteredMetrics;
      clamped: number;
      /** Receive time minus the instance's sent_at, ms; undefined when the batch names no sent_at. */
      clockSkewMs: number | undefined;
    };

/** The instance a batch arrived from, as authentication found it. */
export interface BatchSender {
  instanceId: string;
  consent: Consent;
}

function countItems(batch: ParsedBatch["batch"]): Record<FamilyField, number> {
  return {
    metrics: batch.metrics.length,
    library: batch.library.length,
    playback: batch.playback.length,
    session: batch.session.length,
    environment: batch.environment ? 1 : 0,
  };
}

/**
 * Decides, without I/O, what of a parsed batch is rejected, filtered (consent) and published, by the
 * rules of schemas/item-rules.ts (through checkItems). Throws INSTANCE_MISMATCH for a batch of another
 * instance than the token's.
 */
export function acceptBatch(parsed: ParsedBatch, sender: BatchSender, rules: TimeRules): BatchDecision {
  const { batch } = parsed;
  if (batch.instance_id !== sender.instanceId) throw new HttpErrors.INSTANCE_MISMATCH();
  const checked = checkItems(batch, sender.consent, rules);
  const rejected = parsed.rejected.concat(checked.rejected);
  if (checked.items === 0) {
    if (rejected.length > 0 || Object.keys(checked.filtered).length === 0) {
      const message = rejected.length ? "no valid item in the batch" : "the batch carries no items";
      return {
        kind: "invalid",
        message,
        rejected,
        filtered: checked.filtered,
        filteredMetrics: checked.filteredMetrics,
      };
    }
    // Everything was filtered for lack of consent: nothing to store, nothing wrong with the request.
    return {
      kind: "filtered",
      batchId: batch.batch_id,
      rejected,
      filtered: checked.filtered,
      filteredMetrics: checked.filteredMetrics,
    };
  }
  // The bytes sent are published as they are unless the checks changed the batch.
  const input: Publishable =
    parsed.original && !checked.changed
      ? {
          kind: "encoded",
          bytes: parsed.original.bytes,
          fingerprint: parsed.original.fingerprint,
          instanceId: batch.instance_id,
          batchId: batch.batch_id,
        }
      : { kind: "record", batch: { ...checked.batch, received_at_ms: rules.receivedAt } };
  return {
    kind: "publish",
    input,
    batch: checked.batch,
    batchId: batch.batch_id,
    instanceId: batch.instance_id,
    seq: batch.seq,
    counts: countItems(checked.batch),
    items: checked.items,
    rejected,
    filtered: checked.filtered,
    filteredMetrics: checked.filteredMetrics,
    clamped: checked.clamped,
    clockSkewMs: batch.sent_at_ms > 0 ? rules.receivedAt - batch.sent_at_ms : undefined,
  };
}
