import type pg from "pg";

/**
 * The session figures a heartbeat may carry (`session_stats`): what the instance's party looks like now,
 * for support and seat decisions without reading ClickHouse. Every field optional; counts are integers.
 */
export interface SessionStats {
  session_id?: string;
  uptime_seconds?: number;
  session_duration_sec?: number;
  users_current?: number;
  users_joined_total?: number;
  users_peak_concurrent?: number;
  songs_played?: number;
  songs_skipped?: number;
  songs_queued?: number;
  rooms?: number;
}

/** Keeps the latest session_stats of an instance (one row per instance, replaced by each heartbeat). */
export async function recordSessionStats(
  db: pg.Pool | pg.ClientBase,
  instanceId: string,
  stats: SessionStats,
): Promise<void> {
  await db.query(
    `INSERT INTO instance_session_stats (instance_id, stats, reported_at) VALUES ($1, $2, now())
     ON CONFLICT (instance_id) DO UPDATE SET stats = EXCLUDED.stats, reported_at = EXCLUDED.reported_at`,
    [instanceId, JSON.stringify(stats)],
  );
}
