export {
  type CompatibilityProblem,
  checkCompatibility,
  formatProblems,
  type VersionedType,
} from "./compat.ts";
export { type ExampleFamily, exampleBatches } from "./examples.ts";
// Generated types: every version (MetricsBatchV1, PlaybackEventV2, …), unversioned aliases for the
// latest version (MetricsBatch, Metric, LibrarySnapshot, PlaybackEvent, Song, SessionEvent,
// Environment, PrivacyFlags, …), enum symbol arrays and the fingerprints of every version.
export * from "./generated/telemetry.ts";
export { METRIC_FAMILY_TABLE, type MetricFamily, metricFamily } from "./metric-families.ts";
export {
  SchemaError,
  type SchemaErrorCode,
  SchemaRegistry,
  type SchemaVersion,
  telemetrySchemaDir,
} from "./registry.ts";

/** NATS header carrying the writer schema's fingerprint (sha256 of its canonical form, hex). */
export const SCHEMA_FINGERPRINT_HEADER = "Sm-Schema-Fingerprint";
/** Full Avro name of the batch schema. */
export const METRICS_BATCH_SCHEMA = "songmartyn.stats.telemetry.MetricsBatch";
