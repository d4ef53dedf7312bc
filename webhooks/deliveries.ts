import type pg from "pg";
import { type Actor, withTransaction, writeAudit } from "../licensing/index.ts";
import { WebhookError } from "./errors.ts";

/** A delivery and its attempts: the delivery log. */
export interface DeliveryView {
  id: string;
  endpoint_id: string;
  message_id: string;
  event_type: string;
  status: string;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  created_at: string;
  delivered_at: string | null;
  log: { at: string; status: number | null; error: string | null; duration_ms: number }[];
}

/** Lists deliveries (newest first) with their attempts, optionally of one endpoint or status. */
export async function listDeliveries(
  db: pg.Pool,
  filter: { endpointId?: string; status?: string; id?: string; limit?: number } = {},
): Promise<DeliveryView[]> {
  const { rows } = await db.query(
    `SELECT d.id, d.endpoint_id, d.message_id, d.event_type, d.status, d.attempts, d.last_status, d.last_error,
       d.created_at, d.delivered_at,
       COALESCE((SELECT json_agg(json_build_object('at', a.at, 'status', a.status, 'error', a.error,
         'duration_ms', a.duration_ms) ORDER BY a.id) FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]') AS log
     FROM webhook_deliveries d
     WHERE ($1::uuid IS NULL OR d.endpoint_id = $1) AND ($2::text IS NULL OR d.status = $2)
       AND ($3::uuid IS NULL OR d.id = $3)
     ORDER BY d.created_at DESC LIMIT $4`,
    [
      filter.endpointId ?? null,
      filter.status ?? null,
      filter.id ?? null,
      Math.min(filter.limit ?? 100, 1000),
    ],
  );
  return rows.map((r) => ({
    ...r,
    created_at: r.created_at.toISOString(),
    delivered_at: r.delivered_at ? r.delivered_at.toISOString() : null,
  }));
}

/**
 * Sends a delivery again (same webhook-id, so receivers can de-duplicate): it becomes pending and due now,
 * whatever its state; the worker picks it up. Audited.
 */
export async function replayDelivery(pool: pg.Pool, actor: Actor, id: string): Promise<void> {
  await withTransaction(pool, async (c) => {
    const { rows } = await c.query(
      `UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), created_at = now()
       WHERE id = $1 RETURNING status`,
      [id],
    );
    if (!rows[0]) throw new WebhookError("WEBHOOK_DELIVERY_NOT_FOUND", "no such delivery");
    await writeAudit(c, actor, "webhook.replay", { type: "webhook_delivery", id }, {});
  });
}
