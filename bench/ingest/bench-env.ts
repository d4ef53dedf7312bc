// The benchmark's own namespace on the shared local stack, beside `npm start`'s and the tests' (see
// test/support/env.ts): the test databases (the bench writes only instance rows there), its own stream,
// subjects, consumer and Redis key prefix, so neither dev data nor a concurrent `npm test` is touched.

/** Stream the benchmarked ingest publishes to; purged before every run and deleted at the end. */
export const BENCH_STREAM = "TELEMETRY_BENCH";

// Far above what one box can send, for every tier a registration can yield, so the limiter's Redis call
// still runs on every request (its cost is part of the ingest) but never refuses one.
const NO_LIMIT = "100000000";

/** SMSTATS_* variables of the benchmarked ingest (port excluded: it is chosen per run). */
export const BENCH_ENV = {
  SMSTATS_LOG_LEVEL: "warn",
  SMSTATS_CLICKHOUSE_DATABASE: "smstats_test",
  SMSTATS_POSTGRES_DATABASE: "smstats_test",
  SMSTATS_NATS_STREAM: BENCH_STREAM,
  SMSTATS_NATS_SUBJECT_PREFIX: "bench.telemetry",
  SMSTATS_NATS_CONSUMER: "processor_bench",
  SMSTATS_REDIS_KEY_PREFIX: "smstats-bench:",
  // A stream reserves its max_bytes in JetStream's store, which the local stack caps at 4 GB beside the
  // service's 2 GiB stream and the tests' 256 MiB one. 1 GiB holds one run (the stream is purged before
  // each) up to about 15k batches/s; past that the ingest answers 503 PIPELINE_FULL and the report says so.
  SMSTATS_NATS_STREAM_MAX_BYTES: String(1024 ** 3),
  SMSTATS_NATS_DLQ_MAX_BYTES: String(64 * 1024 * 1024),
  SMSTATS_INGEST_HOST: "127.0.0.1",
  SMSTATS_INGEST_RATE_LIMIT_PER_MIN: NO_LIMIT,
  SMSTATS_INGEST_RATE_LIMIT_TIERS: `starter=${NO_LIMIT},party_host=${NO_LIMIT},venue=${NO_LIMIT}`,
  // Up to 256 instances register from one address per run (licensing's per-address rule).
  SMSTATS_LICENSE_REGISTRATIONS_PER_HOUR: NO_LIMIT,
  // A benchmark measures capacity from one address with up to 1,024 connections: no per-address cap
  // and no in-flight shedding (event-loop and memory shedding stay on).
  SMSTATS_INGEST_MAX_CONNECTIONS_PER_ADDRESS: NO_LIMIT,
  SMSTATS_INGEST_MAX_IN_FLIGHT: NO_LIMIT,
  // Every bench batch carries the example's two error metrics, thousands of batches an hour per
  // instance: the abuse rule (1,000 error reports per instance per hour) would drop them as abuse.
  SMSTATS_ABUSE_MAX_ERROR_REPORTS_PER_HOUR: NO_LIMIT,
} as const;
