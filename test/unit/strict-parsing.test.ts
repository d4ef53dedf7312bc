import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { duplicateKey, duplicateKeyIn, unstorableJson, unstorableText } from "../../lib/http/index.ts";
import { parseRfc3339 } from "../../lib/time/index.ts";

describe("parseRfc3339", () => {
  it.each([
    ["2016-12-31T23:59:60Z", Date.parse("2016-12-31T23:59:59.999Z")],
    ["2017-01-01T00:59:60+01:00", Date.parse("2016-12-31T23:59:59.999Z")],
    ["2026-01-01t12:00:00z", Date.parse("2026-01-01T12:00:00Z")],
    ["2026-01-01T12:00:00.123456789+05:30", Date.parse("2026-01-01T06:30:00.123Z")],
    ["2026-01-01T12:00:00-00:00", Date.parse("2026-01-01T12:00:00Z")],
    ["2024-02-29T00:00:00Z", Date.parse("2024-02-29T00:00:00Z")],
    ["0050-06-01T00:00:00Z", Date.UTC(2000, 5, 1) - 1950 * 365.2425 * 86_400_000],
  ])("reads %s", (text, ms) => {
    if (text.startsWith("0050")) expect(new Date(parseRfc3339(text) as number).getUTCFullYear()).toBe(50);
    else expect(parseRfc3339(text)).toBe(ms);
  });

  it.each([
    "2026-02-29T00:00:00Z",
    "2026-01-01T12:00:60Z",
    "2026-01-01T24:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-01-01T12:00:00",
    "2026-01-01T12:00:00+5:30",
    "2026-01-01",
    "",
  ])("refuses %s", (text) => {
    expect(parseRfc3339(text)).toBeUndefined();
  });

  it("agrees with Date.parse on every ISO string Date can print", () => {
    fc.assert(
      fc.property(fc.date({ min: new Date(0), max: new Date("9999-12-31"), noInvalidDate: true }), (d) => {
        expect(parseRfc3339(d.toISOString())).toBe(d.getTime());
      }),
    );
  });
});

describe("duplicateKey", () => {
  it("finds no duplicate in any JSON.stringify output", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(duplicateKey(JSON.stringify(v))).toBeUndefined();
      }),
    );
  });

  it("finds a key repeated in one object, escapes and nesting included", () => {
    expect(duplicateKey('{"a":1,"b":{"a":2},"a":3}')).toBe("a");
    expect(duplicateKey('{"a\\u0062":1,"ab":2}')).toBe("ab");
    expect(duplicateKey('[{"x":"{\\"y\\":1,\\"y\\":2}"},{"x":1}]')).toBeUndefined();
    expect(duplicateKey('{"l":[{"k":1},{"k":2}],"m":{"k":1,"k":1}}')).toBe("k");
  });

  it("duplicateKeyIn (keys counted in the text and in the parsed value) answers as the full walk does", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const text = JSON.stringify(v, null, 1);
        expect(duplicateKeyIn(text, JSON.parse(text))).toBeUndefined();
      }),
    );
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.string(), (obj, k) => {
        const inner = JSON.stringify(obj).slice(1, -1);
        const key = JSON.stringify(k);
        const text = `[1, {${key} :1${inner ? `,${inner}` : ""},${key}\n:2}]`;
        expect(duplicateKeyIn(text, JSON.parse(text))).toBe(k);
        expect(duplicateKeyIn(text, JSON.parse(text))).toBe(duplicateKey(text));
      }),
    );
    // Keys the parser dropped (secure-json-parse removes __proto__): the full walk decides, and finds none.
    expect(duplicateKeyIn('{"a":1,"__proto__":{"b":2}}', { a: 1 })).toBeUndefined();
    expect(duplicateKeyIn('{"a\\u0062":1,"ab":2}', { ab: 2 })).toBe("ab");
  });
});

describe("unstorableText", () => {
  it("names NUL and lone surrogates in values and keys, and passes paired surrogates", () => {
    expect(unstorableText({ a: ["ok", "x\u0000"] })).toMatch(/body.a\[1\] contains NUL/);
    expect(unstorableText({ "k\ud800": 1 })).toMatch(/surrogate/);
    expect(unstorableText({ a: "\udc00x" })).toMatch(/surrogate/);
    expect(unstorableText({ a: "🎤 karaoke", b: 1, c: null })).toBeUndefined();
  });

  it("finds in JSON text exactly what the walk finds in the parsed value (the fast path skips no case)", () => {
    const text = fc.oneof(fc.string(), fc.constantFrom("\u0000", "\ud800", "\udfff", "a\\u0000", "🎤", "\\"));
    fc.assert(
      fc.property(fc.array(fc.tuple(text, text), { maxLength: 4 }), (pairs) => {
        const value = Object.fromEntries(pairs);
        expect(unstorableJson(JSON.stringify(value), value)).toBe(unstorableText(value));
      }),
      { numRuns: 500 },
    );
  });
});
