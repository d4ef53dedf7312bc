import type { DatasourceKind } from "../datasources.ts";
import type { SqlFormat } from "../queries.ts";

/**
 * A board as data: what each panel asks of which datasource and which columns it expects back. The
 * dashboards are built from these with the foundation SDK (dashboard.ts), and the tests run the very same
 * queries on ClickHouse 18.16, chDB and PostgreSQL, checking the columns each panel reads.
 */

/** One SQL query of a panel (ClickHouse or PostgreSQL). */
export interface SqlQuerySpec {
  refId?: string;
  /** The query as saved in the panel: template variables and datasource macros unexpanded. */
  sql: string;
  format: SqlFormat;
  /** The columns the panel reads, in order; a time series starts with `time`. */
  columns: readonly string[];
}

/** One PromQL query of a panel. */
export interface PromQuerySpec {
  refId?: string;
  expr: string;
  legend?: string;
  /** Metric names the expression reads; the tests check that the service registers each. */
  metrics: readonly string[];
}

/** The visualisations the boards use. */
export type PanelKind = "timeseries" | "stat" | "table" | "piechart" | "barchart" | "geomap";

/** One panel. */
export interface PanelSpec {
  title: string;
  description: string;
  kind: PanelKind;
  datasource: DatasourceKind;
  queries: readonly (SqlQuerySpec | PromQuerySpec)[];
  /** Grafana unit id (short, ms, percent, decgbytes, s, …). */
  unit?: string;
  /** The panel's min interval: `$__interval` never goes below it (1h on hourly rollups, 1d on daily ones). */
  minInterval?: string;
  /** A relative time override ("24h"): the panel shows the last 24 hours whatever the board's range. */
  timeFrom?: string;
  /** Width in grid columns (24 per row); default 12. */
  width?: number;
  stacked?: boolean;
}

/** A ClickHouse-backed template variable (multi-select with All). */
export interface VariableSpec {
  name: string;
  label: string;
  /** A query returning one column of values; it may use the time macros. */
  sql: string;
}

/** A board. */
export interface BoardSpec {
  uid: string;
  title: string;
  description: string;
  tags: readonly string[];
  /** Default range, Grafana relative syntax (`now-30d`). */
  from: string;
  variables: readonly VariableSpec[];
  panels: readonly PanelSpec[];
}

/** True for a SQL query spec. */
export function isSql(q: SqlQuerySpec | PromQuerySpec): q is SqlQuerySpec {
  return "sql" in q;
}

/** Template variables every ClickHouse board offers: tier, version and platform of the reporting instances. */
export const FLEET_VARIABLES: readonly VariableSpec[] = [
  {
    name: "tier",
    label: "Tier",
    sql: "SELECT DISTINCT tier FROM active_instances_1d WHERE $__dateFilter(day) ORDER BY tier",
  },
  {
    name: "version",
    label: "Version",
    sql: "SELECT DISTINCT app_version FROM active_instances_1d WHERE $__dateFilter(day) ORDER BY app_version",
  },
  {
    name: "platform",
    label: "Platform",
    sql: "SELECT DISTINCT platform FROM active_instances_1d WHERE $__dateFilter(day) ORDER BY platform",
  },
];

/** The ClickHouse plugin's `$__conditionalAll(column IN (${var:singlequote}), $var)`: 1=1 when All is picked. */
export function whereVariable(column: string, variable: string): string {
  return `$__conditionalAll(${column} IN ($\{${variable}:singlequote}), $${variable})`;
}

/** The filter of the three fleet variables, for tables that have tier, app_version and platform columns. */
export const FLEET_FILTER = [
  whereVariable("tier", "tier"),
  whereVariable("app_version", "version"),
  whereVariable("platform", "platform"),
].join(" AND ");

/** Buckets a DateTime column to the panel's `$__interval` (never finer than the column's own grain). */
export function intervalBucket(column: string): string {
  // toStartOfInterval is not in ClickHouse 18.16; integer division on the epoch works on both engines.
  return `toDateTime(intDiv(toUInt32(${column}), $__interval_s) * $__interval_s, 'UTC')`;
}
