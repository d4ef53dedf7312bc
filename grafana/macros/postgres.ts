import { MacroError, parseDuration, type QueryContext } from "./template.ts";

/**
 * The macros of Grafana's PostgreSQL datasource (grafana-postgresql-datasource), expanded as its backend
 * does: `$__time(col)`, `$__timeEpoch(col)`, `$__timeFilter(col)`, `$__timeFrom()`, `$__timeTo()`,
 * `$__timeGroup(col, 'interval')`, `$__timeGroupAlias(col, 'interval')`, `$__unixEpochFilter(col)`.
 * Times are RFC 3339 in UTC, as Grafana writes them.
 */

const rfc3339 = (d: Date) => `'${d.toISOString().replace(/\.\d{3}Z$/, "Z")}'`;
const epoch = (d: Date) => Math.floor(d.getTime() / 1000);

function one(name: string, args: string[]): string {
  if (args.length < 1 || !args[0]) throw new MacroError("MACRO_ARGUMENTS", `$__${name} needs a column`);
  return args[0] as string;
}

function group(args: string[], ctx: QueryContext): string {
  if (args.length < 2) throw new MacroError("MACRO_ARGUMENTS", "$__timeGroup needs a column and an interval");
  const interval = (args[1] as string).replace(/^'|'$/g, "");
  const ms = interval === "$__interval" ? ctx.intervalMs : parseDuration(interval);
  const s = Math.max(Math.floor(ms / 1000), 1);
  return `floor(extract(epoch from ${args[0]})/${s})*${s}`;
}

const MACROS: Record<string, (args: string[], ctx: QueryContext) => string> = {
  time: (a) => `${one("time", a)} AS "time"`,
  timeEpoch: (a) => `extract(epoch from ${one("timeEpoch", a)}) as "time"`,
  timeFilter: (a, c) => `${one("timeFilter", a)} BETWEEN ${rfc3339(c.from)} AND ${rfc3339(c.to)}`,
  timeFrom: (_a, c) => rfc3339(c.from),
  timeTo: (_a, c) => rfc3339(c.to),
  timeGroup: group,
  timeGroupAlias: (a, c) => `${group(a, c)} AS "time"`,
  unixEpochFilter: (a, c) => `${one("unixEpochFilter", a)} >= ${epoch(c.from)} AND ${a[0]} <= ${epoch(c.to)}`,
};

const NAMES = Object.keys(MACROS).sort((a, b) => b.length - a.length);
const MACRO = new RegExp(`\\$__(${NAMES.join("|")})\\b(?:\\(([^)]*)\\))?`, "g");

/** Expands the PostgreSQL datasource's macros in a query that went through `interpolateTemplate`. */
export function expandPostgresMacros(sql: string, ctx: QueryContext): string {
  const out = sql.replace(MACRO, (_m, name: string, rawArgs: string | undefined) =>
    (MACROS[name] as (typeof MACROS)[string])(
      rawArgs === undefined ? [] : rawArgs.split(",").map((s) => s.trim()),
      ctx,
    ),
  );
  const left = /\$__\w+/.exec(out);
  if (left) throw new MacroError("MACRO_UNKNOWN", `the PostgreSQL datasource has no macro ${left[0]}`);
  return out;
}
