import { timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type pg from "pg";
import { HttpErrors } from "../../../../lib/http/index.ts";
import {
  lemonSqueezyPaymentEvent,
  type PaymentEvent,
  type PaymentProcessor,
  stripePaymentEvent,
  verifyLemonSqueezySignature,
  verifyStripeEvent,
} from "../../../../payments/index.ts";
import { enqueueWebhookEvent } from "../../../../webhooks/index.ts";

/** Options of the incoming webhooks (payment providers and Grafana's alert contact point). */
export interface IncomingWebhookOptions {
  payments: PaymentProcessor;
  pool: pg.Pool;
  stripe: { secret: string | undefined; toleranceSeconds: number };
  lemonSqueezySecret: string | undefined;
  alertsToken: string | undefined;
}

const answer = {
  200: {
    type: "object",
    properties: {
      received: { type: "boolean" },
      duplicate: { type: "boolean" },
      outcome: { type: "string" },
    },
  },
} as const;

function parseJson(raw: Buffer): Record<string, unknown> {
  try {
    return JSON.parse(raw.toString("utf8"));
  } catch (err) {
    throw new HttpErrors.MALFORMED_BODY((err as Error).message);
  }
}

const sameSecret = (a: string, b: string) =>
  a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/**
 * POST /v1/webhooks/stripe, /v1/webhooks/lemonsqueezy and /v1/webhooks/alerts. Signatures cover the exact
 * bytes sent, so this scope parses no body: every content type arrives as the raw Buffer.
 */
export async function incomingWebhookRoutes(app: FastifyInstance, opts: IncomingWebhookOptions) {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_request, raw, done) => done(null, raw));
  const rawBody = (request: FastifyRequest) =>
    Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  const apply = async (ev: PaymentEvent) => {
    const r = await opts.payments.apply(ev);
    return { received: true, duplicate: r.duplicate, outcome: r.outcome };
  };

  app.post(
    "/v1/webhooks/stripe",
    { schema: { summary: "Stripe events (Stripe-Signature)", tags: ["payments"], response: answer } },
    async (request) => {
      if (!opts.stripe.secret) throw new HttpErrors.PAYMENTS_NOT_CONFIGURED("stripe");
      let event: Awaited<ReturnType<typeof verifyStripeEvent>>;
      try {
        event = await verifyStripeEvent(
          rawBody(request),
          request.headers["stripe-signature"] as string | undefined,
          opts.stripe.secret,
          opts.stripe.toleranceSeconds,
        );
      } catch (err) {
        throw new HttpErrors.WEBHOOK_SIGNATURE_INVALID((err as Error).message, { cause: err });
      }
      return apply(stripePaymentEvent(event));
    },
  );

  app.post(
    "/v1/webhooks/lemonsqueezy",
    { schema: { summary: "Lemon Squeezy events (X-Signature)", tags: ["payments"], response: answer } },
    async (request) => {
      if (!opts.lemonSqueezySecret) throw new HttpErrors.PAYMENTS_NOT_CONFIGURED("lemonsqueezy");
      const raw = rawBody(request);
      if (
        !verifyLemonSqueezySignature(
          raw,
          request.headers["x-signature"] as string | undefined,
          opts.lemonSqueezySecret,
        )
      ) {
        throw new HttpErrors.WEBHOOK_SIGNATURE_INVALID("X-Signature is not the HMAC-SHA256 of the body");
      }
      return apply(lemonSqueezyPaymentEvent(raw, parseJson(raw)));
    },
  );

  // Grafana's webhook contact point: every firing alert becomes an alert.fired event for subscribers.
  app.post(
    "/v1/webhooks/alerts",
    { schema: { summary: "Grafana alert notifications (Bearer token)", tags: ["payments"] } },
    async (request) => {
      const token = /^Bearer (.+)$/.exec(String(request.headers.authorization ?? ""))?.[1];
      if (!opts.alertsToken || !token || !sameSecret(token, opts.alertsToken)) {
        throw new HttpErrors.ALERTS_TOKEN_INVALID();
      }
      const body = parseJson(rawBody(request)) as { alerts?: Record<string, unknown>[] };
      let queued = 0;
      for (const alert of body.alerts ?? []) {
        if (alert.status !== "firing") continue;
        queued += await enqueueWebhookEvent(opts.pool, "alert.fired", {
          labels: alert.labels ?? {},
          annotations: alert.annotations ?? {},
          starts_at: alert.startsAt ?? null,
          fingerprint: alert.fingerprint ?? null,
        });
      }
      return { received: true, queued };
    },
  );
}
