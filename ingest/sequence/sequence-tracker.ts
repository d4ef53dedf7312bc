import type { Redis } from "ioredis";

/** What one sequence number meant for its instance's stream of batches. */
export type SequenceOutcome = "first" | "next" | "gap" | "late" | "repeat" | "untracked";

/** Per-instance accounting of `seq`: gaps (possible loss), late fills of gaps, and repeats. */
export interface SequenceTracker {
  /** Records a batch's seq; `missing` is how many sequence numbers the batch skipped over. */
  record(instanceId: string, seq: number): Promise<{ outcome: SequenceOutcome; missing: number }>;
}

// The highest seq seen and a bounded set of seqs skipped over. A later batch carrying a skipped seq
// (an offline buffer flushed out of order) fills the gap instead of counting as a repeat, so
// "gaps opened − gaps filled" is the loss between the instance and the stream.
const SCRIPT = `
local seq = tonumber(ARGV[1])
local maxGap = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local max = tonumber(redis.call('GET', KEYS[1]) or '0')
local outcome, missing = 'next', 0
if max == 0 then
  outcome = 'first'
  redis.call('SET', KEYS[1], seq, 'PX', ttl)
elseif seq == max + 1 then
  redis.call('SET', KEYS[1], seq, 'PX', ttl)
elseif seq > max + 1 then
  outcome = 'gap'
  missing = seq - max - 1
  local from = math.max(max + 1, seq - maxGap)
  for s = from, seq - 1 do redis.call('ZADD', KEYS[2], s, s) end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -maxGap - 1)
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('SET', KEYS[1], seq, 'PX', ttl)
elseif redis.call('ZREM', KEYS[2], seq) == 1 then
  outcome = 'late'
else
  outcome = 'repeat'
end
return {outcome, missing}`;

/** A sequence tracker in Redis; state expires after `ttlMs` without batches (30 days by default). */
export function createSequenceTracker(
  redis: Redis,
  prefix: string,
  ttlMs = 30 * 86_400_000,
  maxGap = 1000,
): SequenceTracker {
  redis.defineCommand("smstatsSeq", { numberOfKeys: 2, lua: SCRIPT });
  const run = (redis as unknown as { smstatsSeq(...a: unknown[]): Promise<[SequenceOutcome, number]> })
    .smstatsSeq;
  return {
    async record(instanceId, seq) {
      if (!Number.isSafeInteger(seq) || seq <= 0) return { outcome: "untracked", missing: 0 };
      const [outcome, missing] = await run.call(
        redis,
        `${prefix}seq:${instanceId}:max`,
        `${prefix}seq:${instanceId}:missing`,
        seq,
        maxGap,
        ttlMs,
      );
      return { outcome, missing: Number(missing) };
    },
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
