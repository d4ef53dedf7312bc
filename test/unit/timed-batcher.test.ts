import { describe, expect, it } from "vitest";
import { createTimedBatcher } from "../../lib/clients/index.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("createTimedBatcher", () => {
  it("gathers the calls of one wait into one run, in call order, answering each its own result", async () => {
    const runs: number[][] = [];
    const batch = createTimedBatcher<number, number>(async (items) => {
      runs.push(items);
      return items.map((i) => i * 10);
    }, 30);
    const answers = [batch(1), batch(2)];
    await sleep(5);
    answers.push(batch(3));
    expect(runs).toEqual([]);
    expect(await Promise.all(answers)).toEqual([10, 20, 30]);
    expect(runs).toEqual([[1, 2, 3]]);
    // A call after the run starts a new wait.
    expect(await batch(4)).toBe(40);
    expect(runs).toEqual([[1, 2, 3], [4]]);
  });

  it("sends a full batch at once, and flush sends what waits and resolves when it is answered", async () => {
    const runs: number[][] = [];
    let answered = 0;
    const batch = createTimedBatcher<number, number>(
      async (items) => {
        runs.push(items);
        await sleep(20);
        answered += items.length;
        return items;
      },
      10_000,
      2,
    );
    const full = [batch(1), batch(2)];
    expect(runs).toEqual([[1, 2]]);
    const waiting = batch(3);
    expect(runs).toHaveLength(1);
    await batch.flush();
    expect(runs).toEqual([[1, 2], [3]]);
    expect(answered).toBe(3);
    expect(await Promise.all([...full, waiting])).toEqual([1, 2, 3]);
  });

  it("rejects every call of a run that fails, and goes on with the next", async () => {
    let fail = true;
    const batch = createTimedBatcher<number, number>(async (items) => {
      if (fail) throw new Error("store down");
      return items;
    }, 5);
    const a = batch(1);
    const b = batch(2);
    await expect(a).rejects.toThrow("store down");
    await expect(b).rejects.toThrow("store down");
    fail = false;
    expect(await batch(3)).toBe(3);
  });
});
