export type { MetricsBatch, MetricV1 as Metric } from "./generated/telemetry.ts";
export { SchemaError, SchemaRegistry, type SchemaVersion, telemetrySchemaDir } from "./registry.ts";

/** NATS header carrying the writer schema's fingerprint (sha256 of its canonical form, hex). */
export const SCHEMA_FINGERPRINT_HEADER = "Sm-Schema-Fingerprint";
/** Full Avro name of the batch schema. */
export const METRICS_BATCH_SCHEMA = "songmartyn.stats.telemetry.MetricsBatch";
