import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IngestDeps } from "../../ingest/deps.ts";
import type { Config } from "../../lib/config/index.ts";
import { testIngest, uniqueId } from "../support/app.ts";
import { freshBatch, toJsonBody } from "../support/batches.ts";
import { nsName } from "../support/env.ts";
import { postBatch, registerInstance, type TestInstance } from "../support/instance-client.ts";

// A stream of its own, a few kilobytes large and with no consumer pulling, so that it fills up.
let app: FastifyInstance;
let deps: IngestDeps;
let config: Readonly<Config>;
let instance: TestInstance;

beforeAll(async () => {
  ({ app, deps, config } = await testIngest({
    SMSTATS_NATS_STREAM: nsName("TELEMETRY_FULL_TEST"),
    SMSTATS_NATS_SUBJECT_PREFIX: nsName("fulltest.telemetry"),
    SMSTATS_NATS_CONSUMER: nsName("processor_full_test"),
    SMSTATS_NATS_STREAM_MAX_BYTES: String(48 * 1024),
    SMSTATS_INGEST_BODY_LIMIT: String(16 * 1024),
    SMSTATS_INGEST_RATE_LIMIT_TIERS: "starter=100000",
  }));
  await deps.jsm.streams.purge(config.nats.stream);
  instance = await registerInstance(app);
});
afterAll(async () => {
  await deps?.jsm.streams.delete(config.nats.stream).catch(() => undefined);
  await app?.close();
  await deps?.close();
});

describe("when the stream is full", () => {
  it("answers 503 PIPELINE_FULL with Retry-After and keeps what it had stored", async () => {
    const statuses: number[] = [];
    let full: Awaited<ReturnType<typeof postBatch>> | undefined;
    for (let i = 0; i < 200 && !full; i++) {
      const res = await postBatch(
        app,
        instance,
        toJsonBody(freshBatch("everything", instance.instanceId, uniqueId("full"))),
      );
      statuses.push(res.statusCode);
      if (res.statusCode !== 202) full = res;
    }
    expect(statuses.filter((s) => s === 202).length).toBeGreaterThan(3);
    expect(full?.statusCode, full?.body).toBe(503);
    expect(full?.json().error.code).toBe("PIPELINE_FULL");
    expect(full?.headers["retry-after"]).toBe(String(config.ingest.retryAfterSeconds));
    // discard: new — the batches that got a 202 are all still there.
    const info = await deps.jsm.streams.info(config.nats.stream);
    expect(info.state.messages).toBe(statuses.filter((s) => s === 202).length);
  });
});
