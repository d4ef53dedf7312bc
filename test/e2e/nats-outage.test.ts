import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IngestDeps } from "../../ingest/deps.ts";
import type { Config } from "../../lib/config/index.ts";
import { stackDown, stackUp } from "../../stack/index.ts";
import { seedBody, testIngest, uniqueId } from "../support/app.ts";
import { postBatch, registerInstance, type TestInstance } from "../support/instance-client.ts";

let app: FastifyInstance;
let deps: IngestDeps;
let config: Readonly<Config>;
let instance: TestInstance;

beforeAll(async () => {
  ({ app, deps, config } = await testIngest());
  instance = await registerInstance(app);
});
afterAll(async () => {
  // Whatever happened, leave NATS running for the suites after this one.
  await stackUp();
  await app?.close();
  await deps?.close();
});

describe("when NATS stops", () => {
  it("answers 503 with Retry-After for readiness and batches, and recovers without a restart", async () => {
    const down = await stackDown({ only: ["nats"] });
    expect(down.services).toMatchObject([{ name: "nats", action: "stopped" }]);
    await new Promise((r) => setTimeout(r, 300));

    const ready = await app.inject("/health/ready");
    expect(ready.statusCode).toBe(503);
    expect(ready.headers["retry-after"]).toBeDefined();
    expect(ready.json().checks.nats.ok).toBe(false);

    const post = await postBatch(app, instance, {
      ...seedBody(instance.instanceId),
      batch_id: uniqueId("down"),
    });
    expect(post.statusCode, post.body).toBe(503);
    expect(post.headers["retry-after"]).toBe(String(config.ingest.retryAfterSeconds));
    expect(post.json().error.code).toBe("PIPELINE_UNAVAILABLE");

    await stackUp();
    let status = 0;
    for (let i = 0; i < 150 && status !== 202; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const res = await postBatch(app, instance, {
        ...seedBody(instance.instanceId),
        batch_id: uniqueId("back"),
      });
      status = res.statusCode;
    }
    expect(status).toBe(202);
    expect((await app.inject("/health/ready")).statusCode).toBe(200);
  });
});
