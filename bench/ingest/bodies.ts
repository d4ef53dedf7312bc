import { randomBytes } from "node:crypto";
import { AVRO_CONTENT_TYPE } from "../../ingest/plugins/body-parsers.ts";
import { FINGERPRINT_HEADER } from "../../ingest/routes/v1/stats/batch.ts";
import {
  bodySha256Hex,
  requestSignature,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
} from "../../licensing/index.ts";
import { PREAGGREGATE } from "../../processors/steps/downsample/index.ts";
import {
  exampleBatches,
  METRICS_BATCH_SCHEMA,
  type Metric,
  type MetricsBatch,
  SchemaRegistry,
} from "../../schemas/index.ts";
import type { BenchInstance } from "./instances.ts";

/** Metrics in every benchmark batch. */
export const METRICS_PER_BATCH = 100;

/** How a batch travels: the seed's JSON, or Avro encoded by the client. */
export type BodyFormat = "json" | "avro";

/** One request's body and headers, signed and ready to send. */
export interface SignedBatch {
  headers: Record<string, string>;
  body: Buffer;
}

/** Hands out new signed batches from a fleet of instances, round-robin. */
export interface Fleet {
  /** A batch never sent before (new batch_id, next seq of its instance) with a new signature. */
  next(format: BodyFormat): SignedBatch;
}

/** The request path every batch is posted (and signed) for. */
export const BATCH_PATH = "/v1/stats/batch";

/**
 * `count` quality metrics made by cycling through the example quality list (so names and tags, e.g.
 * api_response_times_ms{operation} and error_count_by_type{type}, are the real ones), values varied.
 */
export function qualityMetrics(count: number, now: number): Metric[] {
  // Metrics the processors pre-aggregate (mpv health, several samples → one row a minute) are left out,
  // so every metric accepted is exactly one stored row and the pipeline bench can count loss per batch.
  const examples = exampleBatches.quality.metrics.filter((m) => !(m.name in PREAGGREGATE));
  return Array.from({ length: count }, (_, i) => {
    const m = examples[i % examples.length] as Metric;
    return {
      name: m.name,
      value: Math.round((m.value + i * 0.5) * 10) / 10,
      tags: { ...m.tags },
      time_ms: m.time_ms === null ? null : now - 30_000,
    };
  });
}

interface InstanceState {
  instance: BenchInstance;
  bearer: string;
  seq: number;
  lastTimestamp: number;
  /** The JSON body split around batch_id and seq, serialized once. */
  json: { head: string; mid: string; tail: string };
  /** The Avro record without batch_id and seq. */
  avro: MetricsBatch;
}

/**
 * A fleet over registered instances. Bodies are built from per-instance templates made once here, so
 * the per-request cost in the load generator is splicing a batch id and seq (JSON) or one avsc encode
 * (Avro), plus the body digest and HMAC every real client pays too.
 */
export function createFleet(instances: BenchInstance[], now = Date.now()): Fleet {
  if (instances.length === 0) throw new Error("a fleet needs at least one instance");
  const latest = new SchemaRegistry().latest(METRICS_BATCH_SCHEMA);
  const metrics = qualityMetrics(METRICS_PER_BATCH, now);
  const iso = new Date(now).toISOString();
  const privacy = { anonymize_songs: true, anonymize_users: true, exclude_local: true };
  // The same items in both formats: JSON leaves out empty tags and absent times, as clients do.
  const jsonMetrics = metrics.map((m) => ({
    name: m.name,
    value: m.value,
    ...(Object.keys(m.tags).length ? { tags: m.tags } : {}),
    ...(m.time_ms === null ? {} : { time: new Date(m.time_ms).toISOString() }),
  }));
  const jsonRest = JSON.stringify({
    sent_at: iso,
    timestamp: iso,
    app_version: "1.4.2",
    sdk_version: "0.3.0",
    privacy,
    metrics: jsonMetrics,
  });
  const states: InstanceState[] = instances.map((instance) => ({
    instance,
    bearer: `Bearer ${instance.token}`,
    seq: 0,
    lastTimestamp: 0,
    json: {
      head: `{"instance_id":${JSON.stringify(instance.instanceId)},"batch_id":"`,
      mid: `","seq":`,
      tail: `,${jsonRest.slice(1)}`,
    },
    avro: {
      instance_id: instance.instanceId,
      batch_id: "",
      seq: 0,
      sent_at_ms: now,
      timestamp_ms: now,
      received_at_ms: 0,
      app_version: "1.4.2",
      sdk_version: "0.3.0",
      privacy,
      metrics,
      library: [],
      playback: [],
      session: [],
      environment: null,
    },
  }));
  // A run-unique prefix: a batch id is never reused, not even by another run within JetStream's
  // duplicate window, so no benchmark batch can be answered as a duplicate.
  const run = randomBytes(4).toString("hex");
  let counter = 0;
  let turn = 0;

  return {
    next(format) {
      const s = states[turn] as InstanceState;
      turn = (turn + 1) % states.length;
      // 32 base64url characters: a fixed-format id, which the processors store as sent (any other
      // shape is stored as a keyed hash, and the loss check by batch id would find nothing).
      const batchId = `${run}-${String(++counter).padStart(23, "0")}`;
      const seq = ++s.seq;
      const body =
        format === "json"
          ? Buffer.from(s.json.head + batchId + s.json.mid + seq + s.json.tail)
          : latest.type.toBuffer({ ...s.avro, batch_id: batchId, seq });
      // Strictly increasing per instance, as one real client's clock would be. Per process it would run
      // ahead of the wall clock at more than 1000 requests/s and leave the ingest's ±300 s window.
      const timestamp = Math.max(Date.now(), s.lastTimestamp + 1);
      s.lastTimestamp = timestamp;
      const headers: Record<string, string> = {
        authorization: s.bearer,
        "content-type": format === "json" ? "application/json" : AVRO_CONTENT_TYPE,
        [TIMESTAMP_HEADER]: String(timestamp),
        [SIGNATURE_HEADER]: requestSignature({
          secret: s.instance.secret,
          method: "POST",
          path: BATCH_PATH,
          timestamp,
          bodySha256Hex: bodySha256Hex(body),
        }),
      };
      if (format === "avro") headers[FINGERPRINT_HEADER] = latest.fingerprint;
      return { headers, body };
    },
  };
}
