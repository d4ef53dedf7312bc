export { type AbuseGuard, type AbuseVerdict, createAbuseGuard } from "./abuse-guard.ts";
export {
  createSuspiciousCheck,
  matchSuspicious,
  type SuspiciousCheck,
  type SuspiciousFields,
} from "./suspicious-check.ts";
