import { randomUUID } from "node:crypto";
import type pg from "pg";

/** Every event an endpoint can subscribe to. */
export const WEBHOOK_EVENTS = [
  "license.created",
  "license.renewed",
  "license.expired",
  "license.revoked",
  "instance.banned",
  "alert.fired",
] as const;

/** One of WEBHOOK_EVENTS. */
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/**
 * Queues an event for every enabled endpoint subscribed to it, inside the caller's transaction: the event
 * goes out if and only if the change that caused it commits. Returns how many deliveries were queued.
 */
export async function enqueueWebhookEvent(
  db: pg.ClientBase | pg.Pool,
  type: WebhookEvent,
  data: Record<string, unknown>,
): Promise<number> {
  const payload = { type, timestamp: new Date().toISOString(), data };
  const { rowCount } = await db.query(
    `INSERT INTO webhook_deliveries (endpoint_id, message_id, event_type, payload)
     SELECT id, $1, $2, $3 FROM webhook_endpoints WHERE NOT disabled AND $2 = ANY(events)`,
    [`msg_${randomUUID()}`, type, payload],
  );
  return rowCount ?? 0;
}
