import type { Consumer, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "../../lib/log/index.ts";
import type { ComponentMetrics } from "../../lib/metrics/index.ts";
import type { StepResult } from "./result.ts";

/** What the loop needs to know about the pipeline it runs. */
export interface PullLoopOptions<Row> {
  consumer: Consumer;
  log: Logger;
  /** Most messages per fetch, i.e. per insert. */
  batchMessages: number;
  /** Longest a fetch waits to fill up, ms. */
  batchWaitMs: number;
  /** The steps from message to rows, given the message's data and headers (async for cached lookups). */
  process: (msg: JsMsg) => StepResult<Row[]> | Promise<StepResult<Row[]>>;
  /** The sink: inserts the rows of a whole fetch at once. */
  insert: (rows: Row[]) => Promise<void>;
  source: ComponentMetrics;
  sink: ComponentMetrics;
  /** Observes insert duration in seconds. */
  onInsert?: (seconds: number, rows: number) => void;
  /** Sets a poison message aside (the dead-letter stream); without it such messages are terminated. */
  deadLetter?: (msg: JsMsg, reason: string, detail: string) => Promise<void>;
}

/** A running pull loop. */
export interface PullLoop {
  /** Stops fetching; resolves once the batch in hand is inserted and acknowledged. */
  stop(): Promise<void>;
  /** Resolves when the loop has ended. */
  done: Promise<void>;
}

const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 30_000;

/**
 * Fetches a batch of messages, runs the steps on each, inserts all resulting rows in one insert, and
 * only then acknowledges. If the insert fails every message of the batch is nak'ed with backoff, so
 * nothing is acknowledged that ClickHouse does not hold.
 */
export function startPullLoop<Row>(opts: PullLoopOptions<Row>): PullLoop {
  let stopping = false;
  // A poison message is acknowledged only once the dead-letter stream holds it; if that fails it is
  // redelivered later rather than lost.
  const setAside = async (m: JsMsg, reason: string, detail: string) => {
    opts.log.error({ reason, detail, seq: m.seq }, "message cannot be processed; dead-lettered");
    if (!opts.deadLetter) {
      opts.source.dropped(reason);
      m.term(reason);
      return;
    }
    try {
      await opts.deadLetter(m, reason, detail);
      await m.ackAck();
      opts.source.dropped(`dead_letter:${reason}`);
    } catch (err) {
      opts.source.error("dead_letter");
      opts.log.warn({ err, seq: m.seq }, "dead-lettering failed; message will be redelivered");
      m.nak(RETRY_BASE_MS * 5);
    }
  };
  const done = (async () => {
    while (!stopping) {
      let msgs: JsMsg[] = [];
      const fetchStarted = performance.now();
      try {
        const iter = await opts.consumer.fetch({
          max_messages: opts.batchMessages,
          expires: opts.batchWaitMs,
        });
        for await (const m of iter) msgs.push(m);
      } catch (err) {
        opts.source.error("fetch");
        opts.log.warn({ err }, "fetch from JetStream failed; retrying");
        await sleep(500);
      }
      if (msgs.length === 0) {
        // A fetch that ends at once with nothing (consumer deleted, server shutting down) must not turn
        // this loop into a busy one; a normal empty fetch already waited batchWaitMs.
        if (performance.now() - fetchStarted < opts.batchWaitMs / 2) await sleep(200);
        continue;
      }
      opts.source.received(msgs.length);
      const rows: Row[] = [];
      const toAck: JsMsg[] = [];
      const poison: { m: JsMsg; reason: string; detail: string }[] = [];
      for (const m of msgs) {
        let r: StepResult<Row[]>;
        try {
          r = await opts.process(m);
        } catch (err) {
          // A lookup failed (e.g. PostgreSQL away): try the message again later, never drop it.
          opts.log.warn({ err, seq: m.seq }, "processing failed; message will be redelivered");
          r = { kind: "retry", reason: "step_failed", delayMs: RETRY_BASE_MS * 2 };
        }
        switch (r.kind) {
          case "ok":
            rows.push(...r.value);
            toAck.push(m);
            break;
          case "drop":
            opts.source.dropped(r.reason);
            m.ack();
            break;
          case "retry":
            opts.source.error(r.reason);
            m.nak(r.delayMs);
            break;
          case "deadLetter":
            poison.push({ m, reason: r.reason, detail: r.detail });
            break;
        }
      }
      for (const p of poison) await setAside(p.m, p.reason, p.detail);
      msgs = toAck;
      if (msgs.length === 0) continue;
      const started = performance.now();
      try {
        await opts.insert(rows);
      } catch (err) {
        opts.sink.error("insert");
        const attempt = Math.max(...msgs.map((m) => m.info.deliveryCount));
        const delay = Math.min(RETRY_BASE_MS * 2 ** (attempt - 1), RETRY_MAX_MS);
        opts.log.warn(
          { err, rows: rows.length, attempt, delayMs: delay },
          "insert failed; batch will be redelivered",
        );
        for (const m of msgs) m.nak(delay);
        continue;
      }
      opts.onInsert?.((performance.now() - started) / 1000, rows.length);
      opts.sink.sent(rows.length);
      // ackAck waits for the server to confirm, so a stop right after cannot lose the acks.
      const acked = await Promise.allSettled(msgs.map((m) => m.ackAck()));
      const failed = acked.filter((a) => a.status === "rejected" || a.value === false).length;
      if (failed) opts.source.error("ack", failed);
      opts.source.sent(msgs.length - failed);
    }
  })();
  return {
    async stop() {
      stopping = true;
      await done;
    },
    done,
  };
}

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}
