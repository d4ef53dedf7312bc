import pg from "pg";
import type { Logger } from "../../lib/log/index.ts";
import { CONSENT_CHANNEL } from "../../licensing/index.ts";

/** A running listener; close() ends its connection and stops reconnecting. */
export interface ConsentListener {
  close(): Promise<void>;
}

/**
 * Listens on PostgreSQL's CONSENT_CHANNEL (licensing/instances/consent.ts notifies it in the transaction
 * that writes consent, so it arrives at commit) and calls `forget` with the instance id, so every ingest
 * process drops a cached identity the moment its consent changes, not when the cache entry ages out: a
 * withdrawal stops storage from the next batch, whichever process takes it. A lost connection is retried
 * every second; until it is back the identity cache's TTL bounds how long old consent can apply.
 */
export function listenForConsentChanges(
  url: string,
  forget: (instanceId: string) => void,
  log: Logger,
): ConsentListener {
  let client: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  const connect = async () => {
    const c = new pg.Client({ connectionString: url, application_name: "smstats-ingest-consent" });
    client = c;
    c.on("notification", (n) => {
      if (n.channel === CONSENT_CHANNEL && n.payload) forget(n.payload);
    });
    c.on("error", (err) => {
      log.warn({ err }, "consent listener lost its connection; reconnecting");
      c.end().catch(() => {});
      schedule();
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${CONSENT_CHANNEL}`);
    } catch (err) {
      log.warn({ err }, "consent listener cannot connect; retrying");
      c.end().catch(() => {});
      schedule();
    }
  };
  const schedule = () => {
    if (closed || retry) return;
    retry = setTimeout(() => {
      retry = undefined;
      void connect();
    }, 1_000);
    retry.unref();
  };
  void connect();
  return {
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      await client?.end().catch(() => {});
    },
  };
}
