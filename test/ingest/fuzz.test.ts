import fc from "fast-check";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IngestDeps } from "../../ingest/deps.ts";
import type { Config } from "../../lib/config/index.ts";
import { METRICS_BATCH_SCHEMA, SchemaRegistry } from "../../schemas/index.ts";
import { testIngest } from "../support/app.ts";
import { freshBatch, toJsonBody } from "../support/batches.ts";
import { postBatch, registerInstance, type TestInstance } from "../support/instance-client.ts";

// Schema-driven fuzzing of POST /v1/stats/batch: bodies that are almost right (a valid batch with
// fields replaced by arbitrary values), arbitrary JSON, and arbitrary bytes sent as Avro. The
// properties: the server never answers 5xx, and a rejected batch publishes nothing.

let app: FastifyInstance;
let deps: IngestDeps;
let config: Readonly<Config>;
let instance: TestInstance;
const latest = new SchemaRegistry().latest(METRICS_BATCH_SCHEMA);

beforeAll(async () => {
  // The fuzzer sends hundreds of requests from one instance within a minute.
  ({ app, deps, config } = await testIngest({ SMSTATS_INGEST_RATE_LIMIT_TIERS: "starter=1000000" }));
  instance = await registerInstance(app);
});
afterAll(async () => {
  await app?.close();
  await deps?.close();
});

const streamMessages = async () => (await deps.jsm.streams.info(config.nats.stream)).state.messages;

const anyValue = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom("2026-11-24T12:00:00Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "", "NaN"),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
);

/** A valid JSON batch with some fields, at any depth, replaced by arbitrary values or removed. */
const mutatedBatch = fc
  .record({
    family: fc.constantFrom(
      "quality",
      "library",
      "playback",
      "session",
      "environment",
      "everything" as const,
    ),
    edits: fc.array(fc.tuple(fc.nat(), fc.option(anyValue, { nil: undefined })), {
      minLength: 1,
      maxLength: 4,
    }),
  })
  .map(({ family, edits }) => {
    const body = toJsonBody(
      freshBatch(family, instance.instanceId, `fz-${Math.random().toString(36).slice(2)}`),
    );
    const paths: { parent: Record<string, unknown> | unknown[]; key: string | number }[] = [];
    const walk = (node: unknown) => {
      const entries: [string | number, unknown][] = Array.isArray(node)
        ? node.map((v, i) => [i, v])
        : node && typeof node === "object"
          ? Object.entries(node)
          : [];
      for (const [key, value] of entries) {
        paths.push({ parent: node as Record<string, unknown>, key });
        walk(value);
      }
    };
    walk(body);
    for (const [at, value] of edits) {
      const p = paths[at % paths.length];
      if (!p) continue;
      if (value === undefined && !Array.isArray(p.parent))
        delete (p.parent as Record<string, unknown>)[p.key as string];
      else (p.parent as Record<string | number, unknown>)[p.key] = value;
    }
    return body;
  });

async function check(res: { statusCode: number; body: string }, before: number) {
  expect(res.statusCode, res.body).toBeLessThan(500);
  if (res.statusCode !== 202) expect(await streamMessages(), res.body).toBe(before);
}

describe("fuzzing POST /v1/stats/batch", () => {
  it("never answers 5xx to mutated batches, and publishes nothing for a rejected one", async () => {
    let statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(mutatedBatch, async (body) => {
        const before = await streamMessages();
        const res = await postBatch(app, instance, body);
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        await check(res, before);
      }),
      { numRuns: 300 },
    );
    // The generator must exercise both outcomes, or the property says little.
    expect(statuses.get(202)).toBeGreaterThan(0);
    expect([...statuses.keys()].some((s) => s >= 400)).toBe(true);
    statuses = new Map();
  });

  it("never answers 5xx to arbitrary JSON", async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 4 }), async (body) => {
        const before = await streamMessages();
        await check(await postBatch(app, instance, body), before);
      }),
      { numRuns: 150 },
    );
  });

  it("never answers 5xx to arbitrary or truncated Avro bytes", async () => {
    const valid = latest.type.toBuffer(freshBatch("everything", instance.instanceId, "fz-avro"));
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 512 }).map((a) => Buffer.from(a)),
      fc.nat({ max: valid.length - 1 }).map((n) => valid.subarray(0, n)),
      fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 0, max: 255 })).map(([i, b]) => {
        const copy = Buffer.from(valid);
        copy[i] = b;
        return copy;
      }),
    );
    await fc.assert(
      fc.asyncProperty(bytes, async (body) => {
        const before = await streamMessages();
        await check(
          await postBatch(app, instance, body, { avro: { fingerprint: latest.fingerprint } }),
          before,
        );
      }),
      { numRuns: 200 },
    );
  });

  it("answers 400 at once to Avro whose map claims 2^40 entries (it used to pin a core)", async () => {
    const batch = freshBatch("everything", instance.instanceId, "fz-bomb");
    const lib = batch.library[0] as (typeof batch.library)[number];
    const none = latest.type.toBuffer({ ...batch, library: [{ ...lib, songs_by_source: {} }] });
    const one = latest.type.toBuffer({ ...batch, library: [{ ...lib, songs_by_source: { a: 1 } }] });
    let at = 0;
    while (none[at] === one[at]) at++;
    // zigzag(2^40) as a varint, in place of the block count 1
    const count = [0x80, 0x80, 0x80, 0x80, 0x80, 0x40];
    const bomb = Buffer.concat([one.subarray(0, at), Buffer.from(count), one.subarray(at + 1)]);
    const before = await streamMessages();
    const started = performance.now();
    const res = await postBatch(app, instance, bomb, { avro: { fingerprint: latest.fingerprint } });
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(res.statusCode, res.body).toBe(400);
    expect(await streamMessages()).toBe(before);
  });
});
