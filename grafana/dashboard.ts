import * as barchart from "@grafana/grafana-foundation-sdk/barchart";
import type * as cog from "@grafana/grafana-foundation-sdk/cog";
import * as common from "@grafana/grafana-foundation-sdk/common";
import * as dashboard from "@grafana/grafana-foundation-sdk/dashboard";
import * as geomap from "@grafana/grafana-foundation-sdk/geomap";
import * as piechart from "@grafana/grafana-foundation-sdk/piechart";
import * as prometheus from "@grafana/grafana-foundation-sdk/prometheus";
import * as stat from "@grafana/grafana-foundation-sdk/stat";
import * as table from "@grafana/grafana-foundation-sdk/table";
import * as timeseries from "@grafana/grafana-foundation-sdk/timeseries";
import {
  type BoardSpec,
  isSql,
  type PanelSpec,
  type PromQuerySpec,
  type SqlQuerySpec,
} from "./boards/spec.ts";
import { dsRef } from "./datasources.ts";
import { ClickHouseQueryBuilder, PostgresQueryBuilder } from "./queries.ts";

/** Grafana's panel height in grid units for every panel of the boards. */
const PANEL_HEIGHT = 8;

function target(panel: PanelSpec, q: SqlQuerySpec | PromQuerySpec): cog.Builder<cog.Dataquery> {
  const refId = q.refId ?? "A";
  if (isSql(q)) {
    return panel.datasource === "postgres"
      ? new PostgresQueryBuilder(q.sql, q.format, refId)
      : new ClickHouseQueryBuilder(q.sql, q.format, refId);
  }
  const prom = new prometheus.DataqueryBuilder().refId(refId).expr(q.expr).range();
  if (q.legend) prom.legendFormat(q.legend);
  return prom.datasource(dsRef("prometheus"));
}

// The one place a PanelSpec's kind becomes an SDK panel builder with its kind's options.
function visualization(panel: PanelSpec) {
  switch (panel.kind) {
    case "timeseries": {
      const b = new timeseries.PanelBuilder()
        .legend(
          new common.VizLegendOptionsBuilder()
            .showLegend(true)
            .displayMode(common.LegendDisplayMode.List)
            .placement(common.LegendPlacement.Bottom),
        )
        .fillOpacity(panel.stacked ? 30 : 10)
        .lineWidth(1);
      if (panel.stacked) b.stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal));
      return b;
    }
    case "stat":
      return new stat.PanelBuilder()
        .reduceOptions(new common.ReduceDataOptionsBuilder().values(false).calcs(["lastNotNull"]))
        .graphMode(common.BigValueGraphMode.None);
    case "table":
      return new table.PanelBuilder().showHeader(true);
    case "piechart":
      return new piechart.PanelBuilder()
        .pieType(piechart.PieChartType.Donut)
        .reduceOptions(new common.ReduceDataOptionsBuilder().values(true).calcs(["lastNotNull"]));
    case "barchart":
      return new barchart.PanelBuilder().xField((panel.queries[0] as SqlQuerySpec).columns[0] as string);
    case "geomap":
      return new geomap.PanelBuilder().view(new geomap.MapViewConfigBuilder().id("zero").zoom(1)).layers([
        new common.MapLayerOptionsBuilder()
          .type("markers")
          .name("Instances")
          .location(
            new common.FrameGeometrySourceBuilder()
              .mode(common.FrameGeometrySourceMode.Lookup)
              .lookup("country")
              .gazetteer("public/gazetteer/countries.json"),
          )
          .config({
            size: { field: "instances", min: 3, max: 30, fixed: 5 },
            color: { fixed: "green" },
          }),
      ]);
  }
}

/** Builds one board's dashboard JSON with the foundation SDK. */
export function buildDashboard(board: BoardSpec): dashboard.Dashboard {
  const builder = new dashboard.DashboardBuilder(board.title)
    .uid(board.uid)
    .description(board.description)
    .tags([...board.tags])
    .timezone("utc")
    .time({ from: board.from, to: "now" })
    .refresh("5m")
    .readonly()
    .tooltip(dashboard.DashboardCursorSync.Crosshair);
  for (const v of board.variables) {
    builder.withVariable(
      new dashboard.QueryVariableBuilder(v.name)
        .label(v.label)
        .datasource(dsRef("clickhouse"))
        .query(v.sql)
        .definition(v.sql)
        .multi(true)
        .includeAll(true)
        .current({ text: "All", value: "$__all" })
        .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
        .sort(dashboard.VariableSort.AlphabeticalAsc),
    );
  }
  // Panels flow left to right in rows of 24 grid columns.
  let x = 0;
  let y = 0;
  board.panels.forEach((panel, i) => {
    const w = panel.width ?? 12;
    if (x + w > 24) {
      x = 0;
      y += PANEL_HEIGHT;
    }
    const b = visualization(panel)
      .id(i + 1)
      .title(panel.title)
      .description(panel.description)
      .datasource(dsRef(panel.datasource))
      .gridPos({ x, y, w, h: PANEL_HEIGHT })
      .targets(panel.queries.map((q) => target(panel, q)));
    if (panel.unit) b.unit(panel.unit);
    if (panel.minInterval) b.interval(panel.minInterval);
    if (panel.timeFrom) b.timeFrom(panel.timeFrom);
    builder.withPanel(b);
    x += w;
  });
  return builder.build();
}
