import type { ConsumerConfig, ConsumerInfo, JetStreamManager } from "@nats-io/jetstream";
import { Counter, Gauge, type Registry } from "prom-client";
import type { Logger } from "../../lib/log/index.ts";

/** What the watchdog watches and how it repairs a stall. */
export interface WatchdogOptions {
  jsm: JetStreamManager;
  stream: string;
  /** The consumer's declared config (durable_name included): a stalled consumer is re-created with it. */
  consumer: Partial<ConsumerConfig> & { durable_name: string };
  /** Messages waiting and no progress for this long is a stall, ms. */
  stallMs: number;
  /** How often the consumer is looked at, ms. */
  intervalMs?: number;
  log: Logger;
  metrics: Registry;
  /** Called after the consumer was re-created, so the pull loops pull from the new one. */
  onRecreated: () => void;
  /** Given the consumer's state at each check: removes acknowledged messages a NATS crash left behind. */
  sweep?: (info: ConsumerInfo) => Promise<number>;
}

/** A running watchdog. */
export interface Watchdog {
  /** True from the moment a stall is seen until the consumer makes progress again. */
  stalled(): boolean;
  /** The pull loops report messages received or acknowledged here. */
  progress(): void;
  stop(): void;
}

/** The consumer's own sign of progress: what it delivered (redeliveries included) and its ack floor. */
const marker = (info: ConsumerInfo) => `${info.delivered.consumer_seq}/${info.ack_floor.consumer_seq}`;

/**
 * Watches the processors' consumer: messages waiting (pending or unacknowledged) while neither the
 * consumer's delivered/ack-floor sequences move nor any pull loop receives or acknowledges anything
 * for `stallMs` is a stall. Seen then: a warn line, `smstats_processor_consumer_stalled` 1 (readiness
 * fails on it), and the consumer is deleted and re-created with its declared config, which drops stale
 * pending acknowledgements and pulls that no longer deliver; the unacknowledged messages are delivered
 * again and the sink skips those already stored. Counted in
 * `smstats_processor_consumer_recoveries_total`. A missing consumer is re-created the same way.
 */
export function startWatchdog(opts: WatchdogOptions): Watchdog {
  const labels = { stream: opts.stream, consumer: opts.consumer.durable_name };
  const stalledGauge = new Gauge({
    name: "smstats_processor_consumer_stalled",
    help: "1 while the processors' consumer has messages waiting and makes no progress.",
    labelNames: ["stream", "consumer"],
    registers: [opts.metrics],
  });
  const recoveries = new Counter({
    name: "smstats_processor_consumer_recoveries_total",
    help: "Times a stalled or missing consumer was re-created, by cause.",
    labelNames: ["stream", "consumer", "cause"],
    registers: [opts.metrics],
  });
  stalledGauge.set(labels, 0);
  let lastMarker = "";
  let lastProgress = Date.now();
  let stalled = false;
  let busy = false;
  let sawProgress = false;
  const setStalled = (v: boolean) => {
    stalled = v;
    sawProgress = false;
    stalledGauge.set(labels, v ? 1 : 0);
  };
  const recreate = async (cause: "stalled" | "missing") => {
    await opts.jsm.consumers.delete(opts.stream, opts.consumer.durable_name).catch(() => undefined);
    const info = await opts.jsm.consumers.add(opts.stream, opts.consumer);
    recoveries.inc({ ...labels, cause });
    opts.onRecreated();
    lastProgress = Date.now();
    lastMarker = marker(info);
    opts.log.warn({ ...labels, cause }, "consumer re-created");
  };
  const check = async () => {
    let info: ConsumerInfo;
    try {
      info = await opts.jsm.consumers.info(opts.stream, opts.consumer.durable_name);
    } catch (err) {
      // NATS away is the health check's business; a consumer that is gone is ours.
      if ((err as { status?: number }).status !== 404 && !/consumer not found/i.test(String(err))) return;
      setStalled(true);
      opts.log.warn({ ...labels }, "consumer missing; re-creating it");
      await recreate("missing");
      return;
    }
    await opts.sweep?.(info);
    const waiting = info.num_pending + info.num_ack_pending;
    const m = marker(info);
    const moved = m !== lastMarker;
    lastMarker = m;
    if (moved || waiting === 0) lastProgress = Date.now();
    if (Date.now() - lastProgress < opts.stallMs) {
      if (stalled && (moved || waiting === 0 || sawProgress)) {
        setStalled(false);
        opts.log.warn({ ...labels }, "consumer progressing again");
      }
      return;
    }
    if (!stalled)
      opts.log.warn(
        {
          ...labels,
          pending: info.num_pending,
          ackPending: info.num_ack_pending,
          idleMs: Date.now() - lastProgress,
        },
        "consumer stalled: messages waiting and no progress; re-creating it",
      );
    setStalled(true);
    await recreate("stalled");
  };
  const timer = setInterval(
    () => {
      if (busy) return;
      busy = true;
      check()
        .catch((err) => opts.log.warn({ err, ...labels }, "watchdog check failed"))
        .finally(() => {
          busy = false;
        });
    },
    opts.intervalMs ?? Math.min(5_000, Math.max(250, opts.stallMs / 4)),
  );
  timer.unref();
  return {
    stalled: () => stalled,
    progress() {
      lastProgress = Date.now();
      sawProgress = true;
    },
    stop() {
      clearInterval(timer);
    },
  };
}
