import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import type { Config } from "../config/index.ts";
import type { Logger } from "../log/index.ts";
import { deadLetterStreamConfig } from "./dead-letter-stream.ts";

/** Subject every telemetry batch is published on. */
export function batchSubject(config: Pick<Config["nats"], "subjectPrefix">): string {
  return `${config.subjectPrefix}.batch`;
}

/**
 * The telemetry stream. Why each limit:
 * - workqueue retention: a batch is removed once the processors acked it, so the stream is a buffer
 *   in front of ClickHouse, sized for how long ClickHouse may be away, not an archive;
 * - discard new + max_bytes: when that buffer is full, publishing fails and ingest answers 503, so a
 *   client keeps its batch; discard old would delete batches that already got a 202;
 * - duplicate_window: a client retrying the same (instance, batch) within it is stored once;
 * - max_msg_size: a little above the ingest body limit, since a batch is one message.
 */
export function telemetryStreamConfig(
  nats: Config["nats"],
  bodyLimit: number,
): Partial<StreamConfig> & { name: string } {
  return {
    name: nats.stream,
    subjects: [`${nats.subjectPrefix}.>`],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    discard: DiscardPolicy.New,
    max_bytes: nats.streamMaxBytes,
    max_msg_size: bodyLimit + 64 * 1024,
    max_age: 0,
    num_replicas: nats.replicas,
    duplicate_window: nanos(nats.duplicateWindowMs),
  };
}

/** The processors' durable pull consumer: all workers share it, each message goes to one of them. */
export function processorConsumerConfig(nats: Config["nats"]) {
  return {
    durable_name: nats.consumer,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    // Long enough for a full batch insert under load; a crashed worker's messages return after it.
    ack_wait: nanos(30_000),
    max_ack_pending: 20_000,
    max_waiting: 512,
    filter_subject: `${nats.subjectPrefix}.>`,
  };
}

async function reconcileStream(
  jsm: JetStreamManager,
  desired: Partial<StreamConfig> & { name: string },
  log: Logger,
): Promise<void> {
  try {
    await jsm.streams.info(desired.name);
    await jsm.streams.update(desired.name, desired);
    log.debug({ stream: desired.name }, "stream reconciled");
  } catch (err) {
    if (!(err instanceof JetStreamApiError) || err.status !== 404) throw err;
    await jsm.streams.add(desired);
    log.info({ stream: desired.name }, "stream created");
  }
}

/**
 * Creates the telemetry stream, its dead-letter stream and the processors' consumer, or updates them
 * to the declared config.
 */
export async function reconcileTelemetryStream(
  jsm: JetStreamManager,
  config: Pick<Config, "nats" | "ingest">,
  log: Logger,
): Promise<void> {
  // On a NATS cluster, ingest and processors starting together create the same replicated stream at
  // once; NATS 2.9 may then answer neither (a timeout) or one with "already in use". The next try finds
  // the stream (created meanwhile) and updates it to the same config.
  for (let attempt = 1; ; attempt++) {
    try {
      return await reconcileOnce(jsm, config, log);
    } catch (err) {
      const racing =
        (err as Error)?.name === "TimeoutError" ||
        (err instanceof JetStreamApiError && /already in use/i.test(err.message));
      if (!racing || attempt >= 5) throw err;
      log.warn({ err, attempt }, "stream or consumer creation raced another process; retrying");
      await new Promise((r) => setTimeout(r, 200 * attempt + Math.random() * 300));
    }
  }
}

async function reconcileOnce(
  jsm: JetStreamManager,
  config: Pick<Config, "nats" | "ingest">,
  log: Logger,
): Promise<void> {
  const desired = telemetryStreamConfig(config.nats, config.ingest.bodyLimit);
  await reconcileStream(jsm, desired, log);
  await reconcileStream(jsm, deadLetterStreamConfig(config.nats, config.ingest.bodyLimit), log);
  const consumer = processorConsumerConfig(config.nats);
  try {
    await jsm.consumers.info(desired.name, consumer.durable_name);
    await jsm.consumers.update(desired.name, consumer.durable_name, {
      ack_wait: consumer.ack_wait,
      max_ack_pending: consumer.max_ack_pending,
      max_waiting: consumer.max_waiting,
    });
  } catch (err) {
    if (!(err instanceof JetStreamApiError) || err.status !== 404) throw err;
    await jsm.consumers.add(desired.name, consumer);
    log.info({ stream: desired.name, consumer: consumer.durable_name }, "consumer created");
  }
}
