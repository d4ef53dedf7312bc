import { describe, expect, it } from "vitest";
import { splitStatements, sqlIdentifier, sqlNumber, sqlString } from "../../lib/sql/index.ts";

describe("sql escaping", () => {
  it.each([
    ["plain", "'plain'"],
    ["it's", "'it\\'s'"],
    ["back\\slash", "'back\\\\slash'"],
    ["\\'; DROP TABLE x; --", "'\\\\\\'; DROP TABLE x; --'"],
  ])("quotes %j as %s", (input, expected) => {
    expect(sqlString(input)).toBe(expected);
  });

  it("refuses identifiers that are not plain names", () => {
    expect(sqlIdentifier("metrics_quality")).toBe("`metrics_quality`");
    expect(() => sqlIdentifier("a`; DROP")).toThrow(RangeError);
  });

  it("refuses non-finite numbers", () => {
    expect(sqlNumber(1.5)).toBe("1.5");
    expect(() => sqlNumber(Number.NaN)).toThrow(RangeError);
  });
});

describe("splitStatements", () => {
  it("splits at semicolons outside quotes and comments", () => {
    const sql =
      "CREATE TABLE a (x String DEFAULT ';'); -- a comment; still comment\n/* block; */ SELECT 'it\\'s;' ;\n";
    expect(splitStatements(sql)).toEqual(["CREATE TABLE a (x String DEFAULT ';')", "SELECT 'it\\'s;'"]);
  });
});
