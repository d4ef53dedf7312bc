import { describe, expect, it } from "vitest";
import { singleFlightCache } from "../../processors/steps/enrich/index.ts";

function counting() {
  const calls: string[] = [];
  const load = async (key: string) => {
    calls.push(key);
    return `${key}@${calls.length}`;
  };
  return { calls, load };
}

describe("singleFlightCache", () => {
  it("shares one load among concurrent callers of a key", async () => {
    const { calls, load } = counting();
    const get = singleFlightCache(load, { ttlMs: 1_000, maxEntries: 10, now: () => 0 });
    expect(await Promise.all([get("a"), get("a"), get("b")])).toEqual(["a@1", "a@1", "b@2"]);
    expect(calls).toEqual(["a", "b"]);
  });

  it("loads again once the TTL has passed", async () => {
    const { calls, load } = counting();
    let now = 0;
    const get = singleFlightCache(load, { ttlMs: 1_000, maxEntries: 10, now: () => now });
    await get("a");
    now = 999;
    await get("a");
    now = 1_000;
    expect(await get("a")).toBe("a@2");
    expect(calls).toEqual(["a", "a"]);
  });

  it("does not keep a failure: the next call loads again", async () => {
    let fail = true;
    const get = singleFlightCache(
      async (key) => {
        if (fail) throw new Error("down");
        return key;
      },
      { ttlMs: 1_000, maxEntries: 10, now: () => 0 },
    );
    await expect(get("a")).rejects.toThrow("down");
    fail = false;
    expect(await get("a")).toBe("a");
  });

  it("forgets the least recently used key beyond maxEntries", async () => {
    const { calls, load } = counting();
    const get = singleFlightCache(load, { ttlMs: 1_000, maxEntries: 2, now: () => 0 });
    await get("a");
    await get("b");
    await get("a"); // a is now more recent than b
    await get("c"); // evicts b
    await get("a");
    await get("b");
    expect(calls).toEqual(["a", "b", "c", "b"]);
  });
});
