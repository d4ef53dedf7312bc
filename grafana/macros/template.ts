/**
 * What Grafana's frontend does to a panel query before the datasource's backend sees it: the ClickHouse
 * plugin's `$__conditionalAll(condition, $var)`, then template variables (`$var`, `${var}`,
 * `${var:format}`, `[[var]]`) and the built-ins `$__from`, `$__to`, `$__interval`, `$__interval_ms`,
 * `$__range`, `$__range_s`, `$__range_ms`, `$__rate_interval`. Backend macros (`$__timeFilter(…)`) are left
 * for the datasource's own expander (clickhouse.ts, postgres.ts). Alert rules skip this step: Grafana
 * evaluates them on the server, where only backend macros exist.
 */

/** A template variable's selection: its values, or "all" for Grafana's All option. */
export type VariableValue = readonly string[] | "all";

/** The request Grafana makes for one panel query. */
export interface QueryContext {
  /** Start of the time range. */
  from: Date;
  /** End of the time range. */
  to: Date;
  /** Grafana's `$__interval` in ms (see `panelInterval`). */
  intervalMs: number;
  /** Template variables by name. */
  variables?: Readonly<Record<string, VariableValue>>;
}

/** Raised when a query uses something Grafana would leave unexpanded or expand differently. */
export class MacroError extends Error {
  override readonly name = "MacroError";
  constructor(
    readonly code: "MACRO_UNKNOWN" | "MACRO_ARGUMENTS" | "VARIABLE_UNKNOWN",
    message: string,
  ) {
    super(message);
  }
}

// Grafana's kbn.roundInterval: the interval it picks for (range / max data points), in ms.
const ROUND_STEPS: [below: number, ms: number][] = [
  [15, 10],
  [35, 20],
  [75, 50],
  [150, 100],
  [350, 200],
  [750, 500],
  [1_500, 1_000],
  [3_500, 2_000],
  [7_500, 5_000],
  [12_500, 10_000],
  [17_500, 15_000],
  [25_000, 20_000],
  [45_000, 30_000],
  [90_000, 60_000],
  [210_000, 120_000],
  [450_000, 300_000],
  [750_000, 600_000],
  [1_050_000, 900_000],
  [1_500_000, 1_200_000],
  [2_700_000, 1_800_000],
  [5_400_000, 3_600_000],
  [9_000_000, 7_200_000],
  [16_200_000, 10_800_000],
  [27_000_000, 21_600_000],
  [43_200_000, 43_200_000],
  [64_800_000, 86_400_000],
  [604_800_000, 86_400_000],
  [1_814_400_000, 604_800_000],
  [Number.POSITIVE_INFINITY, 2_592_000_000],
];

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** Parses a Grafana duration such as `1h`, `30m`, `7d` into ms. */
export function parseDuration(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d|w)$/.exec(text.trim());
  if (!m) throw new MacroError("MACRO_ARGUMENTS", `not a duration: ${text}`);
  return Number(m[1]) * (UNITS[m[2] as string] as number);
}

/**
 * The `$__interval` Grafana computes for a panel: the range divided by the panel's data points, rounded
 * to a step of kbn.roundInterval, and never below the panel's min interval (`interval` option).
 */
export function panelInterval(from: Date, to: Date, minInterval?: string, maxDataPoints = 1_000): number {
  const raw = (to.getTime() - from.getTime()) / maxDataPoints;
  const rounded = (ROUND_STEPS.find(([below]) => raw < below) as [number, number])[1];
  return Math.max(rounded, minInterval ? parseDuration(minInterval) : 0);
}

