import type pg from "pg";
import type { SuspiciousField, SuspiciousPattern } from "../../lib/config/index.ts";
import { LicensingError } from "../errors.ts";
import type { LicensingMetrics } from "../metrics.ts";
import type { AbuseGuard } from "./abuse-guard.ts";

/** What a request shows of itself, by field; a field absent is not matched. */
export type SuspiciousFields = Partial<Record<SuspiciousField, string | undefined>>;

/** Checks a request against the configured suspicious patterns; throws SUSPICIOUS_CLIENT on a refusing rule. */
export type SuspiciousCheck = (fields: SuspiciousFields, subject: string) => Promise<void>;

/** The rules that match the given fields (pure): each configured pattern whose field's value it matches. */
export function matchSuspicious(
  rules: readonly (SuspiciousPattern & { regex: RegExp })[],
  fields: SuspiciousFields,
): (SuspiciousPattern & { regex: RegExp })[] {
  return rules.filter((r) => {
    const value = fields[r.field];
    return value !== undefined && r.regex.test(value);
  });
}

/**
 * The configured suspicious patterns as a check. Every match is counted by rule and action
 * (smstats_licensing_suspicious_total); a "flag" rule records the subject in abuse_flags once per rule,
 * subject and hour (rule `suspicious:<name>`) and lets the request go on; a "refuse" rule answers 403
 * SUSPICIOUS_CLIENT. Rules are compiled once.
 */
export function createSuspiciousCheck(deps: {
  patterns: readonly SuspiciousPattern[];
  pool: pg.Pool;
  abuse: AbuseGuard;
  metrics: LicensingMetrics;
}): SuspiciousCheck {
  const rules = deps.patterns.map((p) => ({ ...p, regex: new RegExp(p.pattern, p.flags) }));
  for (const r of rules) {
    for (const action of ["flag", "refuse"]) deps.metrics.suspicious.inc({ rule: r.name, action }, 0);
  }
  return async (fields, subject) => {
    const matched = matchSuspicious(rules, fields);
    for (const r of matched) {
      deps.metrics.suspicious.inc({ rule: r.name, action: r.action });
      deps.metrics.abuse.inc({ rule: "suspicious_pattern" });
      if (r.action === "flag") {
        const n = await deps.abuse.hit("suspicious_pattern", `${r.name}:${subject}`, 3600);
        if (n === 1) {
          await deps.pool.query("INSERT INTO abuse_flags (rule, subject, details) VALUES ($1, $2, $3)", [
            `suspicious:${r.name}`,
            subject,
            { field: r.field },
          ]);
        }
      }
    }
    const refusing = matched.find((r) => r.action === "refuse");
    if (refusing) {
      throw new LicensingError("SUSPICIOUS_CLIENT", `refused by the suspicious pattern ${refusing.name}`);
    }
  };
}
