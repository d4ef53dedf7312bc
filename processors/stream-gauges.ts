import type { JetStreamManager } from "@nats-io/jetstream";
import { Gauge, type Registry } from "prom-client";
import type { Config } from "../lib/config/index.ts";
import { deadLetterStreamName } from "../lib/jetstream/index.ts";

/**
 * Gauges read from JetStream at scrape time: what waits for the processors (the lag boards and alerts
 * watch) and how many dead letters are kept.
 */
export function streamGauges(registry: Registry, jsm: JetStreamManager, nats: Config["nats"]): void {
  const labels = { stream: nats.stream, consumer: nats.consumer };
  new Gauge({
    name: "smstats_jetstream_consumer_pending_messages",
    help: "Messages in the stream not yet delivered to the processors' consumer.",
    labelNames: ["stream", "consumer"],
    registers: [registry],
    async collect() {
      const info = await jsm.consumers.info(nats.stream, nats.consumer).catch(() => undefined);
      if (info) this.set(labels, info.num_pending);
    },
  });
  new Gauge({
    name: "smstats_jetstream_consumer_ack_pending_messages",
    help: "Messages delivered to processors and not yet acknowledged (buffered or being inserted).",
    labelNames: ["stream", "consumer"],
    registers: [registry],
    async collect() {
      const info = await jsm.consumers.info(nats.stream, nats.consumer).catch(() => undefined);
      if (info) this.set(labels, info.num_ack_pending);
    },
  });
  new Gauge({
    name: "smstats_jetstream_dead_letters",
    help: "Messages kept in the dead-letter stream.",
    labelNames: ["stream"],
    registers: [registry],
    async collect() {
      const name = deadLetterStreamName(nats);
      const info = await jsm.streams.info(name).catch(() => undefined);
      if (info) this.set({ stream: name }, info.state.messages);
    },
  });
}
