import { randomBytes } from "node:crypto";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectNats, type NatsHandle } from "../../lib/clients/index.ts";
import { type Config, loadConfig } from "../../lib/config/index.ts";
import { batchSubject, deadLetterStreamName, reconcileTelemetryStream } from "../../lib/jetstream/index.ts";
import { createLogger } from "../../lib/log/index.ts";
import { componentMetrics } from "../../lib/metrics/index.ts";
import { createSecretBox } from "../../licensing/keys/index.ts";
import { createDeadLetterPublisher, listDeadLetters } from "../../processors/dlq/index.ts";
import { type PullLoopOptions, startPullLoop } from "../../processors/runtime/pull-loop.ts";
import { ok, retry } from "../../processors/runtime/result.ts";
import { nsName } from "../support/env.ts";

// The redelivery cap on the real NATS of the local stack: a message that fails every time it is
// delivered goes to the dead-letter stream after maxDeliveries, instead of being retried for ever.
// Dead letters are sealed; the test opens them with its own box.
const box = createSecretBox(randomBytes(32));
const config: Readonly<Config> = loadConfig({
  ...process.env,
  SMSTATS_NATS_STREAM: nsName("TELEMETRY_LOOP_TEST"),
  SMSTATS_NATS_SUBJECT_PREFIX: nsName("looptest.telemetry"),
  SMSTATS_NATS_CONSUMER: nsName("processor_loop_test"),
});
const log = createLogger("loop-test", "silent");
let nats: NatsHandle;

beforeAll(async () => {
  nats = await connectNats(config.nats.servers, "loop-test", log);
  const jsm = await jetstreamManager(nats.nc);
  await reconcileTelemetryStream(jsm, config, log);
  await jsm.streams.purge(config.nats.stream);
  await jsm.streams.purge(deadLetterStreamName(config.nats));
});
afterAll(async () => {
  const jsm = await jetstreamManager(nats.nc);
  await jsm.streams.delete(config.nats.stream).catch(() => undefined);
  await jsm.streams.delete(deadLetterStreamName(config.nats)).catch(() => undefined);
  await nats?.nc.close();
});

/** Polls `done` every 50 ms until it holds or `ms` pass; the caller's assertions then say what happened. */
async function until(done: () => boolean, ms: number) {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

/** Publishes message `i` (data [i], message id `<prefix>:<i>`) to the test's stream. */
function publish(prefix: string, i: number) {
  return jetstream(nats.nc).publish(batchSubject(config.nats), new Uint8Array([i]), {
    msgID: `${prefix}:${i}`,
  });
}

/** Empties the test's stream, then publishes messages 0 … n-1 (a backlog waiting before a loop starts). */
async function backlog(prefix: string, n: number) {
  await (await jetstreamManager(nats.nc)).streams.purge(config.nats.stream);
  for (let i = 0; i < n; i++) await publish(prefix, i);
}

/** Messages the test's consumer delivered and awaits acknowledgements for. */
async function ackPending() {
  const jsm = await jetstreamManager(nats.nc);
  return (await jsm.consumers.info(config.nats.stream, config.nats.consumer)).num_ack_pending;
}

/** A pull loop on the test's stream and consumer, one row and one byte per message, nothing inserted. */
function testLoop(over: Partial<PullLoopOptions<number>> & Pick<PullLoopOptions<number>, "process">) {
  const js = jetstream(nats.nc);
  const metrics = new Registry();
  const loop = startPullLoop<number>({
    consumer: () => js.consumers.get(config.nats.stream, config.nats.consumer),
    log,
    batchMessages: 10,
    batchWaitMs: 1_000,
    flushRows: 10,
    flushBytes: 1_000,
    flushAgeMs: 100,
    maxDeliveries: 3,
    rowCount: () => 1,
    byteCount: () => 1,
    insert: async () => {},
    source: componentMetrics(metrics, "jetstream_source", "messages"),
    sink: componentMetrics(metrics, "clickhouse_sink", "rows"),
    ...over,
  });
  return { loop, metrics };
}

describe("the pull loop's redelivery cap", () => {
  it("dead-letters a message that keeps failing once it was delivered maxDeliveries times", async () => {
    const js = jetstream(nats.nc);
    const jsm = await jetstreamManager(nats.nc);
    let attempts = 0;
    const { loop, metrics } = testLoop({
      process: () => {
        attempts++;
        return retry("step_failed", 50);
      },
      deadLetter: createDeadLetterPublisher(js, config.nats, box),
    });
    try {
      await js.publish(batchSubject(config.nats), new Uint8Array([1, 2, 3]), { msgID: "loop-test:1" });
      const deadline = Date.now() + 20_000;
      let letters = await listDeadLetters(jsm, config.nats, 100, box);
      while (letters.length === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        letters = await listDeadLetters(jsm, config.nats, 100, box);
      }
      expect(letters).toMatchObject([{ reason: "max_deliveries" }]);
      expect(letters[0]?.detail).toContain("delivered 4 times");
      expect(attempts).toBe(3);
      const stream = await jsm.streams.info(config.nats.stream);
      expect(stream.state.messages).toBe(0);
      expect(await metrics.metrics()).toMatch(/reason="dead_letter:max_deliveries"\} 1/);
    } finally {
      await loop.stop();
    }
  });
});

