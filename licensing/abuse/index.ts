export { type AbuseGuard, type AbuseVerdict, createAbuseGuard } from "./abuse-guard.ts";
