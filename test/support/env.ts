/**
 * The tests' own namespace on the shared local stack: their own ClickHouse and PostgreSQL databases,
 * JetStream stream and consumer, and Redis key prefix, so `npm test` never touches `npm start`'s data.
 */
export const TEST_ENV = {
  SMSTATS_LOG_LEVEL: "warn",
  SMSTATS_CLICKHOUSE_DATABASE: "smstats_test",
  SMSTATS_POSTGRES_DATABASE: "smstats_test",
  SMSTATS_NATS_STREAM: "TELEMETRY_TEST",
  SMSTATS_NATS_SUBJECT_PREFIX: "test.telemetry",
  SMSTATS_NATS_CONSUMER: "processor_test",
  // Streams reserve their max_bytes in JetStream's store; the tests' stream must leave room for the
  // service's own (2 GiB) within the local stack's 4 GB.
  SMSTATS_NATS_STREAM_MAX_BYTES: String(256 * 1024 * 1024),
  SMSTATS_NATS_DLQ_MAX_BYTES: String(64 * 1024 * 1024),
  SMSTATS_REDIS_KEY_PREFIX: "smstats-test:",
} as const;
