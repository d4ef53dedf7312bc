import type { JetStreamClient } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import type { NatsHandle } from "../../lib/clients/index.ts";
import { HttpErrors } from "../../lib/http/index.ts";
import { PIPELINE_HEADERS } from "../../lib/jetstream/index.ts";
import {
  METRICS_BATCH_SCHEMA,
  type MetricsBatch,
  SCHEMA_FINGERPRINT_HEADER,
  type SchemaRegistry,
} from "../../schemas/index.ts";
import { createStreamAcks } from "./stream-acks.ts";

/** What a publish did. */
export interface PublishResult {
  /** True when JetStream had this (instance, batch) already within its duplicate window. */
  duplicate: boolean;
  /** Stream sequence of the stored message. */
  seq: number;
}

/** What ingest knows about a batch that the batch itself does not carry; travels as NATS headers. */
export interface BatchMeta {
  receivedAt: number;
  /** The client's address, for the processors' country lookup; they discard it after. */
  clientIp: string;
  /** Receive time minus the instance's sent_at, ms (0 when the instance sent none). */
  clockSkewMs: number;
  /** Items whose future times were clamped. */
  clamped: number;
}

/** A batch to publish: a record to encode, or a client's Avro bytes passed through as they came. */
export type Publishable =
  | { kind: "record"; batch: MetricsBatch }
  | { kind: "encoded"; bytes: Uint8Array; fingerprint: string; instanceId: string; batchId: string };

/** Publishes batches, one message per batch, with a message id of (instance, batch). */
export interface BatchPublisher {
  publish(input: Publishable, meta: BatchMeta): Promise<PublishResult>;
  /** Largest message the stream takes, bytes. */
  readonly maxMessageBytes: number;
}

/** Options of the publisher. */
export interface BatchPublisherOptions {
  nats: NatsHandle;
  js: JetStreamClient;
  registry: SchemaRegistry;
  subject: string;
  /** How long to wait for JetStream's acknowledgement before giving up (503). */
  timeoutMs: number;
  maxMessageBytes: number;
}

// JetStream's API error codes for a stream that refuses a message because a limit is reached.
const STREAM_FULL_CODES = new Set([10047, 10077, 10078]);

/**
 * A publish only succeeds when JetStream acknowledged storing the message; anything else becomes a
 * 503 (PIPELINE_UNAVAILABLE or PIPELINE_FULL), so ingest never answers 202 for a batch it did not store.
 */
export function createBatchPublisher(opts: BatchPublisherOptions): BatchPublisher {
  const latest = opts.registry.latest(METRICS_BATCH_SCHEMA);
  const acks = createStreamAcks(opts.nats.nc);
  return {
    maxMessageBytes: opts.maxMessageBytes,
    async publish(input, meta) {
      // While disconnected the client would buffer and wait out the timeout; fail at once instead.
      if (!opts.nats.connected()) throw new HttpErrors.PIPELINE_UNAVAILABLE("not connected to NATS");
      let data: Uint8Array;
      try {
        data = input.kind === "record" ? latest.type.toBuffer(input.batch) : input.bytes;
      } catch (err) {
        // The route's checks keep values within the Avro types; this is the net under them.
        throw new HttpErrors.INVALID_BODY(
          `a value does not fit the schema: ${(err as Error).message.slice(0, 200)}`,
        );
      }
      if (data.byteLength > opts.maxMessageBytes) throw new HttpErrors.BATCH_TOO_LARGE(opts.maxMessageBytes);
      const instanceId = input.kind === "record" ? input.batch.instance_id : input.instanceId;
      const batchId = input.kind === "record" ? input.batch.batch_id : input.batchId;
      const h = headers();
      h.set(SCHEMA_FINGERPRINT_HEADER, input.kind === "record" ? latest.fingerprint : input.fingerprint);
      h.set(PIPELINE_HEADERS.receivedAt, String(meta.receivedAt));
      h.set(PIPELINE_HEADERS.clientIp, meta.clientIp);
      h.set(PIPELINE_HEADERS.clockSkewMs, String(meta.clockSkewMs));
      if (meta.clamped) h.set(PIPELINE_HEADERS.clamped, String(meta.clamped));
      // The dedup id JetStream drops retries by (what js.publish's msgID option sets).
      h.set("Nats-Msg-Id", `${instanceId}:${batchId}`);
      const ack = await acks.publish(opts.subject, data, h, opts.timeoutMs);
      if (ack.ok) return { duplicate: ack.duplicate, seq: ack.seq };
      if (STREAM_FULL_CODES.has(ack.errCode) || /maximum|insufficient/i.test(ack.description)) {
        throw new HttpErrors.PIPELINE_FULL({ cause: new Error(ack.description) });
      }
      throw new HttpErrors.PIPELINE_UNAVAILABLE(ack.description);
    },
  };
}
