import type { ConsumerInfo, JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { type MsgHdrs, headers as natsHeaders } from "@nats-io/transport-node";
import type { Logger } from "../../lib/log/index.ts";
import type { ComponentMetrics } from "../../lib/metrics/index.ts";
import type { BatchKey } from "../sinks/clickhouse/index.ts";

/** What the sweeper needs. */
export interface SweeperOptions {
  jsm: JetStreamManager;
  js: JetStreamClient;
  stream: string;
  /** Which of these batches are stored (the sink's record). */
  stored: (keys: BatchKey[]) => Promise<Set<string>>;
  key: (k: BatchKey) => string;
  log: Logger;
  source: ComponentMetrics;
  /** Most stream sequences looked at per sweep. */
  limit?: number;
}

/** The batch a telemetry message carries, from ingest's message id `<instance_id>:<batch_id>`. */
export function keyOfMsgId(id: string | undefined): BatchKey | undefined {
  const at = id?.indexOf(":") ?? -1;
  if (!id || at <= 0) return undefined;
  return { instance_id: id.slice(0, at), batch_id: id.slice(at + 1) };
}

/**
 * After a nats-server kill -9 a work-queue stream can keep messages its consumer had acknowledged (the
 * ack reached the consumer's state on disk, the deletion did not): below the ack floor, never delivered
 * again, kept forever. Given the consumer's info, deletes those whose batch the record of stored
 * batches holds; one that is not stored (a batch dropped on purpose, e.g. an unknown instance) is published again
 * without its message id and then deleted, so it is delivered and stored once. Returns how many it
 * removed. Counted as source drops `swept_stored` / errors `swept_republished`.
 */
export function streamSweeper(opts: SweeperOptions) {
  const limit = opts.limit ?? 1_000;
  return async (info: ConsumerInfo): Promise<number> => {
    const floor = info.ack_floor.stream_seq;
    const state = (await opts.jsm.streams.info(opts.stream)).state;
    if (state.messages === 0 || state.first_seq > floor) return 0;
    const found: { seq: number; key: BatchKey | undefined; subject: string; data: Uint8Array; h: MsgHdrs }[] =
      [];
    // Bounded in sequences, not messages found: the range below the floor is mostly holes.
    const last = Math.min(floor, state.first_seq + limit - 1);
    for (let seq = state.first_seq; seq <= last; seq++) {
      const m = await opts.jsm.streams.getMessage(opts.stream, { seq }).catch(() => null);
      if (!m) continue;
      found.push({
        seq,
        key: keyOfMsgId(m.header?.get("Nats-Msg-Id")),
        subject: m.subject,
        data: m.data,
        h: m.header,
      });
    }
    if (!found.length) return 0;
    const stored = await opts.stored(found.flatMap((f) => (f.key ? [f.key] : [])));
    let removed = 0;
    let republished = 0;
    for (const f of found) {
      if (!(f.key && stored.has(opts.key(f.key)))) {
        const h = natsHeaders();
        for (const [k, values] of f.h ?? []) {
          if (k.toLowerCase() === "nats-msg-id") continue;
          for (const v of values) h.append(k, v);
        }
        await opts.js.publish(f.subject, f.data, { headers: h, timeout: 5_000 });
        republished++;
      }
      if (await opts.jsm.streams.deleteMessage(opts.stream, f.seq, false).catch(() => false)) removed++;
    }
    if (removed - republished > 0) opts.source.dropped("swept_stored", removed - republished);
    if (republished) opts.source.error("swept_republished", republished);
    opts.log.warn(
      { stream: opts.stream, removed, republished, ackFloor: floor },
      "acknowledged messages left in the stream (after a NATS crash) removed",
    );
    return removed;
  };
}
