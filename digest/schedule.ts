import { Cron } from "croner";
import type pg from "pg";
import type { Logger } from "../lib/log/index.ts";
import type { Mailer } from "../mail/index.ts";
import { digestWeek } from "./figures.ts";
import { type DigestSources, sendDigest } from "./send-digest.ts";

/**
 * Sends the digest on a cron schedule. Every ingest process schedules it; the first to claim the week in
 * digest_runs sends it, so it goes out once. A failed send releases the claim (the next tick retries).
 */
export function scheduleDigest(opts: {
  cron: string;
  to: readonly string[];
  pool: pg.Pool;
  sources: () => DigestSources;
  mailer: Mailer;
  log: Logger;
}): { stop(): void } {
  const job = new Cron(opts.cron, { timezone: "UTC", protect: true }, async () => {
    const at = new Date();
    const week = digestWeek(at).from.toISOString().slice(0, 10);
    const claim = await opts.pool.query(
      "INSERT INTO digest_runs (week_start, recipients) VALUES ($1, $2) ON CONFLICT DO NOTHING",
      [week, [...opts.to]],
    );
    if (claim.rowCount === 0) return;
    try {
      await sendDigest(opts.sources(), opts.mailer, at, [...opts.to]);
    } catch (err) {
      opts.log.error({ err, week }, "weekly digest failed");
      await opts.pool.query("DELETE FROM digest_runs WHERE week_start = $1", [week]).catch(() => undefined);
    }
  });
  return { stop: () => job.stop() };
}
