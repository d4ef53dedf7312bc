import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/transport-node";
import type { Config } from "../../lib/config/index.ts";
import { DLQ_HEADERS, deadLetterSubject } from "../../lib/jetstream/index.ts";

/** Sets a message aside in the dead-letter stream; resolves once JetStream stored it. */
export type DeadLetter = (msg: JsMsg, reason: string, detail: string) => Promise<void>;

/**
 * Publishes a poison message to the dead-letter stream with its original bytes and headers plus the
 * reason, so it can be inspected and replayed as it was. The replay count travels with it.
 */
export function createDeadLetterPublisher(js: JetStreamClient, nats: Config["nats"]): DeadLetter {
  const subject = deadLetterSubject(nats);
  return async (msg, reason, detail) => {
    const h = natsHeaders();
    for (const [key, values] of msg.headers ?? []) {
      // The original message id would make JetStream's duplicate window swallow a replay.
      if (key.toLowerCase() === "nats-msg-id") continue;
      for (const v of values) h.append(key, v);
    }
    h.set(DLQ_HEADERS.reason, reason);
    h.set(DLQ_HEADERS.detail, detail.slice(0, 512));
    h.set(DLQ_HEADERS.sourceSeq, String(msg.seq));
    h.set(DLQ_HEADERS.at, String(Date.now()));
    if (!h.has(DLQ_HEADERS.replays)) h.set(DLQ_HEADERS.replays, "0");
    await js.publish(subject, msg.data, { headers: h, timeout: 5_000 });
  };
}
