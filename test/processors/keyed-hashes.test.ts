import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { songHash, songKeyPart, userHash } from "../../processors/steps/anonymize/keyed-hashes.ts";
import { identifierHash, shapeMetricName } from "../../processors/steps/anonymize/shape-rules.ts";

// What the hashes are, computed afresh every time (no memo): the memoized functions must always agree.
const hmac = (secret: Buffer, text: string) =>
  createHmac("sha256", secret).update(text, "utf8").digest("hex");
const freshSong = (secret: Buffer, artist: string | null, title: string | null) => {
  const a = songKeyPart(artist);
  const t = songKeyPart(title);
  return !a && !t ? "" : hmac(secret, `song\u0000${a}\u0000${t}`);
};
const freshUser = (secret: Buffer, instance: string, user: string | null) =>
  user ? hmac(secret, `user\u0000${instance}\u0000${user}`) : "";

describe("keyed hashes (memoized per secret)", () => {
  const secret = Buffer.alloc(32, 7);
  // Pairs whose naive concatenations collide, nulls beside the strings a null could be mistaken for.
  const songs: [string | null, string | null][] = [
    [null, "x"],
    ["\u0001", "x"],
    ["", "x"],
    ["ab", "c"],
    ["a", "bc"],
    ["a:1", "b"],
    ["a", ":1b"],
    ["A  Artist ", "Title"],
    ["a artist", "title"],
    [null, null],
  ];

  it("gives every song the HMAC of its normalised artist and title, on first and repeated calls", () => {
    for (let round = 0; round < 3; round++) {
      for (const [a, t] of songs) expect(songHash(secret, a, t), `${a} / ${t}`).toBe(freshSong(secret, a, t));
    }
  });

  it("keeps users of different instances apart, on first and repeated calls", () => {
    const cases: [string, string | null][] = [
      ["i1", "u"],
      ["i", "1u"],
      ["i1", null],
      ["i1", ""],
    ];
    for (let round = 0; round < 3; round++) {
      for (const [i, u] of cases) expect(userHash(secret, i, u), `${i} / ${u}`).toBe(freshUser(secret, i, u));
    }
  });

  it("never answers with another secret's hash", () => {
    const other = Buffer.alloc(32, 8);
    expect(songHash(secret, "a", "b")).toBe(freshSong(secret, "a", "b"));
    expect(songHash(other, "a", "b")).toBe(freshSong(other, "a", "b"));
    expect(userHash(other, "i", "u")).toBe(freshUser(other, "i", "u"));
  });

  it("stays right past its size bound (60,000 distinct songs)", () => {
    for (let i = 0; i < 60_000; i++) {
      const h = songHash(secret, `artist ${i}`, "t");
      if (i % 5_000 === 0) expect(h).toBe(freshSong(secret, `artist ${i}`, "t"));
    }
    expect(songHash(secret, "artist 1", "t")).toBe(freshSong(secret, "artist 1", "t"));
  });

  it("memoizes identifiers and custom metric names apart from each other and from users (one memo)", () => {
    const freshId = (field: string, instance: string, value: string) =>
      hmac(secret, `id\u0000${field}\u0000${instance}\u0000${value}`).slice(0, 32);
    const freshName = (name: string) => `custom_${hmac(secret, `metric\u0000${name}`).slice(0, 16)}`;
    const ids: [string, string, string][] = [
      ["session_id", "i1", "x"],
      ["session_id", "i", "1x"],
      ["session_i", "di1", "x"],
      ["user_id", "i1", "u"],
    ];
    const none = () => {};
    for (let round = 0; round < 3; round++) {
      // A user and a song whose memo keys would read like the identifiers' without the purpose prefix.
      expect(userHash(secret, "i1", "u")).toBe(freshUser(secret, "i1", "u"));
      for (const [f, i, v] of ids)
        expect(identifierHash(secret, f, i, v), `${f}/${i}/${v}`).toBe(freshId(f, i, v));
      for (const name of ["my metric", "i1u", "s1:a"])
        expect(shapeMetricName(secret, name, none)).toBe(freshName(name));
    }
    const other = Buffer.alloc(32, 9);
    expect(identifierHash(other, "session_id", "i1", "x")).toBe(
      hmac(other, "id\u0000session_id\u0000i1\u0000x").slice(0, 32),
    );
  });
});
