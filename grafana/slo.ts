import type { AlertSpec } from "./alerts.ts";

/**
 * Service-level objectives for the Venue tier, as venues experience the service: the success ratio and
 * the latency of validate, heartbeat and batch requests, from ingest's request metrics (labelled by the
 * instance's tier). Alerts burn the error budget in two windows each (Google SRE workbook, chapter 5):
 * a long window that shows the burn is real and a short one that shows it is still happening.
 */
export const SLO = {
  tier: "venue",
  /** Routes (Fastify route patterns, as the metrics label them) and their short names. */
  routes: { validate: "/v1/auth/validate", heartbeat: "/v1/auth/heartbeat", batch: "/v1/stats/batch" },
  /** Share of requests answered without a server error or throttling (5xx, 429). */
  successObjective: 0.999,
  /** Share of requests answered within latencySeconds (a bucket bound of the duration histogram). */
  latencyObjective: 0.99,
  latencySeconds: 0.5,
  /** Budget period of the board. */
  periodDays: 30,
} as const;

const routeMatcher = Object.values(SLO.routes).join("|");
const sel = (extra = "") => `tier="${SLO.tier}",route=~"${routeMatcher}"${extra}`;

/** Share of failed requests per route over a window (0 without traffic). */
export function errorRatio(window: string): string {
  return `(sum by (route) (rate(smstats_http_requests_total{${sel(',status=~"5..|429"')}}[${window}]))
  / clamp_min(sum by (route) (rate(smstats_http_requests_total{${sel()}}[${window}])), 1e-9))`;
}

/** Share of requests slower than the latency bound per route over a window (0 without traffic). */
export function slowRatio(window: string): string {
  const count = `sum by (route) (rate(smstats_http_request_duration_seconds_count{${sel()}}[${window}]))`;
  const fast = `sum by (route) (rate(smstats_http_request_duration_seconds_bucket{${sel(`,le="${SLO.latencySeconds}"`)}}[${window}]))`;
  return `((${count} - ${fast})\n  / clamp_min(${count}, 1e-9))`;
}

// Multi-window burn rates: [long window, short window, burn factor, for, severity].
const WINDOWS = [
  ["1h", "5m", 14.4, "2m", "critical"],
  ["6h", "30m", 6, "15m", "warning"],
] as const;

function burnAlert(
  sli: "success" | "latency",
  [long, short, factor, forDuration, severity]: (typeof WINDOWS)[number],
): AlertSpec {
  const budget = sli === "success" ? 1 - SLO.successObjective : 1 - SLO.latencyObjective;
  const ratio = sli === "success" ? errorRatio : slowRatio;
  return {
    uid: `smstats-slo-${sli}-burn-${long}`,
    title: `Venue SLO: ${sli === "success" ? "errors" : "latency"} burn the budget ${factor}× (${long}/${short})`,
    group: "slo",
    summary: `{{ $labels.route }} burns the Venue ${sli} error budget {{ $values.A }}× over ${long} (and still over ${short}).`,
    datasource: "prometheus",
    // The long window's burn rate, present only while the short window burns too.
    query: `(${ratio(long)} / ${budget.toPrecision(3)})\nand on (route)\n(${ratio(short)} / ${budget.toPrecision(3)} > ${factor})`,
    rangeSeconds: 600,
    above: factor,
    for: forDuration,
    severity,
  };
}

/** The burn-rate alerts: success and latency, fast and slow. */
export const SLO_ALERTS: readonly AlertSpec[] = (["success", "latency"] as const).flatMap((sli) =>
  WINDOWS.map((w) => burnAlert(sli, w)),
);
