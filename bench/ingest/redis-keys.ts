import { connectRedis } from "../../lib/clients/index.ts";

/**
 * Deletes every Redis key under the benchmark's prefix: the ingest leaves one replay-guard key per
 * request (10 minutes) and sequence state per instance (30 days), none of which a later run needs.
 * Returns how many keys were deleted.
 */
export async function deleteBenchKeys(url: string, prefix: string): Promise<number> {
  const redis = await connectRedis(url, "smstats-bench-cleanup");
  let deleted = 0;
  try {
    // SCAN, not KEYS: the stack's Redis may be serving others meanwhile.
    for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 1000 })) {
      if ((keys as string[]).length) deleted += await redis.unlink(...(keys as string[]));
    }
  } finally {
    await redis.quit();
  }
  return deleted;
}
