import { Counter, type Registry } from "prom-client";

/** Every abuse rule, as counted in smstats_licensing_abuse_total{rule}. */
const ABUSE_RULES = [
  "key_guessing",
  "instance_errors",
  "registrations_per_address",
  "requests_per_minute",
  "banned_hwid",
  "banned_fingerprint",
  "fingerprint_clones",
  "hwid_in_use",
  "key_guessing_prefix",
  "error_reports_per_hour",
  "suspicious_pattern",
] as const;

/** One abuse rule. */
export type AbuseRule = (typeof ABUSE_RULES)[number];

/** The licensing counters of a process. */
export interface LicensingMetrics {
  /** Answers by endpoint and reason code. */
  answers: Counter<"endpoint" | "reason">;
  /** Requests an abuse rule refused or flagged. */
  abuse: Counter<"rule">;
  /** Seat-state lookups: hit, miss, or error (Redis unavailable; PostgreSQL answered). */
  cache: Counter<"result">;
  /** Seats freed, by reason (heartbeat_dead, self, replaced). */
  seatsFreed: Counter<"reason">;
  /** Requests a configured suspicious pattern matched, by pattern name and action (flag, refuse). */
  suspicious: Counter<"rule" | "action">;
}

function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: L[]) {
  return (
    (registry.getSingleMetric(name) as Counter<L> | undefined) ??
    new Counter<L>({ name, help, labelNames, registers: [registry] })
  );
}

/** The licensing counters on a registry; every abuse rule's series exists from the start (at 0). */
export function licensingMetrics(registry: Registry): LicensingMetrics {
  const abuse = counter(
    registry,
    "smstats_licensing_abuse_total",
    "Requests an abuse rule refused or flagged, by rule.",
    ["rule"],
  );
  for (const rule of ABUSE_RULES) abuse.inc({ rule }, 0);
  return {
    answers: counter(
      registry,
      "smstats_licensing_answers_total",
      "Licensing answers by endpoint and reason code.",
      ["endpoint", "reason"],
    ),
    abuse,
    cache: counter(registry, "smstats_licensing_cache_total", "Seat-state lookups in Redis, by result.", [
      "result",
    ]),
    seatsFreed: counter(registry, "smstats_licensing_seats_freed_total", "Seats freed, by reason.", [
      "reason",
    ]),
    suspicious: counter(
      registry,
      "smstats_licensing_suspicious_total",
      "Requests a configured suspicious pattern (SMSTATS_ABUSE_SUSPICIOUS_PATTERNS) matched, by rule and action.",
      ["rule", "action"],
    ),
  };
}
