import { type ExampleFamily, exampleBatches, type MetricsBatch } from "../../schemas/index.ts";

const EXAMPLE_TIME = exampleBatches.quality.timestamp_ms;

function shift(value: unknown, delta: number): unknown {
  if (Array.isArray(value)) return value.map((v) => shift(v, delta));
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        k.endsWith("_ms") && typeof v === "number" && v > 0 ? v + delta : shift(v, delta),
      ]),
    );
  }
  return value;
}

/** An example batch of a family, moved to the present and given to an instance, with a fresh batch id. */
export function freshBatch(
  family: ExampleFamily,
  instanceId: string,
  batchId: string,
  now = Date.now(),
): MetricsBatch {
  const batch = shift(structuredClone(exampleBatches[family]), now - 60_000 - EXAMPLE_TIME) as MetricsBatch;
  return { ...batch, instance_id: instanceId, batch_id: batchId };
}

/** The JSON body an instance would send for a batch; it lives with the fleet simulator, which sends it too. */
export { toJsonBody } from "../../loadtest/fleet/index.ts";
