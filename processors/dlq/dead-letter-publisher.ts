import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/transport-node";
import type { Config } from "../../lib/config/index.ts";
import { DLQ_HEADERS, deadLetterSubject } from "../../lib/jetstream/index.ts";
import type { SecretBox } from "../../licensing/keys/index.ts";
import {
  INSTANCE_HEADER,
  instanceOfMsgId,
  isClearHeader,
  SEALED_HEADER,
  sealLetter,
} from "./sealed-letter.ts";

/** Sets a message aside in the dead-letter stream; resolves once JetStream stored it. */
export type DeadLetter = (msg: JsMsg, reason: string, detail: string) => Promise<void>;

/**
 * Publishes a poison message to the dead-letter stream sealed (sealed-letter.ts): its body, its personal
 * headers (the client address) and the step's detail go into one envelope only the secret box opens, so
 * it can be replayed as it was; the reason, times, replay count, instance id and the harmless pipeline
 * headers stay readable for `smstats dlq list` and for erasure.
 */
export function createDeadLetterPublisher(
  js: JetStreamClient,
  nats: Config["nats"],
  box: SecretBox,
): DeadLetter {
  const subject = deadLetterSubject(nats);
  return async (msg, reason, detail) => {
    const h = natsHeaders();
    for (const [key, values] of msg.headers ?? []) {
      if (!isClearHeader(key) || key.toLowerCase() === DLQ_HEADERS.replays.toLowerCase()) continue;
      for (const v of values) h.append(key, v);
    }
    const instanceId = instanceOfMsgId(msg.headers?.get("Nats-Msg-Id"));
    if (instanceId) h.set(INSTANCE_HEADER, instanceId);
    h.set(SEALED_HEADER, "1");
    h.set(DLQ_HEADERS.reason, reason);
    h.set(DLQ_HEADERS.sourceSeq, String(msg.seq));
    h.set(DLQ_HEADERS.at, String(Date.now()));
    // The replay count travels with the letter (the replay-loop guard).
    h.set(DLQ_HEADERS.replays, msg.headers?.get(DLQ_HEADERS.replays) || "0");
    await js.publish(subject, sealLetter(box, msg.data, msg.headers, detail.slice(0, 512)), {
      headers: h,
      timeout: 5_000,
    });
  };
}
