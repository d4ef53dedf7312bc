import { MacroError, type QueryContext } from "./template.ts";

/**
 * The macros of the official ClickHouse datasource plugin (grafana-clickhouse-datasource, pkg/macros),
 * expanded as its backend does: `$__timeFilter(col)`, `$__timeFilter_ms(col)`, `$__dateFilter(col)`,
 * `$__dateTimeFilter(dateCol, timeCol)` (alias `$__dt`), `$__fromTime`, `$__toTime`, `$__fromTime_ms`,
 * `$__toTime_ms`, `$__timeInterval(col)`, `$__timeInterval_ms(col)`, `$__interval_s`. Arguments are split
 * at commas and trimmed (grafana-plugin-sdk-go's sqlutil). Some expansions need a newer server than 18.16
 * (`toStartOfInterval`, `fromUnixTimestamp64Milli`); the panel tests run every expanded query on 18.16,
 * so a board using them fails there rather than in front of an admin.
 */

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);
const dateTime = (d: Date) => `toDateTime(${seconds(d)})`;
const dateTime64 = (d: Date) => `fromUnixTimestamp64Milli(${d.getTime()})`;
const date = (d: Date) => `toDate('${d.toISOString().slice(0, 10)}')`;

type Macro = (args: string[], ctx: QueryContext) => string;

function arity(name: string, args: string[], n: number): string[] {
  if (args.length !== n) {
    throw new MacroError("MACRO_ARGUMENTS", `$__${name}: expected ${n} argument(s), received ${args.length}`);
  }
  return args;
}

const range = (col: string, lo: string, hi: string) => `${col} >= ${lo} AND ${col} <= ${hi}`;

const MACROS: Record<string, { args: boolean; expand: Macro }> = {
  fromTime: { args: false, expand: (_a, c) => dateTime(c.from) },
  toTime: { args: false, expand: (_a, c) => dateTime(c.to) },
  fromTime_ms: { args: false, expand: (_a, c) => dateTime64(c.from) },
  toTime_ms: { args: false, expand: (_a, c) => dateTime64(c.to) },
  timeFilter: {
    args: true,
    expand: (a, c) => range(arity("timeFilter", a, 1)[0] as string, dateTime(c.from), dateTime(c.to)),
  },
  timeFilter_ms: {
    args: true,
    expand: (a, c) => range(arity("timeFilter_ms", a, 1)[0] as string, dateTime64(c.from), dateTime64(c.to)),
  },
  dateFilter: {
    args: true,
    expand: (a, c) => range(arity("dateFilter", a, 1)[0] as string, date(c.from), date(c.to)),
  },
  dateTimeFilter: {
    args: true,
    expand: (a, c) => {
      const [d, t] = arity("dateTimeFilter", a, 2) as [string, string];
      return `(${range(d, date(c.from), date(c.to))}) AND (${range(t, dateTime(c.from), dateTime(c.to))})`;
    },
  },
  timeInterval: {
    args: true,
    expand: (a, c) =>
      `toStartOfInterval(toDateTime(${arity("timeInterval", a, 1)[0]}), INTERVAL ${Math.max(Math.floor(c.intervalMs / 1000), 1)} second)`,
  },
  timeInterval_ms: {
    args: true,
    expand: (a, c) =>
      `toStartOfInterval(toDateTime64(${arity("timeInterval_ms", a, 1)[0]}, 3), INTERVAL ${Math.max(c.intervalMs, 1)} millisecond)`,
  },
  interval_s: { args: false, expand: (_a, c) => String(Math.max(Math.floor(c.intervalMs / 1000), 1)) },
};
MACROS.dt = MACROS.dateTimeFilter as (typeof MACROS)[string];

// Longest names first, so $__timeFilter_ms is not read as $__timeFilter followed by "_ms".
const NAMES = Object.keys(MACROS).sort((a, b) => b.length - a.length);
const MACRO = new RegExp(`\\$__(${NAMES.join("|")})\\b(?:\\(([^)]*)\\))?`, "g");

/** Expands the ClickHouse plugin's macros in a query that went through `interpolateTemplate`. */
export function expandClickHouseMacros(sql: string, ctx: QueryContext): string {
  const out = sql.replace(MACRO, (_m, name: string, rawArgs: string | undefined) => {
    const macro = MACROS[name] as (typeof MACROS)[string];
    const args = rawArgs === undefined ? [] : rawArgs.split(",").map((s) => s.trim());
    if (!macro.args && args.length > 0 && !(args.length === 1 && args[0] === "")) {
      throw new MacroError("MACRO_ARGUMENTS", `$__${name} takes no arguments`);
    }
    return macro.expand(args, ctx);
  });
  const left = /\$__\w+/.exec(out);
  if (left) throw new MacroError("MACRO_UNKNOWN", `the ClickHouse plugin has no macro ${left[0]}`);
  return out;
}
