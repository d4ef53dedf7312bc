import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyServerOptions,
  LogController,
} from "fastify";
import type { Logger } from "../log/index.ts";
import { clientErrorHandler, frameworkErrors } from "./router-errors.ts";
import { strictValidatorCompiler } from "./strict-validator.ts";

/**
 * A Fastify instance with the project's logging: the process's pino logger and no per-request lines
 * (one line per batch at info level would drown the logs; errors are logged by the error handler), and
 * strict validation (no coercion of bodies, unknown fields refused).
 */
export function createHttpServer(
  log: Logger,
  options: Omit<FastifyServerOptions, "logger" | "loggerInstance"> = {},
): FastifyInstance {
  const app = Fastify({
    frameworkErrors,
    clientErrorHandler,
    ...options,
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
  }) as unknown as FastifyInstance;
  app.setValidatorCompiler(strictValidatorCompiler());
  return app;
}
