import type { JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import type { Config } from "../../lib/config/index.ts";
import { deadLetterStreamName } from "../../lib/jetstream/index.ts";
import type { ErasureSubject } from "./subject.ts";

/** True when a stored message belongs to the instance: its body or a header (the message id) names it. */
export function messageOfInstance(m: Pick<StoredMsg, "data" | "header">, instanceId: string): boolean {
  if (Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).includes(instanceId)) return true;
  for (const [, values] of m.header ?? []) if (values.some((v) => v.includes(instanceId))) return true;
  return false;
}

/**
 * Removes the instance's messages from the telemetry stream (batches not processed yet) and from its
 * dead-letter stream, reading every message (subjects do not carry the instance). Deletion overwrites
 * the message in the store (JetStream's secure erase), so its bytes do not stay on disk.
 */
export async function eraseJetStream(
  jsm: JetStreamManager,
  nats: Config["nats"],
  s: ErasureSubject,
): Promise<Record<string, number>> {
  const removed: Record<string, number> = {};
  for (const [key, stream] of [
    ["jetstream.telemetry", nats.stream],
    ["jetstream.dead_letters", deadLetterStreamName(nats)],
  ] as const) {
    const n = await eraseFromStream(jsm, stream, s.instanceId);
    if (n) removed[key] = n;
  }
  return removed;
}

async function eraseFromStream(jsm: JetStreamManager, stream: string, instanceId: string): Promise<number> {
  const info = await jsm.streams.info(stream).catch((err: { status?: number }) => {
    if (err?.status === 404) return undefined;
    throw err;
  });
  if (!info || info.state.messages === 0) return 0;
  let removed = 0;
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (!m || !messageOfInstance(m, instanceId)) continue;
    // A message acknowledged (workqueue) or replayed meanwhile is gone already: not an error.
    const ok = await jsm.streams.deleteMessage(stream, seq, true).catch(() => false);
    if (ok) removed++;
  }
  return removed;
}
