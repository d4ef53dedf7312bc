import type { JetStreamManager } from "@nats-io/jetstream";
import type { Redis } from "ioredis";
import type { Config } from "../lib/config/index.ts";
import { deadLetterStreamName } from "../lib/jetstream/index.ts";
import type { PipelineHealth } from "./figures.ts";

/**
 * Reads pipeline health now: the processors' consumer backlog, the dead-letter stream's size, and the
 * sequence gaps still open in ingest's per-instance trackers (Redis, scanned in pages).
 */
export async function readPipelineHealth(
  jsm: JetStreamManager,
  redis: Redis,
  config: Readonly<Config>,
): Promise<PipelineHealth> {
  const lag = await jsm.consumers
    .info(config.nats.stream, config.nats.consumer)
    .then((i) => i.num_pending + i.num_ack_pending)
    .catch(() => null);
  const deadLetters = await jsm.streams
    .info(deadLetterStreamName(config.nats))
    .then((s) => s.state.messages)
    .catch(() => null);
  let openSequenceGaps: number | null = 0;
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(
        cursor,
        "MATCH",
        `${config.redis.keyPrefix}seq:*:missing`,
        "COUNT",
        1000,
      );
      cursor = next;
      for (const key of keys) openSequenceGaps += await redis.zcard(key);
    } while (cursor !== "0");
  } catch {
    openSequenceGaps = null;
  }
  return { lag, deadLetters, openSequenceGaps };
}
