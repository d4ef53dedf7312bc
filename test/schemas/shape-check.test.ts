import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { exampleBatches, METRICS_BATCH_SCHEMA, SchemaRegistry } from "../../schemas/index.ts";
import { AvroShapeError, checkAvroShape } from "../../schemas/shape-check.ts";

const registry = new SchemaRegistry();
const latest = registry.latest(METRICS_BATCH_SCHEMA);
const example = exampleBatches.everything;

const library = example.library[0] as (typeof example.library)[number];

/** The example with the library's songs_by_source map claiming `count` entries (avsc reads maps entry by entry). */
function withMapCount(count: bigint): Buffer {
  const none = latest.type.toBuffer({ ...example, library: [{ ...library, songs_by_source: {} }] });
  const one = latest.type.toBuffer({ ...example, library: [{ ...library, songs_by_source: { a: 1 } }] });
  return withCountAt(none, one, count);
}

/** The example encoded with its metrics array's item count replaced by `count`. */
function withMetricsCount(count: bigint): Buffer {
  const none = latest.type.toBuffer({ ...example, metrics: [] });
  const one = latest.type.toBuffer({ ...example, metrics: example.metrics.slice(0, 1) });
  return withCountAt(none, one, count);
}

/** `one` (a block of 1 item where `none` has 0) with that block's count replaced by `count`. */
function withCountAt(none: Buffer, one: Buffer, count: bigint): Buffer {
  let at = 0;
  while (none[at] === one[at]) at++; // the first byte that differs is the block count (0 vs 1)
  const zigzag = count * 2n;
  const varint: number[] = [];
  for (let v = zigzag; ; v >>= 7n) {
    if (v < 0x80n) {
      varint.push(Number(v));
      break;
    }
    varint.push(Number(v & 0x7fn) | 0x80);
  }
  return Buffer.concat([one.subarray(0, at), Buffer.from(varint), one.subarray(at + 1)]);
}

describe("checkAvroShape", () => {
  it("tells whether a string or a map key holds NUL, and only then", () => {
    const clean = latest.type.toBuffer(example);
    expect(checkAvroShape(latest.type, clean).nulInText).toBe(false);
    const metric = example.metrics[0] as (typeof example.metrics)[number];
    const inValue = latest.type.toBuffer({
      ...example,
      metrics: [{ ...metric, tags: { operation: "a\u0000b" } }],
    });
    expect(checkAvroShape(latest.type, inValue).nulInText).toBe(true);
    const inKey = latest.type.toBuffer({ ...example, metrics: [{ ...metric, tags: { "k\u0000": "v" } }] });
    expect(checkAvroShape(latest.type, inKey).nulInText).toBe(true);
    const inName = latest.type.toBuffer({ ...example, metrics: [{ ...metric, name: "x\u0000" }] });
    expect(registry.decode(inName, latest.fingerprint).nulInText).toBe(true);
  });

  it("accepts every example batch of every schema version", () => {
    for (const family of Object.keys(exampleBatches) as (keyof typeof exampleBatches)[]) {
      const bytes = latest.type.toBuffer(exampleBatches[family]);
      expect(() => checkAvroShape(latest.type, bytes), family).not.toThrow();
    }
  });

  it("refuses a map claiming 2^40 entries at once; avsc alone would read them one by one for hours", () => {
    // avsc reads a map entry by entry past the buffer's end before it notices: measured here, 286 ms for a
    // claimed 10^7 entries, so 2^40 would hold a core for about 9 hours. This is what stalled a fuzz run.
    const bomb = withMapCount(2n ** 40n);
    const started = performance.now();
    expect(() => registry.decode(bomb, latest.fingerprint)).toThrow(/block of .* items past the end/);
    expect(performance.now() - started).toBeLessThan(100);
    expect(() => checkAvroShape(latest.type, withMapCount(1n))).not.toThrow();
  });

  it("refuses an array block count larger than the bytes left", () => {
    const bomb = withMetricsCount(2n ** 60n);
    const started = performance.now();
    expect(() => checkAvroShape(latest.type, bomb)).toThrow(/block of .* items past the end/);
    expect(() => registry.decode(bomb, latest.fingerprint)).toThrow(/malformed Avro/);
    expect(performance.now() - started).toBeLessThan(100);
    // The same shape with a count that fits still decodes (the check is not what refuses it).
    expect(() => checkAvroShape(latest.type, withMetricsCount(1n))).not.toThrow();
  });

  it("ends in bounded time on arbitrary mutations of a valid batch, and never passes what avsc refuses", () => {
    const valid = latest.type.toBuffer(example);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        (edits) => {
          const bytes = Buffer.from(valid);
          for (const [i, b] of edits) bytes[i] = b;
          let shapeOk = true;
          try {
            checkAvroShape(latest.type, bytes);
          } catch (err) {
            expect(err).toBeInstanceOf(AvroShapeError);
            shapeOk = false;
          }
          // Only bytes that passed the walk are handed to avsc (as the registry does).
          if (shapeOk) expect(() => latest.type.fromBuffer(bytes)).not.toThrow();
        },
      ),
      { numRuns: 2000 },
    );
  });
});
