import type { Redis } from "ioredis";
import { createTimedBatcher } from "../../lib/clients/index.ts";

/** What one sequence number meant for its instance's stream of batches. */
export type SequenceOutcome = "first" | "next" | "gap" | "late" | "repeat" | "untracked";

/** Per-instance accounting of `seq`: gaps (possible loss), late fills of gaps, and repeats. */
export interface SequenceTracker {
  /** Records a batch's seq; `missing` is how many sequence numbers the batch skipped over. */
  record(instanceId: string, seq: number): Promise<{ outcome: SequenceOutcome; missing: number }>;
  /** Records what is waiting now and resolves once every record so far is answered (before Redis closes). */
  flush(): Promise<void>;
}

// The highest seq seen and a bounded set of seqs skipped over. A later batch carrying a skipped seq
// (an offline buffer flushed out of order) fills the gap instead of counting as a repeat, so
// "gaps opened − gaps filled" is the loss between the instance and the stream. One call records the
// seqs of every batch stored in one turn of ingest's event loop (KEYS: max and missing per batch, in
// order; ARGV: maxGap, ttl, then the seqs), so a burst costs one round trip, not one per batch; two
// batches of one instance in a call are applied in the order they were stored. Nobody waits on a record
// (ingest answers once the batch is stored), so records wait up to `waitMs` for others: with batches
// arriving one at a time, one round trip per `waitMs` rather than one per batch.
const SCRIPT = `
local maxGap = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local out = {}
for b = 1, #KEYS / 2 do
  local kMax, kMissing = KEYS[2 * b - 1], KEYS[2 * b]
  local seq = tonumber(ARGV[b + 2])
  local max = tonumber(redis.call('GET', kMax) or '0')
  local outcome, missing = 'next', 0
  if max == 0 then
    outcome = 'first'
    redis.call('SET', kMax, seq, 'PX', ttl)
  elseif seq == max + 1 then
    redis.call('SET', kMax, seq, 'PX', ttl)
  elseif seq > max + 1 then
    outcome = 'gap'
    missing = seq - max - 1
    local from = math.max(max + 1, seq - maxGap)
    for s = from, seq - 1 do redis.call('ZADD', kMissing, s, s) end
    redis.call('ZREMRANGEBYRANK', kMissing, 0, -maxGap - 1)
    redis.call('PEXPIRE', kMissing, ttl)
    redis.call('SET', kMax, seq, 'PX', ttl)
  elseif redis.call('ZREM', kMissing, seq) == 1 then
    outcome = 'late'
  else
    outcome = 'repeat'
  end
  out[#out + 1] = outcome
  out[#out + 1] = missing
end
return out`;

/** A sequence tracker in Redis; state expires after `ttlMs` without batches (30 days by default). */
export function createSequenceTracker(
  redis: Redis,
  prefix: string,
  ttlMs = 30 * 86_400_000,
  maxGap = 1000,
  waitMs = 20,
): SequenceTracker {
  // Without numberOfKeys the first argument says how many keys follow.
  redis.defineCommand("smstatsSeqMany", { lua: SCRIPT });
  const run = (redis as unknown as { smstatsSeqMany(...a: unknown[]): Promise<(string | number)[]> })
    .smstatsSeqMany;
  const recordMany = createTimedBatcher<{ instanceId: string; seq: number }, [SequenceOutcome, number]>(
    async (items) => {
      const keys = items.flatMap((i) => [
        `${prefix}seq:${i.instanceId}:max`,
        `${prefix}seq:${i.instanceId}:missing`,
      ]);
      const out = await run.call(redis, keys.length, ...keys, maxGap, ttlMs, ...items.map((i) => i.seq));
      return items.map((_, k) => [out[2 * k] as SequenceOutcome, Number(out[2 * k + 1])]);
    },
    waitMs,
  );
  return {
    async record(instanceId, seq) {
      if (!Number.isSafeInteger(seq) || seq <= 0) return { outcome: "untracked", missing: 0 };
      const [outcome, missing] = await recordMany({ instanceId, seq });
      return { outcome, missing };
    },
    flush: () => recordMany.flush(),
  };
}

/** What the tracker holds for one instance: the highest seq seen and the gaps not yet filled. */
export interface SequenceState {
  highest_seq: number | null;
  open_gaps: number;
  /** Up to 20 of the missing sequence numbers, lowest first. */
  missing_sample: number[];
}

/** Reads an instance's sequence state (the keys record() writes), for the admin console. */
export async function readSequenceState(
  redis: Redis,
  prefix: string,
  instanceId: string,
): Promise<SequenceState> {
  const [max, gaps, sample] = await Promise.all([
    redis.get(`${prefix}seq:${instanceId}:max`),
    redis.zcard(`${prefix}seq:${instanceId}:missing`),
    redis.zrange(`${prefix}seq:${instanceId}:missing`, "0", "19"),
  ]);
  return {
    highest_seq: max === null ? null : Number(max),
    open_gaps: gaps,
    missing_sample: sample.map(Number),
  };
}
