import { errorRatio, SLO, slowRatio } from "../slo.ts";
import type { BoardSpec } from "./spec.ts";

const period = `${SLO.periodDays}d`;
const successBudget = (1 - SLO.successObjective).toPrecision(3);
const latencyBudget = (1 - SLO.latencyObjective).toPrecision(3);
const requestMetrics = ["smstats_http_requests_total"];
const durationMetrics = ["smstats_http_request_duration_seconds"];

/**
 * The Venue tier's service levels (grafana/slo.ts): success ratio and latency of validate, heartbeat and
 * batch requests, and how much of the 30-day error budget is left.
 */
export const slo: BoardSpec = {
  uid: "smstats-slo-venue",
  title: "SongMartyn · Venue SLOs",
  description: `Venue tier: ${SLO.successObjective * 100} % of validate, heartbeat and batch requests succeed; ${SLO.latencyObjective * 100} % answer within ${SLO.latencySeconds * 1000} ms (${SLO.periodDays}-day budget).`,
  tags: ["songmartyn", "slo"],
  from: "now-7d",
  variables: [],
  panels: [
    {
      title: "Success ratio by endpoint",
      description: `Requests answered without 5xx or 429, per endpoint (objective ${SLO.successObjective}).`,
      kind: "timeseries",
      datasource: "prometheus",
      unit: "percentunit",
      queries: [
        { expr: `1 - ${errorRatio("$__rate_interval")}`, legend: "{{route}}", metrics: requestMetrics },
      ],
    },
    {
      title: `Answered within ${SLO.latencySeconds * 1000} ms`,
      description: `Share of requests faster than the bound, per endpoint (objective ${SLO.latencyObjective}).`,
      kind: "timeseries",
      datasource: "prometheus",
      unit: "percentunit",
      queries: [
        { expr: `1 - ${slowRatio("$__rate_interval")}`, legend: "{{route}}", metrics: durationMetrics },
      ],
    },
    {
      title: "Success error budget left",
      description: `Share of the ${SLO.periodDays}-day success error budget not yet spent, per endpoint.`,
      kind: "stat",
      datasource: "prometheus",
      unit: "percentunit",
      queries: [
        {
          expr: `1 - ${errorRatio(period)} / ${successBudget}`,
          legend: "{{route}}",
          metrics: requestMetrics,
        },
      ],
    },
    {
      title: "Latency error budget left",
      description: `Share of the ${SLO.periodDays}-day latency error budget not yet spent, per endpoint.`,
      kind: "stat",
      datasource: "prometheus",
      unit: "percentunit",
      queries: [
        {
          expr: `1 - ${slowRatio(period)} / ${latencyBudget}`,
          legend: "{{route}}",
          metrics: durationMetrics,
        },
      ],
    },
    {
      title: "Burn rate (1h)",
      description: "How fast the success budget burns: 1 spends it in exactly the period; 14.4 pages.",
      kind: "timeseries",
      datasource: "prometheus",
      queries: [
        { expr: `${errorRatio("1h")} / ${successBudget}`, legend: "{{route}}", metrics: requestMetrics },
      ],
    },
    {
      title: "p95 latency by endpoint",
      description: "p95 request duration of the Venue tier per endpoint.",
      kind: "timeseries",
      datasource: "prometheus",
      unit: "s",
      queries: [
        {
          expr: `histogram_quantile(0.95, sum by (le, route) (rate(smstats_http_request_duration_seconds_bucket{tier="${SLO.tier}",route=~"${Object.values(SLO.routes).join("|")}"}[$__rate_interval])))`,
          legend: "{{route}}",
          metrics: durationMetrics,
        },
      ],
    },
  ],
};
