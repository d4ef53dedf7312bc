import Fastify, { type FastifyInstance } from "fastify";
import type pg from "pg";
import { domainHttpError } from "../../ingest/plugins/domain-errors.ts";
import { refreshRoute } from "../../ingest/routes/v1/auth/index.ts";
import { registerRoute } from "../../ingest/routes/v1/instances/index.ts";
import { errorHandler } from "../../lib/http/index.ts";
import type { KeyRing, PiiVault } from "../../licensing/index.ts";

/** A minimal app with only the error handler and the identity routes (independent of ingest/app.ts). */
export async function identityApp(deps: {
  pool: pg.Pool;
  ring: KeyRing;
  vault: PiiVault;
  tokenTtlSeconds?: number;
}): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  await app.register(errorHandler, { retryAfterSeconds: 5, mapError: domainHttpError });
  await app.register(registerRoute, deps);
  await app.register(refreshRoute, deps);
  await app.ready();
  return app;
}