describe("the pull loop's fetches", () => {
  it("counts no failed fetch when working through a fetch's messages outlasts the heartbeat window", async () => {
    // The first fetch takes 10 messages; at 150 ms each, working through them takes 1.5 s, past the
    // client's two missed heartbeats (2 × 500 ms for a one-second fetch).
    await backlog("loop-hb", 10);
    let inserted = 0;
    const { loop, metrics } = testLoop({
      flushAgeMs: 5_000,
      process: async (m) => {
        await new Promise((r) => setTimeout(r, 150));
        return ok(m.seq);
      },
      insert: async (rows) => {
        inserted += rows.length;
      },
    });
    try {
      await until(() => inserted >= 10, 15_000);
      expect(inserted).toBe(10);
      expect(await metrics.metrics()).not.toMatch(
        /smstats_component_errors_total\{[^}]*type="fetch"[^}]*\} [1-9]/,
      );
    } finally {
      await loop.stop();
    }
  });
});

describe("the pull loop's flush age", () => {
  it("inserts a trickle once its oldest row is flushAgeMs old, not when the fetch's one-second wait ends", async () => {
    await backlog("loop-age", 0);
    const inserts: { at: number; rows: number }[] = [];
    const { loop } = testLoop({
      batchMessages: 500,
      flushRows: 1_000_000,
      flushBytes: 1_000_000_000,
      flushAgeMs: 200,
      process: async (m) => ok(m.seq),
      insert: async (rows) => {
        inserts.push({ at: performance.now(), rows: rows.length });
      },
    });
    try {
      // The loop's first fetch (10 messages, one-second wait) is open before anything is published; one
      // message every 100 ms cannot fill it before its wait ends.
      await new Promise((r) => setTimeout(r, 100));
      const first = performance.now();
      for (let i = 0; i < 12; i++) {
        await publish("loop-age", i);
        await new Promise((r) => setTimeout(r, 100));
      }
      await until(() => inserts.reduce((n, x) => n + x.rows, 0) >= 12, 10_000);
      expect(inserts.reduce((n, x) => n + x.rows, 0)).toBe(12);
      // Due at 200 ms; the message that finds it due comes within 100 ms after that.
      const firstInsertMs = (inserts[0]?.at ?? Number.POSITIVE_INFINITY) - first;
      console.log(`flush age test: first insert ${Math.round(firstInsertMs)} ms after the first message`);
      expect(firstInsertMs).toBeLessThan(600);
    } finally {
      await loop.stop();
    }
  });

  it("fills each insert by size behind a backlog, even when a flush's worth takes longer than flushAgeMs", async () => {
    // A backlog of 130 messages before the loop starts; the steps take 4 ms a message, so one flush of
    // 40 rows takes 160 ms to fill, past the 100 ms age. Cut by age, the inserts would hold ~25 rows.
    await backlog("loop-backlog", 130);
    const inserts: number[] = [];
    const { loop } = testLoop({
      batchMessages: 40,
      flushRows: 40,
      flushAgeMs: 100,
      process: async (m) => {
        await new Promise((r) => setTimeout(r, 4));
        return ok(m.seq);
      },
      insert: async (rows) => {
        inserts.push(rows.length);
      },
    });
    try {
      await until(() => inserts.reduce((n, x) => n + x, 0) >= 130, 15_000);
      expect(inserts.reduce((n, x) => n + x, 0)).toBe(130);
      // The first fetch asks for 10 messages (the loop does not yet know their size) and the last insert
      // takes what is left; every insert between is full.
      const full = inserts.filter((n) => n === 40).length;
      console.log(`backlog test: inserts of ${inserts.join(", ")} rows`);
      expect(full).toBeGreaterThanOrEqual(2);
      expect(inserts.length).toBeLessThanOrEqual(5);
    } finally {
      await loop.stop();
    }
  });
});

