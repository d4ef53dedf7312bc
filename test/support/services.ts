import { type PipelineProcess, startPipeline } from "../../loadtest/service.ts";
import { TEST_ENV } from "./env.ts";

/** `npm start` (without the stack step) running in its own process group, as a terminal would run it. */
export interface RunningService extends PipelineProcess {
  processorPort: number;
}

/**
 * Starts scripts/start.ts on the test namespace and waits until ingest is ready: on the given ports (a
 * restart on the same address), or on free ones chosen (and chosen again if taken) by startPipeline.
 */
export async function startService(ports?: { ingest: number; processor: number }): Promise<RunningService> {
  const pipeline = await startPipeline(
    {
      ...TEST_ENV,
      // These suites post thousands of batches a minute from one instance on purpose.
      SMSTATS_INGEST_RATE_LIMIT_TIERS: "starter=1000000",
    },
    60_000,
    ports,
  );
  return { ...pipeline, processorPort: pipeline.ports.processor };
}
