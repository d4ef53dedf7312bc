import { type Logger, type LoggerOptions, pino } from "pino";

export type { Logger } from "pino";

/** Creates the process's structured JSON logger: one sentence plus fields per line. */
export function createLogger(name: string, level: LoggerOptions["level"] = "info"): Logger {
  return pino({
    name,
    level,
    base: { service: "smstats", component: name },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: ["req.headers.authorization", "*.password", "password"], censor: "[redacted]" },
  });
}
