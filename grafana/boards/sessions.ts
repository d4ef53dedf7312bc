import { type BoardSpec, FLEET_FILTER, FLEET_VARIABLES } from "./spec.ts";

const DAILY = `FROM sessions_1d WHERE $__dateFilter(day) AND ${FLEET_FILTER}`;

/** Sessions: parties, their length, their guests. */
export const sessions: BoardSpec = {
  uid: "smstats-sessions",
  title: "SongMartyn · Sessions",
  description: "Sessions, durations, peak concurrent users, users by role, rooms.",
  tags: ["songmartyn", "sessions"],
  from: "now-30d",
  variables: FLEET_VARIABLES,
  panels: [
    {
      title: "Sessions per day",
      description: "Sessions started and ended per day, and distinct sessions with any event.",
      kind: "timeseries",
      datasource: "clickhouse",
      width: 12,
      minInterval: "1d",
      queries: [
        {
          format: "time_series",
          columns: ["time", "started", "ended", "sessions"],
          sql: `SELECT toDateTime(day, 'UTC') AS time, sumMerge(started) AS started, sumMerge(ended) AS ended,
    uniqMerge(sessions) AS sessions
${DAILY}
GROUP BY day ORDER BY day`,
        },
      ],
    },
    {
      title: "Mean session duration",
      description: "Mean duration of the sessions that ended each day.",
      kind: "timeseries",
      datasource: "clickhouse",
      width: 12,
      unit: "s",
      minInterval: "1d",
      queries: [
        {
          format: "time_series",
          columns: ["time", "mean_duration_sec"],
          sql: `SELECT toDateTime(day, 'UTC') AS time,
    round(sumMerge(ended_duration_sum) / greatest(sumMerge(ended), 1)) AS mean_duration_sec
${DAILY}
GROUP BY day HAVING sumMerge(ended) > 0 ORDER BY day`,
        },
      ],
    },
    {
      title: "Peak concurrent users",
      description: "Most users at once in any session each day, by tier.",
      kind: "timeseries",
      datasource: "clickhouse",
      width: 12,
      minInterval: "1d",
      queries: [
        {
          format: "time_series",
          columns: ["time", "tier", "peak_users"],
          sql: `SELECT toDateTime(day, 'UTC') AS time, tier, maxMerge(peak_users) AS peak_users
${DAILY}
GROUP BY day, tier ORDER BY day, tier`,
        },
      ],
    },
    {
      title: "Users joined",
      description: "user_joined events per day.",
      kind: "timeseries",
      datasource: "clickhouse",
      width: 12,
      minInterval: "1d",
      queries: [
        {
          format: "time_series",
          columns: ["time", "users_joined"],
          sql: `SELECT toDateTime(day, 'UTC') AS time, sumMerge(users_joined) AS users_joined
${DAILY}
GROUP BY day ORDER BY day`,
        },
      ],
    },
    {
      title: "Users by role, last 24 hours",
      description:
        "Users per role in each session's latest snapshot of the last 24 hours (raw events; no rollup keeps roles).",
      kind: "barchart",
      datasource: "clickhouse",
      width: 12,
      timeFrom: "24h",
      queries: [
        {
          format: "table",
          columns: ["role", "users"],
          sql: `SELECT role, sum(role_users) AS users
FROM (
    SELECT session_id, argMax(users_by_role.role, time) AS roles, argMax(users_by_role.users, time) AS counts
    FROM events_session
    WHERE event_type = 'snapshot' AND $__timeFilter(time) AND ${FLEET_FILTER}
    GROUP BY session_id
)
ARRAY JOIN roles AS role, counts AS role_users
GROUP BY role ORDER BY users DESC, role`,
        },
      ],
    },
    {
      title: "Rooms per session, last 24 hours",
      description: "Sessions by the most rooms they reported in the last 24 hours (raw events).",
      kind: "barchart",
      datasource: "clickhouse",
      width: 12,
      timeFrom: "24h",
      queries: [
        {
          format: "table",
          columns: ["rooms", "sessions"],
          sql: `SELECT toString(rooms) AS rooms, count() AS sessions
FROM (
    SELECT session_id, max(room_count) AS rooms FROM events_session
    WHERE $__timeFilter(time) AND room_count > 0 AND ${FLEET_FILTER}
    GROUP BY session_id
)
GROUP BY rooms ORDER BY toUInt32(rooms)`,
        },
      ],
    },
  ],
};
