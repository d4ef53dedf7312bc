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
  SMSTATS_REDIS_KEY_PREFIX: "smstats-test:",
} as const;
