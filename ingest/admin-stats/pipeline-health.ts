import type { JetStreamManager } from "@nats-io/jetstream";
import type { Registry } from "prom-client";

/** Pipeline health as the services report it. */
export interface PipelineHealth {
  /**
   * Telemetry items this ingest process accepted since it started, and per second since the previous
   * reading (the first reading: since the process started).
   */
  ingest_items_accepted_total: number;
  ingest_items_per_second: number | null;
  /** Messages the processors have not yet acknowledged (pending + in flight). */
  jetstream_lag: number;
  /** Messages held in the dead-letter stream. */
  dead_letters: number;
  sampled_at: string;
}

/**
 * Reads pipeline health from the services' own state: ingest's metrics registry (items accepted), the
 * processors' durable consumer (lag) and the dead-letter stream. The rate is the difference to the
 * previous reading of this process.
 */
export function createPipelineHealth(opts: {
  metrics: Registry;
  jsm: JetStreamManager;
  stream: string;
  consumer: string;
  deadLetterStream: string;
}): () => Promise<PipelineHealth> {
  let previous = { at: Date.now() - process.uptime() * 1000, total: 0 };
  const accepted = async () => {
    const metric = opts.metrics.getSingleMetric("smstats_ingest_items_total");
    if (!metric) return 0;
    const values = (await metric.get()).values;
    return values.filter((v) => v.labels.outcome === "accepted").reduce((s, v) => s + v.value, 0);
  };
  const lag = async () => {
    try {
      const info = await opts.jsm.consumers.info(opts.stream, opts.consumer);
      return info.num_pending + info.num_ack_pending;
    } catch {
      // No processor has created its consumer yet: everything stored is waiting.
      return (await opts.jsm.streams.info(opts.stream)).state.messages;
    }
  };
  const deadLetters = async () => {
    try {
      return (await opts.jsm.streams.info(opts.deadLetterStream)).state.messages;
    } catch {
      return 0;
    }
  };
  return async () => {
    const [total, pending, dead] = await Promise.all([accepted(), lag(), deadLetters()]);
    const now = Date.now();
    const rate = now - previous.at >= 1000 ? ((total - previous.total) * 1000) / (now - previous.at) : null;
    if (now - previous.at >= 1000) previous = { at: now, total };
    return {
      ingest_items_accepted_total: total,
      ingest_items_per_second: rate === null ? null : Math.round(rate * 100) / 100,
      jetstream_lag: pending,
      dead_letters: dead,
      sampled_at: new Date(now).toISOString(),
    };
  };
}
