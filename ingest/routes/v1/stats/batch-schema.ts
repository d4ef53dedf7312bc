import { errorBodySchema } from "../../../../lib/http/index.ts";

/** Options that size the batch body schema. */
export interface BatchSchemaOptions {
  maxMetrics: number;
}

/**
 * JSON schema of the seed's POST /v1/stats/batch body: {instance_id, timestamp, metrics:[{name, value, tags}]},
 * plus an optional client batch_id. Limits keep one batch within one JetStream message.
 */
export function batchRouteSchema(opts: BatchSchemaOptions) {
  return {
    summary: "Submit a telemetry batch",
    body: {
      type: "object",
      required: ["instance_id", "timestamp", "metrics"],
      properties: {
        instance_id: { type: "string", minLength: 1, maxLength: 128 },
        batch_id: { type: "string", minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9._:-]+$" },
        timestamp: { type: "string", format: "date-time" },
        metrics: {
          type: "array",
          minItems: 1,
          maxItems: opts.maxMetrics,
          items: {
            type: "object",
            required: ["name", "value"],
            properties: {
              name: { type: "string", minLength: 1, maxLength: 64, pattern: "^[A-Za-z][A-Za-z0-9_.]*$" },
              value: { type: "number" },
              tags: {
                type: "object",
                maxProperties: 32,
                propertyNames: { maxLength: 64 },
                additionalProperties: { type: "string", maxLength: 256 },
              },
            },
          },
        },
      },
    },
    response: {
      202: {
        type: "object",
        required: ["accepted", "batch_id", "duplicate"],
        properties: {
          accepted: { type: "integer", description: "metrics stored" },
          batch_id: { type: "string" },
          duplicate: { type: "boolean", description: "the batch was already stored (a retry)" },
        },
      },
      "4xx": errorBodySchema,
      "5xx": errorBodySchema,
    },
  } as const;
}

/** The body as validated by the schema. */
export interface BatchBody {
  instance_id: string;
  batch_id?: string;
  timestamp: string;
  metrics: { name: string; value: number; tags?: Record<string, string> }[];
}
