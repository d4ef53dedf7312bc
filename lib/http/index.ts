export { type Acceptors, addAcceptors } from "./acceptors.ts";
export {
  type CutReason,
  clientErrorHandler,
  guardConnections,
  serverTimeouts,
} from "./connection-hygiene.ts";
export { duplicateKey, duplicateKeyIn } from "./duplicate-keys.ts";
export { default as errorHandler, type ErrorHandlerOptions, validationError } from "./error-handler.ts";
export { type ErrorBody, errorBodySchema, HttpErrors } from "./errors.ts";
export { gracefulClose } from "./graceful-close.ts";
export { default as health, type HealthCheck, type HealthOptions } from "./health.ts";
export { default as metricsPlugin, type MetricsPluginOptions, metricsRoute } from "./metrics.ts";
export { createOutageTracker, type OutageTracker, type OutageTrackerOptions } from "./outage-tracker.ts";
export { createHttpServer } from "./server.ts";
export { clickhouseCheck, natsCheck, postgresCheck, redisCheck } from "./standard-checks.ts";
export { strictValidatorCompiler } from "./strict-validator.ts";
export { unstorableJson, unstorableText } from "./unstorable-text.ts";
