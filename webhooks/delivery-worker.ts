import type pg from "pg";
import { Counter, type Registry } from "prom-client";
import { Webhook } from "standardwebhooks";
import type { Logger } from "../lib/log/index.ts";
import type { SecretBox } from "../licensing/index.ts";
import { openEndpointSecret } from "./endpoints.ts";
import { checkWebhookTarget } from "./target-guard.ts";

/** Settings of the delivery worker (config.webhooks). */
export interface DeliverySettings {
  backoffMs: readonly number[];
  retryWindowMs: number;
  pollMs: number;
  timeoutMs: number;
  allowRemote: boolean;
}

/** Sends due deliveries; started by ingest, also usable once (`runOnce`) from the CLI and tests. */
export interface DeliveryWorker {
  /** Sends every delivery due now; returns how many were attempted. */
  runOnce(): Promise<number>;
  start(): void;
  stop(): Promise<void>;
}

/** The delay before retry number `attempts` (1-based): the schedule's entry, its last one repeating. */
export function retryDelayMs(backoffMs: readonly number[], attempts: number): number {
  return backoffMs[Math.min(attempts, backoffMs.length) - 1] ?? 0;
}

interface Due {
  id: string;
  endpoint_id: string;
  message_id: string;
  payload: unknown;
  attempts: number;
  created_at: Date;
  url: string;
  secret_sealed: Buffer;
}

/** A delivery worker over the deliveries table. */
export function createDeliveryWorker(opts: {
  pool: pg.Pool;
  box: SecretBox;
  settings: DeliverySettings;
  log: Logger;
  metrics?: Registry;
}): DeliveryWorker {
  const { pool, box, settings, log } = opts;
  const outcomes = new Counter({
    name: "smstats_webhook_attempts_total",
    help: "Outgoing webhook attempts by outcome (delivered, retry, failed: retry window over, refused: target not allowed).",
    labelNames: ["outcome"],
    registers: opts.metrics ? [opts.metrics] : [],
  });
  for (const outcome of ["delivered", "retry", "failed", "refused"]) outcomes.inc({ outcome }, 0);

  // Claims due rows by pushing their next attempt past the request timeout, so another process polling the
  // same table skips them (SKIP LOCKED) and a crash mid-request only delays the retry.
  async function claim(): Promise<Due[]> {
    const { rows } = await pool.query(
      `UPDATE webhook_deliveries d SET next_attempt_at = now() + make_interval(secs => $1::double precision)
       FROM webhook_endpoints e
       WHERE d.endpoint_id = e.id AND NOT e.disabled AND d.id IN (
         SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= now()
           AND endpoint_id IN (SELECT id FROM webhook_endpoints WHERE NOT disabled)
         ORDER BY next_attempt_at LIMIT 20 FOR UPDATE SKIP LOCKED)
       RETURNING d.id, d.endpoint_id, d.message_id, d.payload, d.attempts, d.created_at, e.url, e.secret_sealed`,
      [(settings.timeoutMs + 5000) / 1000],
    );
    return rows;
  }

  async function attempt(d: Due): Promise<void> {
    const started = Date.now();
    const body = JSON.stringify(d.payload);
    let status: number | null = null;
    let error: string | null = null;
    try {
      await checkWebhookTarget(d.url, settings.allowRemote);
      const secret = openEndpointSecret(box, d.endpoint_id, d.secret_sealed);
      const now = new Date();
      const res = await fetch(d.url, {
        method: "POST",
        redirect: "manual",
        signal: AbortSignal.timeout(settings.timeoutMs),
        headers: {
          "content-type": "application/json",
          "user-agent": "SongMartyn-Stats-Webhooks/1",
          "webhook-id": d.message_id,
          "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
          "webhook-signature": new Webhook(secret).sign(d.message_id, now, body),
        },
        body,
      });
      status = res.status;
      await res.body?.cancel();
      if (status < 200 || status > 299) error = `HTTP ${status}`;
    } catch (err) {
      error =
        (err as { code?: string }).code === "WEBHOOK_TARGET_REFUSED"
          ? `refused: ${(err as Error).message}`
          : (err as Error).message;
    }
    const attempts = d.attempts + 1;
    const delay = retryDelayMs(settings.backoffMs, attempts);
    const outcome = !error
      ? "delivered"
      : Date.now() + delay > d.created_at.getTime() + settings.retryWindowMs
        ? "failed"
        : "retry";
    outcomes.inc({ outcome: error?.startsWith("refused") ? "refused" : outcome });
    await pool.query(
      "INSERT INTO webhook_attempts (delivery_id, status, error, duration_ms) VALUES ($1, $2, $3, $4)",
      [d.id, status, error, Date.now() - started],
    );
    await pool.query(
      `UPDATE webhook_deliveries SET attempts = $2, last_status = $3, last_error = $4,
         status = $5, delivered_at = CASE WHEN $5 = 'delivered' THEN now() END,
         next_attempt_at = now() + make_interval(secs => $6::double precision)
       WHERE id = $1`,
      [d.id, attempts, status, error, outcome === "retry" ? "pending" : outcome, delay / 1000],
    );
  }

  async function runOnce(): Promise<number> {
    const due = await claim();
    await Promise.all(due.map(attempt));
    return due.length;
  }

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let stopped = true;
  const tick = () => {
    running = runOnce()
      .catch((err) => log.warn({ err }, "webhook deliveries failed"))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, settings.pollMs).unref();
      });
  };
  return {
    runOnce,
    start() {
      if (!stopped) return;
      stopped = false;
      timer = setTimeout(tick, 0).unref();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
