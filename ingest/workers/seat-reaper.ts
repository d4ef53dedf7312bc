import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import type { Config } from "../../lib/config/index.ts";
import type { IngestDeps } from "../deps.ts";

/** Options of the seat reaper. */
export interface SeatReaperOptions {
  config: Readonly<Config>;
  deps: IngestDeps;
}

/**
 * Frees the seats whose heartbeats stopped in the background too, not only when a seat is wanted:
 * every licensing.reapIntervalMs while the app runs.
 */
async function seatReaper(app: FastifyInstance, { config, deps }: SeatReaperOptions) {
  let timer: NodeJS.Timeout | undefined;
  app.addHook("onReady", async () => {
    timer = setInterval(() => {
      deps.licensing.reapDeadSeats().catch((err) => deps.log.warn({ err }, "freeing dead seats failed"));
    }, config.licensing.reapIntervalMs);
    timer.unref();
  });
  app.addHook("onClose", async () => clearInterval(timer));
}

/** The seat reaper as a plugin. */
export default fp(seatReaper, { name: "smstats-seat-reaper" });
