import { DiscardPolicy, RetentionPolicy, StorageType, type StreamConfig } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import type { Config } from "../config/index.ts";

/** Headers a dead-lettered message carries besides its original ones. */
export const DLQ_HEADERS = {
  /** Stable reason code of the step that gave up, e.g. unknown_schema. */
  reason: "Sm-Dlq-Reason",
  /** Human detail, at most 512 characters. */
  detail: "Sm-Dlq-Detail",
  /** Sequence of the message in the telemetry stream. */
  sourceSeq: "Sm-Dlq-Source-Seq",
  /** When it was dead-lettered, ms since the epoch. */
  at: "Sm-Dlq-At",
  /** How many times it was replayed already: the replay-loop guard. */
  replays: "Sm-Dlq-Replays",
} as const;

/** Subject dead letters are published on (outside the telemetry stream's subjects). */
export function deadLetterSubject(nats: Pick<Config["nats"], "subjectPrefix">): string {
  return `${nats.subjectPrefix}-dlq.batch`;
}

/** Name of the dead-letter stream of a telemetry stream. */
export function deadLetterStreamName(nats: Pick<Config["nats"], "stream">): string {
  return `${nats.stream}_DLQ`;
}

/**
 * The dead-letter stream: messages no step could process, kept for inspection and replay. Limits
 * retention with an age (30 days) and a size cap; when full the oldest go first (discard old), since
 * a processor must always be able to set a poison message aside rather than stall on it.
 */
export function deadLetterStreamConfig(
  nats: Config["nats"],
  bodyLimit: number,
): Partial<StreamConfig> & { name: string } {
  return {
    name: deadLetterStreamName(nats),
    subjects: [`${nats.subjectPrefix}-dlq.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_bytes: nats.deadLetterMaxBytes,
    max_age: nanos(30 * 86_400_000),
    max_msg_size: bodyLimit + 128 * 1024,
    num_replicas: nats.replicas,
  };
}
