import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { Counter } from "prom-client";
import { storeOutageOf, urlPort } from "../../lib/clients/index.ts";
import type { Config } from "../../lib/config/index.ts";
import {
  createOutageTracker,
  errorHandler,
  natsCheck,
  postgresCheck,
  redisCheck,
} from "../../lib/http/index.ts";
import type { IngestDeps } from "../deps.ts";
import { domainHttpError } from "./domain-errors.ts";

/** Options of the ingest's error answers. */
export interface ErrorMappingOptions {
  config: Readonly<Config>;
  deps: IngestDeps;
}

/**
 * The one error handler of the ingest: domain errors mapped by domain-errors.ts, every answer counted
 * by code, store outages answered 503 with Retry-After. A Redis or PostgreSQL outage (or NATS's,
 * answered 503 PIPELINE_UNAVAILABLE by the publisher) is logged once when it starts and once when it
 * ends (the tracker probes the dependency meanwhile), not per request.
 */
async function errorMapping(app: FastifyInstance, { config, deps }: ErrorMappingOptions) {
  const errors = new Counter({
    name: "smstats_http_errors_total",
    help: "Error responses, by stable error code.",
    labelNames: ["code"],
    registers: [deps.metrics],
  });
  const outages = createOutageTracker({
    log: deps.log,
    // The health routes' own checks.
    probes: {
      redis: redisCheck(deps.redis).run,
      postgres: postgresCheck(deps.pg).run,
      nats: natsCheck(deps.nats, () => deps.jsm.streams.info(config.nats.stream)).run,
    },
    probeEveryMs: 1000,
    outages: new Counter({
      name: "smstats_dependency_outages_total",
      help: "Outages of a dependency ingest needs (redis, postgres, nats), counted when the first request meets one.",
      labelNames: ["dependency"],
      registers: [deps.metrics],
    }),
  });
  app.addHook("onClose", async () => outages.close());
  const storePorts = { redis: urlPort(config.redis.url, 6379), postgres: urlPort(config.postgres.url, 5432) };
  await app.register(errorHandler, {
    retryAfterSeconds: config.ingest.retryAfterSeconds,
    onError: (code) => errors.inc({ code }),
    dependencyOf: (err) => storeOutageOf(err, storePorts),
    onDependencyDown: (dependency, err) => outages.report(dependency, err),
    outageCodes: { PIPELINE_UNAVAILABLE: "nats" },
    mapError: domainHttpError,
  });
}

/** The ingest's error handler as a plugin of the whole app. */
export default fp(errorMapping, { name: "smstats-ingest-errors" });
