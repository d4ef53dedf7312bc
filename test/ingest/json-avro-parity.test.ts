import fc from "fast-check";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IngestDeps } from "../../ingest/deps.ts";
import type { Config } from "../../lib/config/index.ts";
import { batchSubject } from "../../lib/jetstream/index.ts";
import {
  METRICS_BATCH_SCHEMA,
  type MetricsBatch,
  SCHEMA_FINGERPRINT_HEADER,
  SchemaRegistry,
} from "../../schemas/index.ts";
import { type FieldRule, itemRules, latestRecords } from "../../schemas/item-rules.ts";
import { testIngest, uniqueId } from "../support/app.ts";
import { freshBatch, toJsonBody } from "../support/batches.ts";
import { postBatch, registerInstance, type TestInstance } from "../support/instance-client.ts";

// The same batch, with one field of one item (or of the envelope) set to a value the rules refuse or
// allow, sent as JSON and as Avro: both answers must have the same status, code and rejected items,
// and what reaches the pipeline must be the same batch. The fields and their limits come from
// schemas/item-rules.ts and the .avsc, so a new field is fuzzed without touching this test.

let app: FastifyInstance;
let deps: IngestDeps;
let config: Readonly<Config>;
let instance: TestInstance;
const registry = new SchemaRegistry();
const latest = registry.latest(METRICS_BATCH_SCHEMA);

beforeAll(async () => {
  ({ app, deps, config } = await testIngest({ SMSTATS_INGEST_RATE_LIMIT_TIERS: "starter=1000000" }));
  instance = await registerInstance(app);
});
afterAll(async () => {
  await app?.close();
  await deps?.close();
});

// biome-ignore lint/suspicious/noExplicitAny: Avro schema JSON and batch items are edited structurally.
type Json = any;

/** Where a record's items live in a batch. */
const WHERE: Record<string, (b: Json) => Json> = {
  MetricsBatch: (b) => b,
  Metric: (b) => b.metrics[0],
  LibrarySnapshot: (b) => b.library[0],
  PlaybackEvent: (b) => b.playback[0],
  Song: (b) => b.playback[0].song,
  SessionEvent: (b) => b.session[0],
  Environment: (b) => b.environment,
};
// Set by ingest or checked elsewhere (identity, duplicates, times by age and clamping).
const SKIP = new Set([
  "MetricsBatch.instance_id",
  "MetricsBatch.batch_id",
  "MetricsBatch.received_at_ms",
  "MetricsBatch.timestamp_ms",
  "MetricsBatch.sent_at_ms",
]);

const INT = 2 ** 31 - 1;

/** Values around and past a field's limits that Avro can still carry. */
function edgeValues(avroType: Json, rule: FieldRule): fc.Arbitrary<unknown> | undefined {
  const t = Array.isArray(avroType) ? avroType.find((x) => x !== "null") : avroType;
  const name = typeof t === "string" ? t : t.type;
  const max = name === "int" ? INT : 2 ** 53 - 2;
  const min = name === "int" ? -INT - 1 : -(2 ** 53 - 2);
  switch (name) {
    case "int":
    case "long":
      return fc.oneof(
        fc.integer({ min: Math.max(min, (rule.minimum ?? min) - 1000), max: (rule.minimum ?? min) + 1000 }),
        fc.integer({
          min: Math.max(min, (rule.maximum ?? max) - 1000),
          max: Math.min(max, (rule.maximum ?? max) + 1000),
        }),
      );
    case "double":
      return fc.double({ min: (rule.minimum ?? -1e9) - 10, max: 1e9, noNaN: true, noDefaultInfinity: true });
    case "string": {
      const limit = rule.maxLength ?? 64;
      return fc.oneof(
        fc.string({ minLength: Math.max(0, limit - 2), maxLength: limit + 2 }),
        fc.constantFrom("", "9bad name!", "ok"),
      );
    }
    case "map": {
      const keyMax = rule.keyMaxLength ?? 64;
      const value = edgeValues(t.values, rule.values ?? {}) ?? fc.constant(0);
      return fc.dictionary(fc.string({ minLength: 1, maxLength: keyMax + 2 }), value, {
        maxKeys: (rule.maxProperties ?? 8) + 2,
        minKeys: 0,
      });
    }
    default:
      return undefined;
  }
}

