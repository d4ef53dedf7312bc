import { describe, expect, it } from "vitest";
import { keyOfMsgId } from "../../processors/runtime/stream-sweeper.ts";
import { insertRefusal, refusalDetail } from "../../processors/sinks/clickhouse/index.ts";

describe("insertRefusal", () => {
  it("reads 18.16's data errors from the message and quotes the server", () => {
    const err = new Error(
      "Code: 72, e.displayText() = DB::Exception: Unsigned type must not contain '-' symbol: (while read the value of key total_songs): (at row 26)\n, e.what() = DB::Exception\n",
    );
    const r = insertRefusal(err);
    expect(r).toMatchObject({ code: "72", name: "CANNOT_PARSE_NUMBER" });
    expect(refusalDetail(r as NonNullable<typeof r>)).toMatch(
      /^ClickHouse code 72 \(CANNOT_PARSE_NUMBER\): Code: 72, .*total_songs/,
    );
  });

  it("reads the code newer servers' errors carry as a property", () => {
    const err = Object.assign(new Error("Cannot parse input"), {
      code: "27",
      type: "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
    });
    expect(insertRefusal(err)?.name).toBe("CANNOT_PARSE_INPUT_ASSERTION_FAILED");
  });

  it.each([
    [
      "connection refused",
      Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:8123"), { code: "ECONNREFUSED" }),
    ],
    ["timeout", new Error("Timeout error.")],
    ["too many parts", new Error("Code: 252, e.displayText() = DB::Exception: Too many parts (300)")],
    ["memory limit", new Error("Code: 241, e.displayText() = DB::Exception: Memory limit (total) exceeded")],
    ["missing table", new Error("Code: 60, e.displayText() = DB::Exception: Table smstats.x doesn't exist")],
    ["not an error", "a string"],
  ])("leaves %s to the retry with backoff", (_, err) => {
    expect(insertRefusal(err)).toBeUndefined();
  });
});

describe("keyOfMsgId", () => {
  it("splits ingest's message id at the first colon", () => {
    expect(keyOfMsgId("0b6f-uuid:batch:with:colons")).toEqual({
      instance_id: "0b6f-uuid",
      batch_id: "batch:with:colons",
    });
    expect(keyOfMsgId(undefined)).toBeUndefined();
    expect(keyOfMsgId(":x")).toBeUndefined();
  });
});
