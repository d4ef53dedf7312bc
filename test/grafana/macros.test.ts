import { describe, expect, it } from "vitest";
import {
  clickhousePanelSql,
  expandClickHouseMacros,
  expandPostgresMacros,
  interpolateTemplate,
  MacroError,
  panelInterval,
} from "../../grafana/macros/index.ts";

const from = new Date("2026-01-05T10:00:00.123Z");
const to = new Date("2026-01-06T10:00:00.456Z");
const ctx = { from, to, intervalMs: 3_600_000 };

describe("ClickHouse plugin macros", () => {
  it("expands time filters the way the plugin's backend does", () => {
    expect(expandClickHouseMacros("WHERE $__timeFilter(bucket)", ctx)).toBe(
      "WHERE bucket >= toDateTime(1767607200) AND bucket <= toDateTime(1767693600)",
    );
    expect(expandClickHouseMacros("$__dateFilter(day)", ctx)).toBe(
      "day >= toDate('2026-01-05') AND day <= toDate('2026-01-06')",
    );
    expect(expandClickHouseMacros("$__timeFilter_ms(t)", ctx)).toBe(
      "t >= fromUnixTimestamp64Milli(1767607200123) AND t <= fromUnixTimestamp64Milli(1767693600456)",
    );
    expect(expandClickHouseMacros("$__dt(d, t)", ctx)).toBe(
      "(d >= toDate('2026-01-05') AND d <= toDate('2026-01-06')) AND (t >= toDateTime(1767607200) AND t <= toDateTime(1767693600))",
    );
  });

  it("expands range ends, intervals and interval buckets", () => {
    expect(expandClickHouseMacros("$__fromTime, $__toTime, $__interval_s", ctx)).toBe(
      "toDateTime(1767607200), toDateTime(1767693600), 3600",
    );
    expect(expandClickHouseMacros("$__timeInterval(time)", ctx)).toBe(
      "toStartOfInterval(toDateTime(time), INTERVAL 3600 second)",
    );
  });

  it("refuses unknown macros and wrong argument counts", () => {
    expect(() => expandClickHouseMacros("$__timeGroup(t, 1h)", ctx)).toThrow(MacroError);
    expect(() => expandClickHouseMacros("$__timeFilter(a, b)", ctx)).toThrow(/expected 1 argument/);
  });
});

describe("Grafana's frontend interpolation", () => {
  // Grafana's ${var:format} syntax, not a template literal.
  const sql = `WHERE $__conditionalAll(tier IN ($\{tier:singlequote}), $tier) AND x = $__interval_ms`;
  it("drops a conditionalAll condition for All and keeps it for a selection", () => {
    expect(interpolateTemplate(sql, { ...ctx, variables: { tier: "all" } })).toBe(
      "WHERE 1=1 AND x = 3600000",
    );
    expect(interpolateTemplate(sql, { ...ctx, variables: { tier: ["venue", "o'hara"] } })).toBe(
      "WHERE tier IN ('venue','o\\'hara') AND x = 3600000",
    );
  });

  it("leaves backend macros to the datasource and refuses All outside conditionalAll", () => {
    expect(interpolateTemplate("$__timeFilter(t) $__interval_s", ctx)).toBe("$__timeFilter(t) $__interval_s");
    expect(() =>
      interpolateTemplate(`IN ($\{tier:singlequote})`, { ...ctx, variables: { tier: "all" } }),
    ).toThrow(MacroError);
    expect(
      clickhousePanelSql("$__conditionalAll(a = 1, $v) AND $__timeFilter(t)", {
        ...ctx,
        variables: { v: "all" },
      }),
    ).toBe("1=1 AND t >= toDateTime(1767607200) AND t <= toDateTime(1767693600)");
  });

  it("picks Grafana's rounded interval, never below the panel's min interval", () => {
    expect(panelInterval(from, new Date(from.getTime() + 3_600_000))).toBe(5_000);
    expect(panelInterval(from, new Date(from.getTime() + 7 * 86_400_000))).toBe(600_000);
    expect(panelInterval(from, new Date(from.getTime() + 7 * 86_400_000), "1h")).toBe(3_600_000);
  });
});

describe("PostgreSQL datasource macros", () => {
  it("expands filters and groups as Grafana's PostgreSQL backend does", () => {
    expect(expandPostgresMacros("$__timeFilter(a.t)", ctx)).toBe(
      "a.t BETWEEN '2026-01-05T10:00:00Z' AND '2026-01-06T10:00:00Z'",
    );
    expect(expandPostgresMacros("$__timeGroupAlias(t, '1d')", ctx)).toBe(
      'floor(extract(epoch from t)/86400)*86400 AS "time"',
    );
    expect(expandPostgresMacros("$__timeFrom() $__timeTo()", ctx)).toBe(
      "'2026-01-05T10:00:00Z' '2026-01-06T10:00:00Z'",
    );
  });
});
