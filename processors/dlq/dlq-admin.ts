import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/transport-node";
import type { Config } from "../../lib/config/index.ts";
import { batchSubject, DLQ_HEADERS, deadLetterStreamName } from "../../lib/jetstream/index.ts";

/** One dead letter as `smstats dlq list` shows it. */
export interface DeadLetterInfo {
  seq: number;
  at: string;
  reason: string;
  detail: string;
  replays: number;
  bytes: number;
  sourceSeq: number;
}

/** Lists dead letters, oldest first. */
export async function listDeadLetters(
  jsm: JetStreamManager,
  nats: Config["nats"],
  limit = 100,
): Promise<DeadLetterInfo[]> {
  const stream = deadLetterStreamName(nats);
  const info = await jsm.streams.info(stream);
  const out: DeadLetterInfo[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && out.length < limit; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (!m) continue; // deleted (replayed) messages leave holes
    out.push({
      seq: m.seq,
      at: new Date(Number(m.header.get(DLQ_HEADERS.at)) || m.timestamp).toISOString(),
      reason: m.header.get(DLQ_HEADERS.reason),
      detail: m.header.get(DLQ_HEADERS.detail),
      replays: Number(m.header.get(DLQ_HEADERS.replays) || 0),
      bytes: m.data.length,
      sourceSeq: Number(m.header.get(DLQ_HEADERS.sourceSeq) || 0),
    });
  }
  return out;
}

/** Options of a replay. */
export interface ReplayOptions {
  /** Sequences to replay; all when undefined. */
  seqs?: number[];
  /** Refuse messages replayed this many times already (the replay-loop guard). */
  maxReplays: number;
  /** Replay even past maxReplays. */
  force?: boolean;
}

/** What a replay did. */
export interface ReplayReport {
  replayed: number[];
  refused: { seq: number; replays: number }[];
}

/**
 * Publishes dead letters back to the telemetry stream with their original bytes and headers, one
 * more on their replay count, then removes them from the dead-letter stream. A message replayed
 * `maxReplays` times is refused (without --force): it keeps failing, so the cause needs fixing first.
 */
export async function replayDeadLetters(
  jsm: JetStreamManager,
  js: JetStreamClient,
  nats: Config["nats"],
  opts: ReplayOptions,
): Promise<ReplayReport> {
  const stream = deadLetterStreamName(nats);
  const report: ReplayReport = { replayed: [], refused: [] };
  const seqs = opts.seqs ?? (await listDeadLetters(jsm, nats, Number.MAX_SAFE_INTEGER)).map((d) => d.seq);
  for (const seq of seqs) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (!m) continue;
    const replays = Number(m.header.get(DLQ_HEADERS.replays) || 0);
    if (replays >= opts.maxReplays && !opts.force) {
      report.refused.push({ seq, replays });
      continue;
    }
    const h = natsHeaders();
    const dlqOnly = new Set(Object.values(DLQ_HEADERS).map((k) => k.toLowerCase()));
    for (const [key, values] of m.header) {
      if (dlqOnly.has(key.toLowerCase())) continue;
      for (const v of values) h.append(key, v);
    }
    h.set(DLQ_HEADERS.replays, String(replays + 1));
    // A new message id: the original one may still be inside the duplicate window.
    await js.publish(batchSubject(nats), m.data, {
      headers: h,
      msgID: `dlq-replay:${stream}:${seq}:${replays + 1}`,
    });
    await jsm.streams.deleteMessage(stream, seq);
    report.replayed.push(seq);
  }
  return report;
}
