import { fleet } from "./fleet.ts";
import { library } from "./library.ts";
import { licensing } from "./licensing.ts";
import { pipeline } from "./pipeline.ts";
import { playback } from "./playback.ts";
import { quality } from "./quality.ts";
import { sessions } from "./sessions.ts";
import { slo } from "./slo.ts";
import type { BoardSpec } from "./spec.ts";

export {
  type BoardSpec,
  FLEET_FILTER,
  FLEET_VARIABLES,
  intervalBucket,
  isSql,
  type PanelKind,
  type PanelSpec,
  type PromQuerySpec,
  type SqlQuerySpec,
  type VariableSpec,
  whereVariable,
} from "./spec.ts";

/** Every board, in the order they are listed in Grafana. */
export const BOARDS: readonly BoardSpec[] = [
  fleet,
  quality,
  playback,
  sessions,
  library,
  licensing,
  pipeline,
  slo,
];
