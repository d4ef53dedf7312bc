import type { MetricsBatch } from "../../schemas/index.ts";
import { ok, type StepResult } from "../runtime/result.ts";
import {
  type AnonymizedBatch,
  anonymize,
  PLATFORMS,
  type ShapeReport,
  shapeEnum,
  shapeVersion,
} from "./anonymize/index.ts";
import { type PreaggregateReport, preaggregate } from "./downsample/index.ts";
import { type EnrichedBatch, enrich, type InstanceRecord } from "./enrich/index.ts";
import { emptyRows, route, type TableRows } from "./route/index.ts";

/** What the pure steps need besides the batch: the looked-up instance, the country, the hash secret. */
export interface StepContext {
  /** The instance's record from PostgreSQL; undefined drops the batch (unknown instance). */
  instance: InstanceRecord | undefined;
  /** ISO country from the client's address ('' when unknown). */
  country: string;
  /** The anonymize step's keyed-hash secret. */
  secret: Buffer;
}

/** A batch after enrich → anonymize → downsample, ready to route, and what downsample combined. */
export interface PreparedBatch {
  batch: AnonymizedBatch<EnrichedBatch>;
  downsampled: PreaggregateReport;
}

/**
 * The anonymize step: keyed hashes, no paths, titles only with the opt-in, every string in its shape
 * (the row's platform and app version too). Never drops a batch; `report` hears of each value shaped.
 */
export const anonymizeStep =
  (secret: Buffer, report?: ShapeReport) =>
  (batch: EnrichedBatch): StepResult<AnonymizedBatch<EnrichedBatch>> => {
    const out = anonymize(batch, { secret, report });
    const r = report ?? (() => {});
    return ok({
      ...out,
      platform: out.platform ? shapeEnum("platform", out.platform, PLATFORMS, r) : "",
      appVersion: shapeVersion("app_version", out.appVersion, r),
    });
  };

/** The downsample step: pre-aggregates metrics reported faster than analysis needs; tells `report` what it did. */
export const downsampleStep =
  (report?: (r: PreaggregateReport) => void) =>
  (batch: AnonymizedBatch<EnrichedBatch>): StepResult<AnonymizedBatch<EnrichedBatch>> => {
    const out = preaggregate(batch);
    report?.(out.report);
    return ok(out.batch);
  };

/**
 * The processors' pure steps between decode and route, in the topology's order, for every loader that
 * writes rows without a processor (tests, benchmarks): the same step functions the topology runs, so
 * they store exactly what the pipeline stores.
 */
export function prepareBatch(batch: MetricsBatch, ctx: StepContext): StepResult<PreparedBatch> {
  const enriched = enrich(batch, { instance: ctx.instance, country: ctx.country });
  if (enriched.kind !== "ok") return enriched;
  let downsampled: PreaggregateReport = { samples: 0, rows: 0 };
  const anonymized = anonymizeStep(ctx.secret)(enriched.value);
  if (anonymized.kind !== "ok") return anonymized;
  const prepared = downsampleStep((r) => {
    downsampled = r;
  })(anonymized.value);
  if (prepared.kind !== "ok") return prepared;
  return ok({ batch: prepared.value, downsampled });
}

/** prepareBatch, then route: the rows the processor would insert for a batch (throws if a step refuses it). */
export function batchToRows(
  batch: MetricsBatch,
  ctx: StepContext,
  receivedAtMs: number,
  into: TableRows = emptyRows(),
): TableRows {
  const prepared = prepareBatch(batch, ctx);
  if (prepared.kind !== "ok") throw new Error(`the steps refused batch ${batch.batch_id}: ${prepared.kind}`);
  return route(prepared.value.batch, receivedAtMs, into);
}
