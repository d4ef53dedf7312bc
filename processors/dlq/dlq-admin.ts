import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/transport-node";
import type { Config } from "../../lib/config/index.ts";
import { batchSubject, DLQ_HEADERS, deadLetterStreamName } from "../../lib/jetstream/index.ts";
import type { SecretBox } from "../../licensing/keys/index.ts";
import { INSTANCE_HEADER, openLetter, SEALED_HEADER } from "./sealed-letter.ts";

/** One dead letter as `smstats dlq list` shows it. */
export interface DeadLetterInfo {
  seq: number;
  at: string;
  reason: string;
  detail: string;
  replays: number;
  bytes: number;
  sourceSeq: number;
  /** The instance whose batch it is, when known. */
  instanceId: string | null;
}

// Headers only dead letters carry; a replayed message leaves them behind.
const DLQ_ONLY = new Set(
  [...Object.values(DLQ_HEADERS), SEALED_HEADER, INSTANCE_HEADER].map((k) => k.toLowerCase()),
);

/** Lists dead letters, oldest first; the sealed detail is shown when the secret box is given. */
export async function listDeadLetters(
  jsm: JetStreamManager,
  nats: Config["nats"],
  limit = 100,
  box?: SecretBox,
): Promise<DeadLetterInfo[]> {
  const stream = deadLetterStreamName(nats);
  const info = await jsm.streams.info(stream);
  const out: DeadLetterInfo[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && out.length < limit; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (!m) continue; // deleted (replayed) messages leave holes
    const sealed = m.header.has(SEALED_HEADER);
    out.push({
      seq: m.seq,
      at: new Date(Number(m.header.get(DLQ_HEADERS.at)) || m.timestamp).toISOString(),
      reason: m.header.get(DLQ_HEADERS.reason),
      // Letters from before sealing carried the detail as a header.
      detail: sealed ? (box ? openLetter(box, m.data).detail : "(sealed)") : m.header.get(DLQ_HEADERS.detail),
      replays: Number(m.header.get(DLQ_HEADERS.replays) || 0),
      bytes: m.data.length,
      sourceSeq: Number(m.header.get(DLQ_HEADERS.sourceSeq) || 0),
      instanceId: m.header.get(INSTANCE_HEADER) || null,
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
  opts: ReplayOptions & { box: SecretBox },
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
    // A sealed letter is opened: the original body and headers (the client address among them) return.
    const opened = m.header.has(SEALED_HEADER) ? openLetter(opts.box, m.data) : undefined;
    const original: [string, string][] = [
      ...[...m.header].flatMap(([key, values]) => values.map((v): [string, string] => [key, v])),
      ...(opened?.headers ?? []),
    ];
    for (const [key, v] of original) if (!DLQ_ONLY.has(key.toLowerCase())) h.append(key, v);
    h.set(DLQ_HEADERS.replays, String(replays + 1));
    // A new message id: the original one may still be inside the duplicate window.
    await js.publish(batchSubject(nats), opened?.data ?? m.data, {
      headers: h,
      msgID: `dlq-replay:${stream}:${seq}:${replays + 1}`,
    });
    await jsm.streams.deleteMessage(stream, seq);
    report.replayed.push(seq);
  }
  return report;
}
