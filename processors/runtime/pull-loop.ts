import type { Consumer, ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "../../lib/log/index.ts";
import type { ComponentMetrics } from "../../lib/metrics/index.ts";
import type { StepResult } from "./result.ts";

/** A processed message waiting in a worker's buffer for the next insert. */
export interface Buffered<Row> {
  value: Row;
  /**
   * The rows may be in some table already: JetStream delivered this message before (a crash, a timeout
   * or a failed insert came first), or an insert of this flush was refused and the flush is retried in
   * halves.
   */
  redelivered: boolean;
  /**
   * The sink held this message back in an earlier flush: it stored the rows it inserts at once and kept
   * the message's other rows for a later insert (see `insert`'s result). Those rows are to be stored now.
   */
  held: boolean;
}

/** What the loop tells the sink about one insert. */
export interface InsertOptions {
  /**
   * Store every row now, hold nothing back: the worker keeps up (nothing waited on the consumer behind
   * its last message and the buffer was flushed by age), the loop is stopping, the held messages are
   * due (the worker caught up, or `holdMaxAgeMs`), or this is a retry of a refused insert in halves.
   */
  complete: boolean;
}

/** Why an insert was refused for its data: the detail the dead letter carries. */
export type RefusalOf = (err: unknown) => string | undefined;

/** What the loop needs to know about the pipeline it runs. */
export interface PullLoopOptions<Row> {
  /** The consumer to pull from; asked again after `reset()` (the watchdog re-created it). */
  consumer: () => Promise<Consumer>;
  log: Logger;
  /** Most messages per fetch. */
  batchMessages: number;
  /** Longest a fetch waits for messages, ms (JetStream's minimum is 1000). */
  batchWaitMs: number;
  /** The buffer is inserted once it holds this many rows… */
  flushRows: number;
  /** …or about this many bytes… */
  flushBytes: number;
  /** …or once its oldest message is this old, ms. */
  flushAgeMs: number;
  /** A message delivered this many times goes to the dead-letter stream (reason max_deliveries). */
  maxDeliveries: number;
  /** Rows a processed message adds to the buffer. */
  rowCount: (row: Row) => number;
  /** Bytes a processed message adds to the buffer (an estimate of its encoded rows). */
  byteCount: (row: Row) => number;
  /** The steps from message to rows, given the message's data and headers (async for cached lookups). */
  process: (msg: JsMsg) => StepResult<Row> | Promise<StepResult<Row>>;
  /**
   * The sink: inserts the rows of every buffered message, or with `complete` false may keep some rows of
   * some messages for a later insert (tables whose rows are too few for an insert of their own). It
   * returns the positions, in `buffered`, of the messages it stored only in part; the loop acknowledges
   * every other message and gives those back, `held`, with the next flush. Nothing (or an empty list)
   * means every message is stored.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a sink that never holds anything back returns nothing.
  insert: (buffered: Buffered<Row>[], opts: InsertOptions) => Promise<Iterable<number> | undefined | void>;
  /** Held messages are given back with `complete` once the worker caught up or the oldest is this old, ms. */
  holdMaxAgeMs?: number;
  /** The dead-letter detail when an insert error means the rows themselves are refused; else undefined. */
  refusal?: RefusalOf;
  source: ComponentMetrics;
  sink: ComponentMetrics;
  /** Sets a poison message aside (the dead-letter stream); without it such messages are terminated. */
  deadLetter?: (msg: JsMsg, reason: string, detail: string) => Promise<void>;
  /** Told whenever the loop got messages or acknowledged some (the watchdog's sign of progress). */
  onProgress?: () => void;
}

/** A running pull loop. */
export interface PullLoop {
  /** Stops fetching; resolves once the buffer is inserted and acknowledged. */
  stop(): Promise<void>;
  /** Ends the fetch in progress and pulls from a consumer asked for again (after a re-created consumer). */
  reset(): void;
  /** Resolves when the loop has ended. */
  done: Promise<void>;
}

const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 30_000;
const MIN_FETCH_EXPIRES_MS = 1_000;
/** Messages asked for before the loop knows how large they are. */
const FIRST_FETCH = 10;

/** A buffered message: when it was buffered, and whether the sink holds part of its rows back. */
type Held<Row> = { m: JsMsg; value: Row; at: number; held: boolean };

/**
 * Fetches messages and runs the steps on each as it arrives, buffering the results; inserts the buffer
 * as soon as it holds `flushRows` rows or `flushBytes` bytes (checked per message, so a fetch of large
 * batches never makes one huge insert) or its oldest message is `flushAgeMs` old, and only then
 * acknowledges its messages. While one buffer is being inserted the next one fills (at most one insert
 * in flight per loop). The fetch size follows the rows and bytes messages recently carried, so one
 * fetch holds about one flush.
 * An insert ClickHouse refuses for the data is retried in halves until the refused messages are found;
 * those go to the dead-letter stream with the server's error and the rest are stored. Any other failed
 * insert naks every buffered message with backoff, so nothing is acknowledged that ClickHouse does not
 * hold. A crash loses only acks: the sink's record of stored batches keeps the redelivery out.
 * Behind a backlog (messages waiting on the consumer, or a buffer flushed by size) the sink may store
 * a message in part and hold the rest of its rows for a later insert; such a message is acknowledged
 * only once that later insert stored it whole: once the worker has caught up, at the latest
 * `holdMaxAgeMs` after it was buffered, or when the loop stops.
 */
export function startPullLoop<Row>(opts: PullLoopOptions<Row>): PullLoop {
  let stopping = false;
  let buffer: Held<Row>[] = [];
  // Messages the sink stored in part (Buffered.held): given back with the next flush, acknowledged once
  // stored whole.
  let held: Held<Row>[] = [];
  let heldSince = 0;
  // Messages waiting on the consumer behind the last one received (JsMsg.info.pending).
  let waiting = 0;
  const holdMaxAgeMs = opts.holdMaxAgeMs ?? 5_000;
  let bufferedRows = 0;
  let bufferedBytes = 0;
  let oldest = 0;
  let inflight: Promise<void> = Promise.resolve();
  let consumer: Consumer | undefined;
  let fetching: ConsumerMessages | undefined;
  // Rows and bytes per message, averaged over recent messages, for the fetch size; unknown until the
  // first message, so the first fetch is a small one.
  const perMessage = { rows: 0, bytes: 0 };
  // Time spent per phase since the last flush, for the debug log line of each flush.
  const spent = { fetch: 0, process: 0 };
  // A poison message is acknowledged only once the dead-letter stream holds it; if that fails it is
  // redelivered later rather than lost.
  const setAside = async (m: JsMsg, reason: string, detail: string) => {
    opts.log.warn({ reason, detail, seq: m.seq }, "message cannot be stored; dead-lettered");
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
  /**
   * Inserts `items`; when ClickHouse refuses the rows for their data, halves and tries again, down to
   * single messages: returns the refused messages with the server's reason. Halves are marked
   * redelivered, since the tables that took the whole insert hold their rows already. Throws on any
   * other failure.
   */
  type Stored = { refused: { h: Held<Row>; detail: string }[]; kept: Held<Row>[] };
  const store = async (items: Held<Row>[], again: boolean, complete: boolean): Promise<Stored> => {
    try {
      const kept = await opts.insert(
        items.map((b) => ({ value: b.value, redelivered: again || b.m.info.redelivered, held: b.held })),
        { complete: complete || again },
      );
      return { refused: [], kept: kept ? [...kept].flatMap((i) => items[i] ?? []) : [] };
    } catch (err) {
      const detail = opts.refusal?.(err);
      if (detail === undefined) throw err;
      const [only] = items;
      if (items.length === 1 && only) return { refused: [{ h: only, detail }], kept: [] };
      const mid = items.length >> 1;
      const [a, b] = [
        await store(items.slice(0, mid), true, true),
        await store(items.slice(mid), true, true),
      ];
      return { refused: [...a.refused, ...b.refused], kept: [] };
    }
  };
  const flush = async () => {
    // Held messages first: a redelivered copy of one in the same flush is then the one the sink skips.
    const batch = held.length ? [...held, ...buffer] : buffer;
    // The sink may hold rows back only behind a backlog (messages were waiting on the consumer when
    // the last one arrived, or the buffer filled by size), where fewer inserts drain faster and the
    // backlog, not the hold, sets the lag. A worker that keeps up stores everything at once, so no row
    // waits longer than it did before.
    const complete = stopping || heldDue() || (!full() && waiting === 0);
    const rows = bufferedRows;
    const bytes = bufferedBytes;
    buffer = [];
    held = [];
    bufferedRows = 0;
    bufferedBytes = 0;
    if (batch.length === 0) return;
    const insertStarted = performance.now();
    let refused: { h: Held<Row>; detail: string }[];
    let kept: Held<Row>[];
    try {
      ({ refused, kept } = await store(batch, false, complete));
    } catch (err) {
      opts.sink.error("insert");
      const attempt = Math.max(...batch.map((b) => b.m.info.deliveryCount));
      const delay = Math.min(RETRY_BASE_MS * 2 ** (attempt - 1), RETRY_MAX_MS);
      opts.log.warn({ err, rows, attempt, delayMs: delay }, "insert failed; batch will be redelivered");
      for (const b of batch) b.m.nak(delay);
      return;
    }
    const ackStarted = performance.now();
    const poisoned = new Set(refused.map((r) => r.h));
    for (const r of refused) await setAside(r.h.m, "clickhouse_refused", r.detail);
    // Stored in part: not acknowledged yet, given back with the next flush.
    held = kept.map((h) => ({ ...h, held: true }));
    heldSince = held.reduce((t, h) => Math.min(t, h.at), Number.POSITIVE_INFINITY);
    const keptSet = new Set(kept);
    const stored = batch.filter((b) => !poisoned.has(b) && !keptSet.has(b));
    // ackAck waits for the server to confirm, so a stop right after cannot lose the acks.
    const acked = await Promise.allSettled(stored.map((b) => b.m.ackAck()));
    const failed = acked.filter((a) => a.status === "rejected" || a.value === false).length;
    opts.log.debug(
      {
        messages: batch.length,
        rows,
        bytes,
        refused: refused.length,
        held: held.length,
        fetchMs: Math.round(spent.fetch),
        processMs: Math.round(spent.process),
        insertMs: Math.round(ackStarted - insertStarted),
        ackMs: Math.round(performance.now() - ackStarted),
      },
      "flushed",
    );
    spent.fetch = 0;
    spent.process = 0;
    if (failed) {
      // Stored but not acknowledged: JetStream delivers them again and the sink skips them as stored.
      opts.source.error("ack", failed);
      opts.log.warn(
        { failed, messages: stored.length },
        "acks failed after insert; redeliveries will be skipped",
      );
    }
    if (stored.length > failed) opts.onProgress?.();
    opts.source.sent(stored.length - failed);
  };
  // Size is checked as each message arrives. Age is checked when a fetch ends, and also as each message
  // arrives when nothing is waiting behind it on the consumer (JsMsg.info.pending is 0): a fetch lasts up
  // to a second (JetStream's shortest pull wait) while messages trickle in, and a buffer that waited for
  // the fetch's end held its oldest row up to a second past flushAgeMs. Behind a backlog the buffer fills
  // by size as fast as the steps run, and cutting it by age as well made smaller, more frequent inserts:
  // bench:processors drained 15-20 % slower with the age checked on every message.
  const full = () => bufferedRows >= opts.flushRows || bufferedBytes >= opts.flushBytes;
  const aged = () => buffer.length > 0 && performance.now() - oldest >= opts.flushAgeMs;
  // Held messages are given back once due, or as soon as the worker has caught up.
  const heldDue = () => held.length > 0 && (waiting === 0 || performance.now() - heldSince >= holdMaxAgeMs);
  const flushDue = () => full() || aged() || heldDue();
  const startFlush = async () => {
    // One insert in flight per worker: the next buffer fills while the last one is inserted.
    await inflight;
    inflight = flush();
  };
  const handle = async (m: JsMsg) => {
    if (m.info.deliveryCount > opts.maxDeliveries) {
      await setAside(m, "max_deliveries", `delivered ${m.info.deliveryCount} times without being stored`);
      return;
    }
    let r: StepResult<Row>;
    try {
      r = await opts.process(m);
    } catch (err) {
      // A lookup failed (e.g. PostgreSQL away): try the message again later, never drop it.
      opts.log.warn({ err, seq: m.seq }, "processing failed; message will be redelivered");
      r = { kind: "retry", reason: "step_failed", delayMs: RETRY_BASE_MS * 2 };
    }
    switch (r.kind) {
      case "ok": {
        const at = performance.now();
        if (buffer.length === 0) oldest = at;
        buffer.push({ m, value: r.value, at, held: false });
        const rows = opts.rowCount(r.value);
        const bytes = opts.byteCount(r.value);
        bufferedRows += rows;
        bufferedBytes += bytes;
        perMessage.rows = perMessage.rows ? perMessage.rows * 0.8 + rows * 0.2 : rows;
        perMessage.bytes = perMessage.bytes ? perMessage.bytes * 0.8 + bytes * 0.2 : bytes;
        break;
      }
      case "drop":
        opts.source.dropped(r.reason);
        m.ack();
        break;
      case "retry":
        opts.source.error(r.reason);
        m.nak(r.delayMs);
        break;
      case "deadLetter":
        await setAside(m, r.reason, r.detail);
        break;
    }
  };
  // About one flush's worth of messages per fetch, never more than batchMessages.
  const fetchSize = () =>
    perMessage.rows === 0
      ? Math.min(opts.batchMessages, FIRST_FETCH)
      : Math.max(
          1,
          Math.min(
            opts.batchMessages,
            Math.ceil(opts.flushRows / Math.max(1, perMessage.rows)),
            Math.ceil(opts.flushBytes / Math.max(1, perMessage.bytes)),
          ),
        );
  const fetchOnce = async () => {
    const fetchStarted = performance.now();
    // With rows waiting, fetch no longer than the buffer (or the held messages) may still wait
    // (JetStream's minimum aside).
    const left = Math.min(
      buffer.length ? opts.flushAgeMs - (fetchStarted - oldest) : opts.batchWaitMs,
      held.length ? holdMaxAgeMs - (fetchStarted - heldSince) : opts.batchWaitMs,
    );
    let got = 0;
    try {
      consumer ??= await opts.consumer();
      fetching = await consumer.fetch({
        max_messages: fetchSize(),
        expires: Math.max(MIN_FETCH_EXPIRES_MS, Math.min(opts.batchWaitMs, left)),
      });
      for await (const m of fetching) {
        got++;
        waiting = m.info.pending;
        opts.source.received(1);
        opts.onProgress?.();
        const started = performance.now();
        await handle(m);
        spent.process += performance.now() - started;
        if (full() || (m.info.pending === 0 && aged())) await startFlush();
      }
    } catch (err) {
      if (got > 0 && err instanceof Error && err.message === "heartbeats missed") {
        // The client watches a fetch for the server's idle heartbeats until its iterator ends, and the
        // server sends none once it has delivered the fetch. Working through a large fetch for longer than
        // two heartbeat intervals (1 s with a 1 s fetch) ends it with this error after its last message:
        // the fetch did its work, so the next one starts at once on the same consumer.
        opts.log.debug({ got }, "fetch ended by the client's heartbeat check after delivering");
      } else {
        opts.source.error("fetch");
        opts.log.warn({ err }, "fetch from JetStream failed; retrying");
        consumer = undefined;
        await sleep(500);
      }
    } finally {
      fetching = undefined;
    }
    spent.fetch += performance.now() - fetchStarted;
    return { got, tookMs: performance.now() - fetchStarted };
  };
  const done = (async () => {
    while (!stopping) {
      const { got, tookMs } = await fetchOnce();
      if (got === 0) waiting = 0;
      // A fetch that ends at once with nothing (consumer deleted, server shutting down) must not turn
      // this loop into a busy one; a normal empty fetch already waited.
      if (got === 0 && buffer.length === 0 && held.length === 0 && tookMs < MIN_FETCH_EXPIRES_MS / 2)
        await sleep(200);
      if (flushDue()) await startFlush();
    }
    await inflight;
    await flush();
  })();
  return {
    async stop() {
      // The fetch in progress ends by itself within batchWaitMs; stopping it would leave the messages
      // it already holds to JetStream's ack_wait.
      stopping = true;
      await done;
    },
    reset() {
      consumer = undefined;
      fetching?.stop();
    },
    done,
  };
}

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}
