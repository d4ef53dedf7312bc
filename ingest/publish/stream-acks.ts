import { createInbox, type Msg, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";

/** JetStream's answer to a publish: stored (or a duplicate within the window), or refused with its code. */
export type StreamAck =
  | { ok: true; seq: number; duplicate: boolean }
  | { ok: false; errCode: number; description: string }
  | { ok: false; errCode: 0; description: "no responders" | "timeout" | "bad ack" };

/** Publishes JetStream messages and waits for their acknowledgements on one shared reply subscription. */
export interface StreamAcks {
  publish(subject: string, data: Uint8Array, headers: MsgHdrs, timeoutMs: number): Promise<StreamAck>;
  close(): void;
}

interface Pending {
  resolve: (ack: StreamAck) => void;
  deadline: number;
}

/**
 * The publish-and-wait path of ingest, with one reply subscription for every publish of the process
 * (`<inbox>.<n>`) and one sweep timer for all deadlines, instead of the client's request() per message,
 * which builds an Error (a stack trace) and a timer for each and races them. Durability is the same: the
 * caller gets the stream's acknowledgement of the stored message, or a refusal or timeout it must
 * answer as not stored. Messages, headers and the Nats-Msg-Id dedup header are the caller's.
 */
export function createStreamAcks(nc: NatsConnection, sweepMs = 100): StreamAcks {
  const prefix = createInbox();
  const pending = new Map<number, Pending>();
  let next = 0;
  const settle = (token: number, ack: StreamAck) => {
    const p = pending.get(token);
    if (!p) return; // answered after its deadline: the caller was told "timeout" already
    pending.delete(token);
    p.resolve(ack);
  };
  nc.subscribe(`${prefix}.*`, {
    callback: (_err, msg: Msg) => {
      const token = Number(msg.subject.slice(prefix.length + 1));
      settle(token, readAck(msg));
    },
  });
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [token, p] of pending) {
      if (p.deadline <= now) settle(token, { ok: false, errCode: 0, description: "timeout" });
    }
  }, sweepMs);
  sweep.unref();
  // Publishes wait for the end of the event-loop turn and go out together. The client writes to its
  // socket once per microtask checkpoint that saw a publish, and each request reaches its publish in its
  // own chain of continuations, so a turn's publishes took several writes; together they share one (about
  // 10 publishes a write under bench:ingest). Ingest's CPU in socket writes (about a tenth of it) barely
  // moved: on loopback it follows the bytes written more than the number of writes.
  const outgoing: { token: number; subject: string; data: Uint8Array; headers: MsgHdrs }[] = [];
  const send = () => {
    for (const o of outgoing.splice(0)) {
      try {
        nc.publish(o.subject, o.data, { reply: `${prefix}.${o.token}`, headers: o.headers });
      } catch (err) {
        settle(o.token, { ok: false, errCode: 0, description: (err as Error).message } as StreamAck);
      }
    }
  };
  return {
    publish(subject, data, headers, timeoutMs) {
      const token = ++next;
      return new Promise<StreamAck>((resolve) => {
        pending.set(token, { resolve, deadline: Date.now() + timeoutMs });
        outgoing.push({ token, subject, data, headers });
        if (outgoing.length === 1) setImmediate(send);
      });
    },
    close() {
      // Not yet sent: never published, answered as not stored below.
      outgoing.length = 0;
      clearInterval(sweep);
      for (const token of [...pending.keys()])
        settle(token, { ok: false, errCode: 0, description: "timeout" });
    },
  };
}

/** Reads a JetStream publish acknowledgement (or the server's 503 status for "no stream listens"). */
export function readAck(msg: Pick<Msg, "data" | "headers" | "json">): StreamAck {
  if (msg.data.length === 0 && msg.headers?.code === 503) {
    return { ok: false, errCode: 0, description: "no responders" };
  }
  try {
    const a = msg.json<{
      stream?: string;
      seq?: number;
      duplicate?: boolean;
      error?: { err_code?: number; description?: string };
    }>();
    if (a.error)
      return { ok: false, errCode: a.error.err_code ?? -1, description: a.error.description ?? "" };
    if (!a.stream || typeof a.seq !== "number") return { ok: false, errCode: 0, description: "bad ack" };
    return { ok: true, seq: a.seq, duplicate: a.duplicate === true };
  } catch {
    return { ok: false, errCode: 0, description: "bad ack" };
  }
}
