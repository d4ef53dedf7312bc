import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import type { Config } from "../../lib/config/index.ts";
import { sendExpiryNotices } from "../../payments/index.ts";
import type { IngestDeps } from "../deps.ts";

/** Options of the expiry notices. */
export interface ExpiryNoticesOptions {
  config: Readonly<Config>;
  deps: IngestDeps;
}

/** Owners hear a week before their license expires: checked every mail.expiryNoticeIntervalMs (0: never). */
async function expiryNotices(app: FastifyInstance, { config, deps }: ExpiryNoticesOptions) {
  if (config.mail.expiryNoticeIntervalMs <= 0) return;
  let timer: NodeJS.Timeout | undefined;
  app.addHook("onReady", async () => {
    timer = setInterval(() => {
      sendExpiryNotices(deps.pg, deps.vault, deps.mailer, deps.log).catch((err) =>
        deps.log.warn({ err }, "expiry notices failed"),
      );
    }, config.mail.expiryNoticeIntervalMs);
    timer.unref();
  });
  app.addHook("onClose", async () => clearInterval(timer));
}

/** The expiry notices as a plugin. */
export default fp(expiryNotices, { name: "smstats-expiry-notices" });
