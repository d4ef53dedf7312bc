import swagger from "@fastify/swagger";
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import routeDocs, { securitySchemes } from "./route-docs.ts";

/**
 * The OpenAPI document: collected from the route schemas registered after this plugin, served at
 * /docs/openapi.json.
 */
async function openapi(app: FastifyInstance) {
  await app.register(swagger, {
    openapi: {
      // 3.1: its schemas are JSON Schema, so type lists, nulls and every constraint of the routes show.
      openapi: "3.1.0",
      info: {
        title: "SongMartyn Stats",
        version: "1",
        description: "Telemetry ingest and instance identity for SongMartyn instances.",
      },
      tags: [
        { name: "telemetry", description: "Telemetry batches" },
        { name: "instances", description: "Registration and tokens" },
        {
          name: "licensing",
          description:
            "Activation, validation with signed leases, heartbeats, deactivation and the public keys. Every " +
            "answer is signed (Sm-Signature)",
        },
        {
          name: "admin",
          description:
            "Licenses, instances, fleet figures and the audit log; admin token with scopes, or the console's " +
            "session cookie with its CSRF token",
        },
        {
          name: "portal",
          description: "The license portal: a license owner's session, devices, offline file",
        },
        { name: "payments", description: "Incoming webhooks: Stripe, Lemon Squeezy, Grafana alerts" },
        {
          name: "privacy",
          description: "Erasure (a durable job) and export of everything stored about an instance",
        },
        { name: "health", description: "Liveness, readiness and metrics" },
      ],
      components: { securitySchemes },
    },
  });
  await app.register(routeDocs);
  app.get("/docs/openapi.json", { schema: { hide: true } }, async () => app.swagger());
}

/** The OpenAPI document as a plugin of the whole app. */
export default fp(openapi, { name: "smstats-openapi" });