const cases = [...latestRecords()].flatMap(([record, avsc]) =>
  (avsc.fields as { name: string; type: Json }[]).flatMap((field) => {
    const rule = (itemRules as Record<string, Record<string, FieldRule>>)[record]?.[field.name] ?? {};
    if (rule.family || SKIP.has(`${record}.${field.name}`) || !WHERE[record]) return [];
    const values = edgeValues(field.type, rule);
    return values ? [{ record, field: field.name, values }] : [];
  }),
);

async function lastStored(): Promise<MetricsBatch> {
  const m = await deps.jsm.streams.getMessage(config.nats.stream, {
    last_by_subj: batchSubject(config.nats),
  });
  if (!m) throw new Error("no message");
  return registry.decode<MetricsBatch>(m.data, m.header.get(SCHEMA_FINGERPRINT_HEADER)).value;
}

const started = Date.now();
// A clamped time is the receive time of its own request; both read "clamped".
const comparable = (b: MetricsBatch) =>
  JSON.parse(
    JSON.stringify({ ...b, batch_id: "", received_at_ms: 0 }, (k, v) =>
      k === "time_ms" && typeof v === "number" && v >= started ? "clamped" : v,
    ),
  );

describe("the same item as JSON and as Avro", () => {
  it("covers every field of the rules that Avro can carry out of range", () => {
    expect(cases.length).toBeGreaterThan(35);
  });

  it("gets the same status, code, rejected items and stored batch over generated edge values", async () => {
    const outcomes = new Map<number, number>();
    const arb = fc.integer({ min: 0, max: cases.length - 1 }).chain((i) => {
      const c = cases[i] as (typeof cases)[number];
      return fc.record({ c: fc.constant(c), value: c.values });
    });
    await fc.assert(
      fc.asyncProperty(arb, async ({ c, value }) => {
        const batch = freshBatch("everything", instance.instanceId, "x") as Json;
        (WHERE[c.record] as (b: Json) => Json)(batch)[c.field] = value;
        fc.pre(latest.type.isValid(batch));
        const asJson = { ...batch, batch_id: uniqueId("pj") };
        const asAvro = { ...batch, batch_id: uniqueId("pa") };
        const j = await postBatch(app, instance, toJsonBody(asJson));
        const storedJ = j.statusCode === 202 ? comparable(await lastStored()) : undefined;
        const a = await postBatch(app, instance, latest.type.toBuffer(asAvro), {
          avro: { fingerprint: latest.fingerprint },
        });
        const storedA = a.statusCode === 202 ? comparable(await lastStored()) : undefined;
        const label = `${c.record}.${c.field} = ${JSON.stringify(value)?.slice(0, 120)}: JSON ${j.body.slice(0, 300)} / Avro ${a.body.slice(0, 300)}`;
        outcomes.set(j.statusCode, (outcomes.get(j.statusCode) ?? 0) + 1);
        expect(a.statusCode, label).toBe(j.statusCode);
        const [jb, ab] = [j.json(), a.json()];
        expect(ab.error?.code, label).toBe(jb.error?.code);
        const where = (r: { family: string; index: number }[] = []) =>
          r.map((x) => `${x.family}[${x.index}]`);
        expect(where(ab.rejected), label).toEqual(where(jb.rejected));
        expect(ab.accepted, label).toBe(jb.accepted);
        expect(storedA, label).toEqual(storedJ);
      }),
      { numRuns: 200 },
    );
    // Both outcomes must occur, or the property says little.
    expect(outcomes.get(202)).toBeGreaterThan(10);
    expect(outcomes.get(400) ?? 0).toBeGreaterThan(0);
  }, 120_000);
});
