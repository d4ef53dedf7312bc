import type * as cog from "@grafana/grafana-foundation-sdk/cog";
import type * as common from "@grafana/grafana-foundation-sdk/common";
import { dsRef } from "./datasources.ts";

/**
 * Query models of the two SQL datasources, which the foundation SDK does not ship: builders that produce
 * exactly the JSON the plugins save, so panels and alert rules take them like any SDK query.
 */

/** How a SQL panel wants its rows: a table, or time series (first column `time`, then labels and values). */
export type SqlFormat = "table" | "time_series";

interface SqlQueryModel extends cog.Dataquery {
  refId: string;
  datasource: common.DataSourceRef;
  rawSql: string;
  [key: string]: unknown;
}

const dataquery = () => ({ _implementsDataqueryVariant() {} });

/** A query of the official ClickHouse plugin in its SQL editor mode (the model its 4.x versions save). */
export class ClickHouseQueryBuilder implements cog.Builder<cog.Dataquery> {
  private readonly internal: SqlQueryModel;
  constructor(rawSql: string, format: SqlFormat = "table", refId = "A") {
    this.internal = {
      ...dataquery(),
      refId,
      datasource: dsRef("clickhouse"),
      editorType: "sql",
      // The plugin's QueryType and Format enums: timeseries/0 = time series, table/1 = table.
      queryType: format === "time_series" ? "timeseries" : "table",
      format: format === "time_series" ? 0 : 1,
      rawSql,
    };
  }
  build(): cog.Dataquery {
    return this.internal;
  }
}

/** A query of Grafana's PostgreSQL datasource in code mode. */
export class PostgresQueryBuilder implements cog.Builder<cog.Dataquery> {
  private readonly internal: SqlQueryModel;
  constructor(rawSql: string, format: SqlFormat = "table", refId = "A") {
    this.internal = {
      ...dataquery(),
      refId,
      datasource: dsRef("postgres"),
      editorMode: "code",
      rawQuery: true,
      format,
      rawSql,
    };
  }
  build(): cog.Dataquery {
    return this.internal;
  }
}
