import { randomBytes } from "node:crypto";
import type pg from "pg";
import { type Actor, type SecretBox, withTransaction, writeAudit } from "../licensing/index.ts";
import { WebhookError } from "./errors.ts";
import { WEBHOOK_EVENTS } from "./events.ts";
import { checkWebhookTarget } from "./target-guard.ts";

/** An endpoint as admins see it (never the secret, except once when created). */
export interface EndpointView {
  id: string;
  url: string;
  events: string[];
  description: string | null;
  disabled: boolean;
  created_at: string;
}

const view = (r: Record<string, unknown>): EndpointView => ({
  id: r.id as string,
  url: r.url as string,
  events: r.events as string[],
  description: r.description as string | null,
  disabled: r.disabled as boolean,
  created_at: (r.created_at as Date).toISOString(),
});

/** Registers an endpoint; returns it with its signing secret (whsec_…, shown once, stored sealed). Audited. */
export async function createWebhookEndpoint(
  pool: pg.Pool,
  box: SecretBox,
  actor: Actor,
  input: { url: string; events: string[]; description?: string | null; allowRemote: boolean },
): Promise<{ endpoint: EndpointView; secret: string }> {
  for (const e of input.events) {
    if (!(WEBHOOK_EVENTS as readonly string[]).includes(e)) {
      throw new WebhookError(
        "WEBHOOK_EVENT_UNKNOWN",
        `unknown event ${e}; one of ${WEBHOOK_EVENTS.join(", ")}`,
      );
    }
  }
  await checkWebhookTarget(input.url, input.allowRemote);
  const secret = `whsec_${randomBytes(24).toString("base64")}`;
  return withTransaction(pool, async (c) => {
    const { rows } = await c.query(
      `INSERT INTO webhook_endpoints (url, events, secret_sealed, description) VALUES ($1, $2, '\\x', $3)
       RETURNING id, url, events, description, disabled, created_at`,
      [input.url, [...new Set(input.events)], input.description ?? null],
    );
    const endpoint = view(rows[0]);
    await c.query("UPDATE webhook_endpoints SET secret_sealed = $2 WHERE id = $1", [
      endpoint.id,
      box.seal(Buffer.from(secret), `webhook:${endpoint.id}`),
    ]);
    await writeAudit(
      c,
      actor,
      "webhook.create",
      { type: "webhook_endpoint", id: endpoint.id },
      {
        url: endpoint.url,
        events: endpoint.events,
      },
    );
    return { endpoint, secret };
  });
}

/** Lists endpoints, newest first. */
export async function listWebhookEndpoints(db: pg.Pool): Promise<EndpointView[]> {
  const { rows } = await db.query(
    "SELECT id, url, events, description, disabled, created_at FROM webhook_endpoints ORDER BY created_at DESC",
  );
  return rows.map(view);
}

/** Disables an endpoint: nothing more is queued or sent to it. Audited. */
export async function disableWebhookEndpoint(pool: pg.Pool, actor: Actor, id: string): Promise<EndpointView> {
  return withTransaction(pool, async (c) => {
    const { rows } = await c.query(
      `UPDATE webhook_endpoints SET disabled = true WHERE id = $1
       RETURNING id, url, events, description, disabled, created_at`,
      [id],
    );
    if (!rows[0]) throw new WebhookError("WEBHOOK_ENDPOINT_NOT_FOUND", "no such webhook endpoint");
    await writeAudit(c, actor, "webhook.disable", { type: "webhook_endpoint", id }, { disabled: true });
    return view(rows[0]);
  });
}

/** The endpoint's signing secret, opened from its sealed form. */
export function openEndpointSecret(box: SecretBox, id: string, sealed: Buffer): string {
  return box.open(sealed, `webhook:${id}`).toString("utf8");
}
