import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import type { IngestDeps } from "../deps.ts";

/** Outgoing webhook deliveries: started once the app is ready, stopped when it closes. */
async function webhookDeliveries(app: FastifyInstance, { deps }: { deps: IngestDeps }) {
  app.addHook("onReady", async () => deps.deliveries.start());
  app.addHook("onClose", async () => deps.deliveries.stop());
}

/** The webhook delivery worker as a plugin. */
export default fp(webhookDeliveries, { name: "smstats-webhook-deliveries" });
