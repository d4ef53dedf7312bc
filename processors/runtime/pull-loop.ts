import type { Consumer, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "../../lib/log/index.ts";
import type { ComponentMetrics } from "../../lib/metrics/index.ts";
import type { StepResult } from "./result.ts";

/** A processed message waiting in a worker's buffer for the next insert. */
export interface Buffered<Row> {
  value: Row;
  /** JetStream delivered this message before (a crash, a timeout or a failed insert came first). */
  redelivered: boolean;
}

/** What the loop needs to know about the pipeline it runs. */
export interface PullLoopOptions<Row> {
  consumer: Consumer;
  log: Logger;
  /** Most messages per fetch. */
  batchMessages: number;
  /** Longest a fetch waits for messages, ms (JetStream's minimum is 1000). */
  batchWaitMs: number;
  /** The buffer is inserted once it holds this many rows… */
  flushRows: number;
  /** …or once its oldest message is this old, ms. */
  flushAgeMs: number;
  /** Rows a processed message adds to the buffer. */
  rowCount: (row: Row) => number;
  /** The steps from message to rows, given the message's data and headers (async for cached lookups). */
  process: (msg: JsMsg) => StepResult<Row> | Promise<StepResult<Row>>;
  /** The sink: inserts the rows of every buffered message at once. */
  insert: (buffered: Buffered<Row>[]) => Promise<void>;
  source: ComponentMetrics;
  sink: ComponentMetrics;
  /** Sets a poison message aside (the dead-letter stream); without it such messages are terminated. */
  deadLetter?: (msg: JsMsg, reason: string, detail: string) => Promise<void>;
}

/** A running pull loop. */
export interface PullLoop {
  /** Stops fetching; resolves once the buffer is inserted and acknowledged. */
  stop(): Promise<void>;
  /** Resolves when the loop has ended. */
  done: Promise<void>;
}

const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 30_000;
const MIN_FETCH_EXPIRES_MS = 1_000;

/**
 * Fetches messages, runs the steps on each and buffers the results; inserts the buffer when it holds
 * `flushRows` rows or its oldest message is `flushAgeMs` old, and only then acknowledges its messages;
 * while one buffer is being inserted the next one fills (at most one insert in flight per loop).
 * If the insert fails every buffered message is nak'ed with backoff, so nothing is acknowledged that
 * ClickHouse does not hold. A crash loses only acks: JetStream redelivers the unacknowledged messages,
 * flagged as redelivered for the sink to check.
 */
export function startPullLoop<Row>(opts: PullLoopOptions<Row>): PullLoop {
  let stopping = false;
  let buffer: { m: JsMsg; value: Row }[] = [];
  let bufferedRows = 0;
  let oldest = 0;
  let inflight: Promise<void> = Promise.resolve();
  // Time spent per phase since the last flush, for the debug log line of each flush.
  const spent = { fetch: 0, process: 0 };
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
  const flush = async () => {
    const batch = buffer;
    const rows = bufferedRows;
    buffer = [];
    bufferedRows = 0;
    if (batch.length === 0) return;
    const insertStarted = performance.now();
    try {
      await opts.insert(batch.map((b) => ({ value: b.value, redelivered: b.m.info.redelivered })));
    } catch (err) {
      opts.sink.error("insert");
      const attempt = Math.max(...batch.map((b) => b.m.info.deliveryCount));
      const delay = Math.min(RETRY_BASE_MS * 2 ** (attempt - 1), RETRY_MAX_MS);
      opts.log.warn({ err, rows, attempt, delayMs: delay }, "insert failed; batch will be redelivered");
      for (const b of batch) b.m.nak(delay);
      return;
    }
    const ackStarted = performance.now();
    // ackAck waits for the server to confirm, so a stop right after cannot lose the acks.
    const acked = await Promise.allSettled(batch.map((b) => b.m.ackAck()));
    opts.log.debug(
      {
        messages: batch.length,
        rows,
        fetchMs: Math.round(spent.fetch),
        processMs: Math.round(spent.process),
        insertMs: Math.round(ackStarted - insertStarted),
        ackMs: Math.round(performance.now() - ackStarted),
      },
      "flushed",
    );
    spent.fetch = 0;
    spent.process = 0;
    const failed = acked.filter((a) => a.status === "rejected" || a.value === false).length;
    if (failed) opts.source.error("ack", failed);
    opts.source.sent(batch.length - failed);
  };
  const done = (async () => {
    while (!stopping) {
      const msgs: JsMsg[] = [];
      const fetchStarted = performance.now();
      // With rows waiting, fetch no longer than the buffer may still wait (JetStream's minimum aside).
      const left = buffer.length ? opts.flushAgeMs - (fetchStarted - oldest) : opts.batchWaitMs;
      try {
        const iter = await opts.consumer.fetch({
          max_messages: opts.batchMessages,
          expires: Math.max(MIN_FETCH_EXPIRES_MS, Math.min(opts.batchWaitMs, left)),
        });
        for await (const m of iter) msgs.push(m);
      } catch (err) {
        opts.source.error("fetch");
        opts.log.warn({ err }, "fetch from JetStream failed; retrying");
        await sleep(500);
      }
      if (msgs.length === 0 && buffer.length === 0) {
        // A fetch that ends at once with nothing (consumer deleted, server shutting down) must not turn
        // this loop into a busy one; a normal empty fetch already waited.
        if (performance.now() - fetchStarted < MIN_FETCH_EXPIRES_MS / 2) await sleep(200);
        continue;
      }
      const processStarted = performance.now();
      spent.fetch += processStarted - fetchStarted;
      if (msgs.length) opts.source.received(msgs.length);
      const poison: { m: JsMsg; reason: string; detail: string }[] = [];
      for (const m of msgs) {
        let r: StepResult<Row>;
        try {
          r = await opts.process(m);
        } catch (err) {
          // A lookup failed (e.g. PostgreSQL away): try the message again later, never drop it.
          opts.log.warn({ err, seq: m.seq }, "processing failed; message will be redelivered");
          r = { kind: "retry", reason: "step_failed", delayMs: RETRY_BASE_MS * 2 };
        }
        switch (r.kind) {
          case "ok":
            if (buffer.length === 0) oldest = performance.now();
            buffer.push({ m, value: r.value });
            bufferedRows += opts.rowCount(r.value);
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
      spent.process += performance.now() - processStarted;
      if (
        bufferedRows >= opts.flushRows ||
        (buffer.length && performance.now() - oldest >= opts.flushAgeMs)
      ) {
        // One insert in flight per worker: the next buffer fills while the last one is inserted.
        await inflight;
        inflight = flush();
      }
    }
    await inflight;
    await flush();
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
