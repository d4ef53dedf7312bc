import { JetStreamApiError, type JetStreamClient } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import type { NatsHandle } from "../../lib/clients/index.ts";
import { HttpErrors } from "../../lib/http/index.ts";
import {
  METRICS_BATCH_SCHEMA,
  type MetricsBatch,
  SCHEMA_FINGERPRINT_HEADER,
  type SchemaRegistry,
} from "../../schemas/index.ts";

/** What a publish did. */
export interface PublishResult {
  /** True when JetStream had this (instance, batch) already within its duplicate window. */
  duplicate: boolean;
  /** Stream sequence of the stored message. */
  seq: number;
}

/** Encodes batches with the latest schema and publishes them, one message per batch. */
export interface BatchPublisher {
  publish(batch: MetricsBatch): Promise<PublishResult>;
}

/** Options of the publisher. */
export interface BatchPublisherOptions {
  nats: NatsHandle;
  js: JetStreamClient;
  registry: SchemaRegistry;
  subject: string;
  /** How long to wait for JetStream's acknowledgement before giving up (503). */
  timeoutMs: number;
}

// JetStream's API error codes for a stream that refuses a message because a limit is reached.
const STREAM_FULL_CODES = new Set([10047, 10077, 10078]);

/**
 * A publish only succeeds when JetStream acknowledged storing the message; anything else becomes a
 * 503 (PIPELINE_UNAVAILABLE or PIPELINE_FULL), so ingest never answers 202 for a batch it did not store.
 */
export function createBatchPublisher(opts: BatchPublisherOptions): BatchPublisher {
  const schema = opts.registry.latest(METRICS_BATCH_SCHEMA);
  return {
    async publish(batch) {
      // While disconnected the client would buffer and wait out the timeout; fail at once instead.
      if (!opts.nats.connected()) throw new HttpErrors.PIPELINE_UNAVAILABLE("not connected to NATS");
      const h = headers();
      h.set(SCHEMA_FINGERPRINT_HEADER, schema.fingerprint);
      const data = schema.type.toBuffer(batch);
      try {
        const ack = await opts.js.publish(opts.subject, data, {
          msgID: `${batch.instance_id}:${batch.batch_id}`,
          headers: h,
          timeout: opts.timeoutMs,
        });
        return { duplicate: ack.duplicate, seq: ack.seq };
      } catch (err) {
        if (err instanceof JetStreamApiError && STREAM_FULL_CODES.has(err.code)) {
          throw new HttpErrors.PIPELINE_FULL({ cause: err });
        }
        if (err instanceof JetStreamApiError && /maximum|insufficient resources/i.test(err.message)) {
          throw new HttpErrors.PIPELINE_FULL({ cause: err });
        }
        throw new HttpErrors.PIPELINE_UNAVAILABLE((err as Error).message, { cause: err });
      }
    },
  };
}
