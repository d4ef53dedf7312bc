import { errorBodySchema } from "../../../../lib/http/index.ts";

/** The answer of an erasure request and of the status route: nothing that identifies the instance. */
export const erasureStatusSchema = {
  type: "object",
  required: ["job_id", "status", "step", "created_at", "started_at", "finished_at", "attempts", "removed"],
  properties: {
    job_id: { type: "string", format: "uuid" },
    status: { type: "string", enum: ["pending", "running", "done"] },
    step: {
      type: "string",
      enum: ["", "postgres", "redis", "jetstream", "clickhouse"],
      description: "the last step that finished",
    },
    created_at: { type: "string", format: "date-time" },
    started_at: { type: ["string", "null"], format: "date-time" },
    finished_at: { type: ["string", "null"], format: "date-time" },
    attempts: { type: "integer" },
    removed: {
      type: "object",
      additionalProperties: { type: "integer" },
      description: "rows, keys and messages removed, per store and table",
    },
  },
} as const;

/** Path parameters {id}: an instance id. */
export const instanceIdParams = {
  type: "object",
  required: ["id"],
  properties: { id: { type: "string", format: "uuid" } },
} as const;

/** Error answers. */
export const errorResponses = { "4xx": errorBodySchema, "5xx": errorBodySchema } as const;

/** Description shared by the erasure routes. */
export const ERASURE_DESCRIPTION =
  "Starts a durable job that removes the instance from every store: PostgreSQL (the instance, consent and " +
  "its history, activations, fingerprints, leases, flags, session stats, tokens; licenses are kept without " +
  "the link and the owner's e-mail), Redis, the telemetry and dead-letter streams, and every ClickHouse " +
  "table with an instance_id column. 202 with the job (follow it at GET /v1/erasures/{job}); a second request " +
  "answers the same job, 200 once it is done, and changes nothing. Audited (who, when, the job id).";

/** Description shared by the export routes. */
export const EXPORT_DESCRIPTION =
  "Everything stored about the instance in PostgreSQL and ClickHouse as gzip-compressed NDJSON " +
  "(Content-Type application/gzip): one JSON object per line and row with a `table` field; the first line " +
  "is {table: '_export', format, instance_id, generated_at}. Streamed with bounded memory. See privacy/README.md.";

/** The export answer in the OpenAPI document. */
export const exportResponses = {
  200: {
    description: "gzip NDJSON",
    content: { "application/gzip": { schema: { type: "string", format: "binary" } } },
  },
  ...errorResponses,
} as const;