function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1_000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** Splits macro arguments at top-level commas, as the ClickHouse plugin's getMacroArgs does. */
export function macroArgs(text: string, open: number): { args: string[]; end: number } {
  let depth = 0;
  const args: string[] = [];
  let start = open + 1;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === "(") depth++;
    else if (c === ")") {
      depth--;
      if (depth === 0) {
        args.push(text.slice(start, i));
        return { args, end: i + 1 };
      }
    } else if (c === "," && depth === 1) {
      args.push(text.slice(start, i));
      start = i + 1;
    }
  }
  throw new MacroError("MACRO_ARGUMENTS", `unclosed macro arguments at ${text.slice(open - 20, open + 20)}`);
}

function isAll(value: VariableValue | undefined): boolean {
  return value === "all" || (Array.isArray(value) && (value.length === 0 || value[0] === "$__all"));
}

// The ClickHouse plugin's applyConditionalAll: the condition, or 1=1 when the variable is All or empty.
function conditionalAll(sql: string, variables: Readonly<Record<string, VariableValue>>): string {
  const macro = "$__conditionalAll(";
  let out = sql;
  let at = out.lastIndexOf(macro);
  while (at !== -1) {
    const { args, end } = macroArgs(out, at + macro.length - 1);
    if (args.length !== 2) throw new MacroError("MACRO_ARGUMENTS", "$__conditionalAll takes two arguments");
    const name = (args[1] as string)
      .trim()
      .replace(/^\$\{?/, "")
      .replace(/\}$/, "");
    if (!(name in variables)) throw new MacroError("VARIABLE_UNKNOWN", `no template variable ${name}`);
    out = out.slice(0, at) + (isAll(variables[name]) ? "1=1" : (args[0] as string)) + out.slice(end);
    at = out.lastIndexOf(macro);
  }
  return out;
}

// Grafana's formatters for a multi-value selection (the ones this project's boards use).
function formatValues(values: readonly string[], format: string | undefined, name: string): string {
  switch (format) {
    case undefined:
    case "csv":
      return values.join(",");
    case "singlequote":
      return values.map((v) => `'${v.replace(/'/g, "\\'")}'`).join(",");
    case "doublequote":
      return values.map((v) => `"${v.replace(/"/g, '\\"')}"`).join(",");
    case "regex":
      return values.length === 1
        ? (values[0] as string).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
        : `(${values.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")})`;
    default:
      throw new MacroError("MACRO_ARGUMENTS", `format ${format} of ${name} is not supported here`);
  }
}

// Grafana's variable syntax: $name, ${name}, ${name:format}, [[name]] (names are \w+).
const VARIABLE = /\$(\w+)|\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)\]\]/g;

/** Applies Grafana's frontend interpolation to a panel query (see the file's header). */
export function interpolateTemplate(sql: string, ctx: QueryContext): string {
  const variables = ctx.variables ?? {};
  const rangeMs = ctx.to.getTime() - ctx.from.getTime();
  const builtins: Record<string, string> = {
    __from: String(ctx.from.getTime()),
    __to: String(ctx.to.getTime()),
    __interval: formatDuration(ctx.intervalMs),
    __interval_ms: String(ctx.intervalMs),
    __range: formatDuration(rangeMs),
    __range_s: String(Math.round(rangeMs / 1000)),
    __range_ms: String(rangeMs),
    // Grafana: max(4 × scrape interval (15 s here), interval + scrape interval).
    __rate_interval: formatDuration(Math.max(4 * 15_000, ctx.intervalMs + 15_000)),
  };
  return conditionalAll(sql, variables).replace(
    VARIABLE,
    (match, plain?: string, braced?: string, format?: string, bracketed?: string) => {
      const name = (plain ?? braced ?? bracketed) as string;
      if (name in builtins) return builtins[name] as string;
      // Backend macros and unknown names stay as they are, as in Grafana.
      if (!(name in variables)) return match;
      const value = variables[name] as VariableValue;
      if (isAll(value)) {
        throw new MacroError(
          "VARIABLE_UNKNOWN",
          `${name} is All outside $__conditionalAll: Grafana would expand it to every option`,
        );
      }
      return formatValues(value as readonly string[], format, name);
    },
  );
}
