/**
 * The tests' own namespace on the shared local stack: their own ClickHouse and PostgreSQL databases,
 * JetStream stream and consumer, and Redis key prefix, so `npm test` never touches `npm start`'s data.
 */
/**
 * `SMTEST_NS` (letters, digits, `_`) suffixes every name below, so two checkouts can run their
 * suites on one stack at the same time without reading each other's messages or rows.
 */
export const TEST_NS = (() => {
  const ns = process.env.SMTEST_NS ?? "";
  if (!/^[a-z0-9_]*$/i.test(ns)) throw new Error(`SMTEST_NS must match [A-Za-z0-9_]*, got ${ns}`);
  return ns.toLowerCase();
})();

/** A test-only name with the namespace appended (streams in upper case, the rest as given). */
export function nsName(name: string): string {
  if (!TEST_NS) return name;
  return /^[A-Z0-9_]+$/.test(name) ? `${name}_${TEST_NS.toUpperCase()}` : `${name}_${TEST_NS}`;
}

export const TEST_ENV = {
  SMSTATS_LOG_LEVEL: "warn",
  SMSTATS_CLICKHOUSE_DATABASE: nsName("smstats_test"),
  SMSTATS_POSTGRES_DATABASE: nsName("smstats_test"),
  SMSTATS_NATS_STREAM: nsName("TELEMETRY_TEST"),
  SMSTATS_NATS_SUBJECT_PREFIX: nsName("test.telemetry"),
  SMSTATS_NATS_CONSUMER: nsName("processor_test"),
  // Streams reserve their max_bytes in JetStream's store; the tests' stream must leave room for the
  // service's own (2 GiB) within the local stack's 4 GB.
  SMSTATS_NATS_STREAM_MAX_BYTES: String(256 * 1024 * 1024),
  SMSTATS_NATS_DLQ_MAX_BYTES: String(64 * 1024 * 1024),
  SMSTATS_REDIS_KEY_PREFIX: `smstats-test${TEST_NS}:`,
  // The suites register hundreds of instances from 127.0.0.1, and the counter lives an hour across runs;
  // test/licensing/abuse.test.ts sets its own limit to test the rule.
  SMSTATS_LICENSE_REGISTRATIONS_PER_HOUR: "1000000",
  // Every ingest a test spawns takes a free port for its /metrics listener (files run in parallel).
  SMSTATS_INGEST_METRICS_PORT: "0",
} as const;
