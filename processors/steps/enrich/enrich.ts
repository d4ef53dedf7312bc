import type { MetricsBatch } from "../../../schemas/index.ts";
import { drop, ok, type StepResult } from "../../runtime/result.ts";
import type { InstanceRecord } from "./instance-lookup.ts";

/** What the caller looked up for one batch before enriching it. */
export interface EnrichContext {
  /** The instance's row in PostgreSQL; undefined when no such instance exists. */
  instance: InstanceRecord | undefined;
  /** ISO 3166-1 alpha-2 country of the client's address, '' when unknown. */
  country: string;
}

/** A batch plus what the server knows about its instance and where it came from. */
export type EnrichedBatch = MetricsBatch & {
  /** The instance's tier from PostgreSQL (the truth, whatever the client claims). */
  tier: string;
  /** linux, darwin or windows: the batch's environment when it has one, else the registered platform. */
  platform: string;
  /** The batch's app_version, else the version the instance registered with; '' when neither is known. */
  appVersion: string;
  /** ISO 3166-1 alpha-2 country, '' when unknown; the address it came from is never kept. */
  country: string;
};

const COUNTRY = /^[A-Z]{2}$/;

/**
 * Adds tier, platform, app version and country to a batch. A batch whose instance PostgreSQL does not know
 * is dropped as unknown_instance: it passed ingest's authentication, so the row existed then, and its
 * absence now means the instance's data was erased (a dead letter would keep data meant to be gone).
 */
export function enrich(batch: MetricsBatch, ctx: EnrichContext): StepResult<EnrichedBatch> {
  const { instance } = ctx;
  if (!instance) return drop("unknown_instance");
  return ok({
    ...batch,
    tier: instance.tier,
    // The environment is what the instance runs on now; the registered platform may be older.
    platform: batch.environment?.os_platform || instance.platform,
    appVersion: batch.app_version || instance.version,
    country: COUNTRY.test(ctx.country) ? ctx.country : "",
  });
}
