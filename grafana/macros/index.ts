import { expandClickHouseMacros } from "./clickhouse.ts";
import { expandPostgresMacros } from "./postgres.ts";
import { interpolateTemplate, type QueryContext } from "./template.ts";

export { expandClickHouseMacros } from "./clickhouse.ts";
export { expandPostgresMacros } from "./postgres.ts";
export {
  interpolateTemplate,
  MacroError,
  macroArgs,
  panelInterval,
  parseDuration,
  type QueryContext,
  type VariableValue,
} from "./template.ts";

/** The SQL the ClickHouse server receives for a panel query: frontend interpolation, then the plugin's macros. */
export function clickhousePanelSql(sql: string, ctx: QueryContext): string {
  return expandClickHouseMacros(interpolateTemplate(sql, ctx), ctx);
}

/** The SQL PostgreSQL receives for a panel query. */
export function postgresPanelSql(sql: string, ctx: QueryContext): string {
  return expandPostgresMacros(interpolateTemplate(sql, ctx), ctx);
}

/** The SQL an alert rule's ClickHouse query runs: no template variables on the server, only the macros. */
export function clickhouseAlertSql(sql: string, ctx: QueryContext): string {
  return expandClickHouseMacros(sql, ctx);
}
