import { createHash } from "node:crypto";
import type { FastifyInstance } from "fastify";
import type { ComponentMetrics } from "../../../../lib/metrics/index.ts";
import type { MetricsBatch } from "../../../../schemas/index.ts";
import type { BatchPublisher } from "../../../publish/batch-publisher.ts";
import { type BatchBody, batchRouteSchema } from "./batch-schema.ts";

/** Options of the batch route. */
export interface BatchRouteOptions {
  publisher: BatchPublisher;
  maxMetrics: number;
  /** Counts batches (received, sent, dropped by reason). */
  batches: ComponentMetrics;
  /** Counts metrics inside batches. */
  metrics: ComponentMetrics;
}

/** Turns a validated body into the Avro record; a missing batch_id becomes a digest of the body. */
export function toBatchRecord(body: BatchBody, receivedAt: number): MetricsBatch {
  const metrics = body.metrics.map((m) => ({ name: m.name, value: m.value, tags: m.tags ?? {} }));
  // A client that retries the same body gets the same id, so JetStream's duplicate window drops the retry.
  const batchId =
    body.batch_id ??
    createHash("sha256")
      .update(JSON.stringify([body.timestamp, metrics]))
      .digest("base64url")
      .slice(0, 32);
  return {
    instance_id: body.instance_id,
    batch_id: batchId,
    timestamp_ms: Date.parse(body.timestamp),
    received_at_ms: receivedAt,
    metrics,
  };
}

/** POST /v1/stats/batch: validate, encode, publish to JetStream, then 202. */
export async function batchRoute(app: FastifyInstance, opts: BatchRouteOptions) {
  app.post<{ Body: BatchBody }>(
    "/v1/stats/batch",
    { schema: batchRouteSchema(opts) },
    async (request, reply) => {
      const record = toBatchRecord(request.body, Date.now());
      opts.batches.received();
      opts.metrics.received(record.metrics.length);
      try {
        const result = await opts.publisher.publish(record);
        if (result.duplicate) {
          opts.batches.dropped("duplicate");
          opts.metrics.dropped("duplicate", record.metrics.length);
        } else {
          opts.batches.sent();
          opts.metrics.sent(record.metrics.length);
        }
        return reply.code(202).send({
          accepted: result.duplicate ? 0 : record.metrics.length,
          batch_id: record.batch_id,
          duplicate: result.duplicate,
        });
      } catch (err) {
        // Not stored: the client keeps the batch and retries after Retry-After.
        opts.batches.error((err as { code?: string }).code ?? "publish");
        throw err;
      }
    },
  );
}
