import type { ClickHouseClient } from "@clickhouse/client";
import { sqlString } from "../../lib/sql/index.ts";

/** One error report of an instance: when, which type, how many since its previous report. */
export interface InstanceError {
  time: string;
  type: string;
  count: number;
}

/**
 * The instance's latest error reports (error_count_by_type) of the last 7 days, from the raw quality table
 * (its sort key starts with metric_name, instance_id, so this reads one narrow range), read-only.
 */
export function createInstanceErrors(
  client: ClickHouseClient,
): (instanceId: string) => Promise<InstanceError[]> {
  return async (instanceId) => {
    const rs = await client.query({
      query: `SELECT toString(time) AS at, tags.value[indexOf(tags.key, 'type')] AS type, value AS count
        FROM metrics_quality
        WHERE metric_name = 'error_count_by_type' AND instance_id = ${sqlString(instanceId)}
          AND time > now() - INTERVAL 7 DAY
        ORDER BY time DESC LIMIT 20`,
      format: "JSONEachRow",
      clickhouse_settings: { readonly: "1" },
    });
    const rows = (await rs.json()) as { at: string; type: string; count: number }[];
    return rows.map((r) => ({ time: `${r.at.replace(" ", "T")}Z`, type: r.type, count: Number(r.count) }));
  };
}
