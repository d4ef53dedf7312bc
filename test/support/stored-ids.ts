import { loadConfig } from "../../lib/config/index.ts";
import { loadAnonymizeSecret, storedBatchId } from "../../processors/steps/anonymize/index.ts";

/**
 * How a batch id is stored in ClickHouse (shape-rules.ts: a fixed-format id as sent, any other as its
 * keyed hash), with the processors' own key from the data folder, for tests that compare sent ids with
 * stored ones.
 */
export async function storedBatchIdOf(): Promise<(instanceId: string, batchId: string) => string> {
  const secret = await loadAnonymizeSecret(loadConfig().dataDir);
  return (instanceId, batchId) => storedBatchId(secret, instanceId, batchId);
}
