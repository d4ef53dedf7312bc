export {
  type ActiveCounts,
  alignDaily,
  createFleetStats,
  type FleetDaily,
  type FleetOverview,
  type FleetStats,
  type Slice,
} from "./fleet-stats.ts";
export { createInstanceErrors, type InstanceError } from "./instance-errors.ts";
export { createPipelineHealth, type PipelineHealth } from "./pipeline-health.ts";
