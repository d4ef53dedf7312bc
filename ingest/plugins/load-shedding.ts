import underPressure from "@fastify/under-pressure";
import type { FastifyInstance, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import { Counter, Gauge, type Registry } from "prom-client";
import { HttpErrors } from "../../lib/http/index.ts";

/** Limits past which ingest answers 503 with Retry-After at once instead of queueing. */
export interface LoadSheddingOptions {
  maxInFlight: number;
  maxEventLoopDelayMs: number;
  maxRssBytes: number;
  retryAfterSeconds: number;
  registry: Registry;
}

// Liveness, readiness and metrics are answered under pressure too: they are how operators see it.
const WARM_UP_MS = 2000;
const EXEMPT = /^\/(health\/|metrics$|docs\/)/;

/**
 * Load shedding, answered 503 OVERLOADED with Retry-After at once and counted by reason: event-loop delay
 * or resident memory past their limits (through @fastify/under-pressure, sampled every 250 ms) as the
 * first onRequest hook, before any authentication work; requests in flight past maxInFlight as the first
 * preValidation hook, before the body is verified, decompressed or parsed.
 */
async function loadShedding(app: FastifyInstance, opts: LoadSheddingOptions) {
  const shed = new Counter({
    name: "smstats_ingest_shed_total",
    help: "Requests answered 503 OVERLOADED at once, by the limit that was past.",
    labelNames: ["reason"],
    registers: [opts.registry],
  });
  let inFlight = 0;
  new Gauge({
    name: "smstats_ingest_in_flight_requests",
    help: "Requests being served right now (shedding starts past SMSTATS_INGEST_MAX_IN_FLIGHT).",
    registers: [opts.registry],
    collect() {
      this.set(inFlight);
    },
  });
  const counted = new WeakSet<FastifyRequest>();
  const refuse = (reason: string) => {
    shed.inc({ reason });
    return new HttpErrors.OVERLOADED(reason);
  };
  // A request counts once its body has arrived, before it is decompressed or parsed: a slow client still
  // sending is the connection timeouts' business and must not take a place. New requests are refused
  // at onRequest while the places are taken (costing no authentication nor body work), and a request
  // whose body arrives when they are taken is refused then.
  app.addHook("onRequest", async (request) => {
    if (!EXEMPT.test(request.url) && inFlight >= opts.maxInFlight) throw refuse("in_flight");
  });
  app.addHook("preValidation", async (request) => {
    if (EXEMPT.test(request.url)) return;
    if (inFlight >= opts.maxInFlight) throw refuse("in_flight");
    inFlight++;
    counted.add(request);
  });
  const release = async (request: FastifyRequest) => {
    if (counted.delete(request)) inFlight--;
  };
  app.addHook("onResponse", release);
  app.addHook("onRequestAbort", release);
  // Building the app (schema compilation) stalls the loop once; that is not load, so event-loop delay
  // is judged only from WARM_UP_MS after the app is ready.
  let warmUntil = Number.POSITIVE_INFINITY;
  app.addHook("onReady", async () => {
    warmUntil = Date.now() + WARM_UP_MS;
  });
  await app.register(underPressure, {
    maxEventLoopDelay: opts.maxEventLoopDelayMs,
    maxRssBytes: opts.maxRssBytes,
    sampleInterval: 250,
    retryAfter: opts.retryAfterSeconds,
    pressureHandler: (request: FastifyRequest, _reply: unknown, type: string) => {
      if (EXEMPT.test(request.url)) return undefined;
      if (type === "eventLoopDelay" && Date.now() < warmUntil) return undefined;
      return Promise.reject(refuse(type === "eventLoopDelay" ? "event_loop_delay" : "memory"));
    },
  });
}

/** Load shedding as a plugin that applies to the whole app; register it before authentication and the body parsers. */
export default fp(loadShedding, { name: "smstats-load-shedding" });
