import { errorBodySchema } from "../../../../lib/http/index.ts";
import { familyRecords, recordSchema } from "../../../../schemas/item-rules.ts";

/** Options that size the batch body schema. */
export interface BatchSchemaOptions {
  /** Most items in one batch, over all families. */
  maxItems: number;
}

/** One quality metric: the seed's {name, value, tags}; generated from the .avsc and schemas/item-rules.ts. */
export const metricSchema = recordSchema("Metric", "wire");
/** A library snapshot, sent on each library sync. */
export const librarySchema = recordSchema("LibrarySnapshot", "wire");
/** A playback event: played, skipped (with a reason), queued or removed. */
export const playbackSchema = recordSchema("PlaybackEvent", "wire");
/** A session event: started, ended, a user joining or leaving, or a periodic snapshot. */
export const sessionSchema = recordSchema("SessionEvent", "wire");
/** The instance's environment, sent at start-up. */
export const environmentSchema = recordSchema("Environment", "wire");

/** The item schemas by family, validated one item at a time (see the partial-batch policy). */
export const itemSchemas = {
  metrics: metricSchema,
  library: librarySchema,
  playback: playbackSchema,
  session: sessionSchema,
  environment: environmentSchema,
} as const;

/** The families a batch carries, as JSON field names. */
export type FamilyField = keyof typeof familyRecords;

/**
 * The envelope: everything but the items, which are only checked to be lists (objects) here so that one
 * bad item does not reject its whole batch. Unknown fields (a misspelled family) refuse the batch.
 */
export function envelopeSchema(opts: BatchSchemaOptions) {
  const wire = recordSchema("MetricsBatch", "wire");
  const list = { type: "array", maxItems: opts.maxItems, items: { type: "object" } };
  const properties = { ...wire.properties };
  for (const family of Object.keys(familyRecords)) {
    properties[family] = { ...properties[family], ...list };
  }
  properties.environment = { ...properties.environment, type: ["object", "null"] };
  properties.seq = { ...properties.seq, description: "per-instance batch sequence number, from 1" };
  // JSON bodies without a batch_id omit it; an empty one is refused (Avro's "" means "none").
  properties.batch_id = { ...properties.batch_id, minLength: 1 };
  return { ...wire, properties };
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
    headers: {
      "Sm-Clamped-Items": {
        type: "integer",
        description: "items whose future time was clamped (as `clamped`); absent when none",
      },
    },
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
