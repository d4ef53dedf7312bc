import {
  BOARDS,
  type BoardSpec,
  isSql,
  type PanelSpec,
  type SqlQuerySpec,
} from "../../grafana/boards/index.ts";
import {
  panelInterval,
  parseDuration,
  type QueryContext,
  type VariableValue,
} from "../../grafana/macros/index.ts";

/** One SQL query of one panel, with the request Grafana would make for it. */
export interface PanelQuery {
  board: BoardSpec;
  panel: PanelSpec;
  query: SqlQuerySpec;
  /** board / panel / refId, for test names and reports. */
  name: string;
}

/** Every SQL query of every board of a datasource. */
export function sqlPanelQueries(datasource: "clickhouse" | "postgres"): PanelQuery[] {
  return BOARDS.flatMap((board) =>
    board.panels
      .filter((p) => p.datasource === datasource)
      .flatMap((panel) =>
        panel.queries.filter(isSql).map((query) => ({
          board,
          panel,
          query,
          name: `${board.uid} / ${panel.title} / ${query.refId ?? "A"}`,
        })),
      ),
  );
}

/** The time range a panel shows when its board is opened at `now`: its own override, else the board's. */
export function panelRange(board: BoardSpec, panel: PanelSpec, now: Date): { from: Date; to: Date } {
  const back = panel.timeFrom
    ? parseDuration(panel.timeFrom)
    : parseDuration(board.from.replace(/^now-/, ""));
  return { from: new Date(now.getTime() - back), to: now };
}

/** The request Grafana makes for a panel at `now` with the given variable selection (All by default). */
export function panelContext(
  board: BoardSpec,
  panel: PanelSpec,
  now: Date,
  variables: Record<string, VariableValue> = Object.fromEntries(board.variables.map((v) => [v.name, "all"])),
): QueryContext {
  const { from, to } = panelRange(board, panel, now);
  return { from, to, intervalMs: panelInterval(from, to, panel.minInterval), variables };
}

/** Raw tables: panels over more than a day must read rollups instead. */
export const RAW_TABLE_PATTERN =
  /\b(FROM|JOIN)\s+(metrics_quality|events_playback|events_session|snapshots_library|environment)\b/i;
