import { describe, expect, it } from "vitest";
import {
  clickhouseCode,
  insertRepeatingUnknownStatus,
  type UnknownStatusRetry,
} from "../../processors/sinks/clickhouse/unknown-status.ts";

// 18.16 answers over HTTP with the code in the text; newer servers' codes come parsed by the client.
const unknownStatus = () =>
  new Error(
    "Code: 319, e.displayText() = DB::Exception: Unknown status, client must retry. Reason: Connection loss, e.what() = DB::Exception",
  );
const readOnly = () => new Error("Code: 242, e.displayText() = DB::Exception: Table is in readonly mode");

function clock(): UnknownStatusRetry & { waited: number[] } {
  let t = 0;
  const waited: number[] = [];
  return {
    deadlineMs: 10_000,
    baseDelayMs: 250,
    maxDelayMs: 2_000,
    waited,
    now: () => t,
    sleep: async (ms) => {
      waited.push(ms);
      t += ms;
    },
  };
}

describe("an insert whose status ClickHouse could not tell (code 319)", () => {
  it("reads the code from 18.16's text and from the client's parsed errors", () => {
    expect(clickhouseCode(unknownStatus())).toBe("319");
    expect(clickhouseCode(Object.assign(new Error("Unknown status"), { code: "319" }))).toBe("319");
    expect(clickhouseCode(new Error("socket hang up"))).toBeUndefined();
    expect(clickhouseCode("319")).toBeUndefined();
  });

  it("is repeated, through the errors of ZooKeeper's absence, until it succeeds", async () => {
    const answers = [unknownStatus(), readOnly(), readOnly(), new Error("connect ECONNREFUSED"), undefined];
    let calls = 0;
    const retries: number[] = [];
    const opts = { ...clock(), onRetry: (attempt: number) => retries.push(attempt) };
    await insertRepeatingUnknownStatus(async () => {
      const e = answers[calls++];
      if (e) throw e;
    }, opts);
    expect(calls).toBe(5);
    expect(retries).toEqual([1, 2, 3, 4]);
    expect(opts.waited).toEqual([250, 500, 1000, 2000]);
  });

  it("throws any other first error at once: the redelivery path handles those", async () => {
    let calls = 0;
    await expect(
      insertRepeatingUnknownStatus(async () => {
        calls++;
        throw readOnly();
      }, clock()),
    ).rejects.toThrow(/Code: 242/);
    expect(calls).toBe(1);
  });

  it("gives up with the last error once the deadline has passed", async () => {
    let calls = 0;
    const opts = clock();
    await expect(
      insertRepeatingUnknownStatus(async () => {
        calls++;
        throw calls === 1 ? unknownStatus() : readOnly();
      }, opts),
    ).rejects.toThrow(/Code: 242/);
    expect(opts.waited.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(10_000);
    expect(calls).toBe(opts.waited.length + 1);
  });

  it("succeeds without repeating when the first attempt does", async () => {
    let calls = 0;
    const opts = clock();
    await insertRepeatingUnknownStatus(async () => {
      calls++;
    }, opts);
    expect(calls).toBe(1);
    expect(opts.waited).toEqual([]);
  });
});
