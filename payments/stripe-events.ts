import type Stripe from "stripe";
import { idOf, type PaymentEvent, refsOf, toDate } from "./payment-event.ts";

// The Stripe client is only used for its webhook helpers (no API calls, so no real API key is needed).
// Loaded at the first webhook: the package costs ~20 MB resident, which every ingest process would
// otherwise carry whether or not it is ever paid through Stripe.
let stripe: Promise<Stripe> | undefined;
function stripeClient(): Promise<Stripe> {
  stripe ??= import("stripe").then(({ default: StripeClient }) => new StripeClient("sk_webhooks_only"));
  return stripe;
}

/**
 * Verifies a Stripe webhook on its raw body (Stripe-Signature, HMAC-SHA256, `toleranceSeconds` either
 * side) with the official package, and returns the event; throws on any mismatch.
 */
export async function verifyStripeEvent(
  raw: Buffer,
  header: string | undefined,
  secret: string,
  toleranceSeconds: number,
): Promise<Stripe.Event> {
  return (await stripeClient()).webhooks.constructEvent(raw, header ?? "", secret, toleranceSeconds);
}

// Provider payloads are read defensively field by field (every access may be undefined).
// biome-ignore lint/suspicious/noExplicitAny: untyped provider JSON, narrowed by the readers below
type Obj = Record<string, any>;

const STRIPE_ACTIVE = new Set(["active", "trialing", "past_due"]);
const STRIPE_ENDED = new Set(["canceled", "unpaid", "incomplete_expired"]);

// A subscription's price and period end; newer API versions keep the period on the items.
function subscriptionFields(sub: Obj) {
  const item = sub.items?.data?.[0];
  return {
    productRef: idOf(item?.price),
    periodEnd: toDate(sub.current_period_end ?? item?.current_period_end),
  };
}

/** What a Stripe event means for licensing (see PaymentEvent). */
export function stripePaymentEvent(event: Stripe.Event): PaymentEvent {
  const o = event.data.object as Obj;
  const base = {
    provider: "stripe" as const,
    eventId: event.id,
    type: event.type,
    created: new Date(event.created * 1000),
    customerRef: idOf(o.customer),
  };
  switch (event.type) {
    case "checkout.session.completed": {
      const subscription = idOf(o.subscription);
      return {
        ...base,
        kind: "start",
        subscriptionRef: subscription ?? `checkout:${o.id}`,
        email: o.customer_details?.email ?? o.customer_email ?? undefined,
        productRef: idOf(o.line_items?.data?.[0]?.price) ?? o.metadata?.price_id,
        refs: refsOf(o.id, o.invoice, o.payment_intent),
      };
    }
    case "customer.subscription.created":
    case "customer.subscription.updated":
    case "customer.subscription.resumed": {
      const f = subscriptionFields(o);
      if (STRIPE_ENDED.has(o.status)) {
        return { ...base, kind: "end", subscriptionRef: o.id, ...f, refs: [] };
      }
      if (!STRIPE_ACTIVE.has(o.status)) return { ...base, kind: "ignore", subscriptionRef: o.id, refs: [] };
      return {
        ...base,
        kind: event.type === "customer.subscription.created" ? "start" : "renew",
        subscriptionRef: o.id,
        ...f,
        refs: [],
      };
    }
    case "customer.subscription.deleted":
      return { ...base, kind: "end", subscriptionRef: o.id, refs: [] };
    case "invoice.paid":
    case "invoice.payment_succeeded":
    case "invoice.payment_failed": {
      const line = o.lines?.data?.[0];
      return {
        ...base,
        kind: event.type === "invoice.payment_failed" ? "payment_failed" : "renew",
        subscriptionRef: idOf(o.subscription ?? o.parent?.subscription_details?.subscription),
        email: o.customer_email ?? undefined,
        productRef: idOf(line?.price) ?? line?.pricing?.price_details?.price,
        periodEnd: toDate(line?.period?.end),
        refs: refsOf(o.id, o.charge, o.payment_intent),
      };
    }
    case "charge.refunded":
      return { ...base, kind: "revoke", reason: "refund", refs: refsOf(o.id, o.invoice, o.payment_intent) };
    case "charge.dispute.created":
      return { ...base, kind: "revoke", reason: "dispute", refs: refsOf(o.charge, o.payment_intent) };
    default:
      return { ...base, kind: "ignore", refs: [] };
  }
}