describe("messages the sink stores in part", () => {
  it("are given back held until stored whole, completed once the worker has caught up or the loop stops, then acknowledged", async () => {
    const jsm = await jetstreamManager(nats.nc);
    // A backlog before the loop starts, taken two at a time: buffers fill by size with messages waiting.
    await backlog("loop-held", 8);
    // The work-queue stream deletes a message once it is acknowledged.
    const inStream = (seq: number) =>
      jsm.streams.getMessage(config.nats.stream, { seq }).then(
        (m) => m !== null,
        () => false,
      );
    const calls: { items: { seq: number; held: boolean; inStream: boolean }[]; complete: boolean }[] = [];
    // The sink holds back the odd messages unless told to complete.
    const { loop } = testLoop({
      batchMessages: 2,
      flushRows: 2,
      flushAgeMs: 100_000,
      holdMaxAgeMs: 60_000,
      process: async (m) => {
        await new Promise((r) => setTimeout(r, 100));
        return ok(m.seq);
      },
      insert: async (items, { complete }) => {
        calls.push({
          items: await Promise.all(
            items.map(async (b) => ({ seq: b.value, held: b.held, inStream: await inStream(b.value) })),
          ),
          complete,
        });
        return complete ? [] : items.flatMap((b, i) => (b.value % 2 ? [i] : []));
      },
    });
    let stopped = false;
    try {
      await until(() => calls.some((c) => c.complete), 10_000);
      const firstComplete = calls.findIndex((c) => c.complete);
      // Behind the backlog the odd ones were held, and each held one came back, still unacknowledged.
      expect(firstComplete).toBeGreaterThan(0);
      const heldBack = calls[0]?.items.filter((x) => x.seq % 2).map((x) => x.seq) ?? [];
      expect(heldBack).toHaveLength(1);
      expect(calls[1]?.items.filter((x) => x.held).map((x) => [x.seq, x.inStream])).toEqual(
        heldBack.map((seq) => [seq, true]),
      );
      // The one stored whole in the first flush was acknowledged before the next flush.
      const evenFirst = calls[0]?.items.find((x) => x.seq % 2 === 0)?.seq ?? -1;
      expect(await inStream(evenFirst)).toBe(false);
      // Completed with the last of the backlog: all four odd ones, given back held.
      expect(calls[firstComplete]?.items.filter((x) => x.held).map((x) => x.seq % 2)).toEqual([1, 1, 1]);
      await until(() => false, 300);
      expect(await ackPending()).toBe(0);
      // Every message went to the sink whole exactly once: not held, or held and then completed.
      const whole = calls.flatMap((c) =>
        c.items.filter((x) => c.complete || x.seq % 2 === 0).map((x) => x.seq),
      );
      expect(new Set(whole).size).toBe(whole.length);
      expect(whole).toHaveLength(8);

      // A message held when the loop stops is completed by its last flush.
      const before = calls.length;
      for (let i = 8; i < 12; i++) await publish("loop-held", i);
      await until(() => calls.length > before, 5_000);
      await loop.stop();
      stopped = true;
      expect(calls.at(-1)?.complete).toBe(true);
      await until(() => false, 200);
      expect(await ackPending()).toBe(0);
      const after = calls.slice(before);
      const wholeAfter = after.flatMap((c) =>
        c.items.filter((x) => c.complete || x.seq % 2 === 0).map((x) => x.seq),
      );
      expect(new Set(wholeAfter).size).toBe(4);
    } finally {
      if (!stopped) await loop.stop();
    }
  });
});

describe("a worker behind a backlog that flushes by age", () => {
  it("lets the sink hold rows back while messages wait on the consumer", async () => {
    await backlog("loop-behind", 6);
    const calls: boolean[] = [];
    // Slow steps: a buffer ages (150 ms) long before it fills (1,000 rows), with messages still waiting.
    const { loop } = testLoop({
      batchMessages: 2,
      flushRows: 1_000,
      flushAgeMs: 150,
      holdMaxAgeMs: 60_000,
      process: async (m) => {
        await new Promise((r) => setTimeout(r, 100));
        return ok(m.seq);
      },
      insert: async (items, { complete }) => {
        calls.push(complete);
        return complete ? [] : items.map((_, i) => i);
      },
    });
    try {
      await until(() => calls.at(-1) === true, 10_000);
      expect(calls.filter((c) => !c).length).toBeGreaterThan(0);
      await until(() => false, 300);
      expect(await ackPending()).toBe(0);
    } finally {
      await loop.stop();
    }
  });
});

describe("a worker that keeps up", () => {
  it("never lets the sink hold rows back: a buffer flushed by age is stored whole", async () => {
    await backlog("loop-keepup", 0);
    const calls: boolean[] = [];
    const { loop } = testLoop({
      flushRows: 1_000,
      flushAgeMs: 100,
      holdMaxAgeMs: 10_000,
      process: async (m) => ok(m.seq),
      insert: async (items, { complete }) => {
        calls.push(complete);
        return complete ? [] : items.map((_, i) => i);
      },
    });
    try {
      for (let i = 0; i < 5; i++) {
        await publish("loop-keepup", i);
        await new Promise((r) => setTimeout(r, 150));
      }
      await until(() => false, 500);
      expect(calls.length).toBeGreaterThan(0);
      expect(calls.every(Boolean)).toBe(true);
      expect(await ackPending()).toBe(0);
    } finally {
      await loop.stop();
    }
  });
});
