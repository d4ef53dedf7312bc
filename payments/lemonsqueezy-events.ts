import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { type PaymentEvent, refsOf, toDate } from "./payment-event.ts";

/** Whether X-Signature is the hex HMAC-SHA256 of the raw body with the signing secret. */
export function verifyLemonSqueezySignature(
  raw: Buffer,
  signature: string | undefined,
  secret: string,
): boolean {
  if (!signature || !/^[0-9a-f]{64}$/i.test(signature)) return false;
  const want = createHmac("sha256", secret).update(raw).digest();
  return timingSafeEqual(want, Buffer.from(signature, "hex"));
}

// Provider payloads are read defensively field by field (every access may be undefined).
// biome-ignore lint/suspicious/noExplicitAny: untyped provider JSON, narrowed by the readers below
type Obj = Record<string, any>;

const LS_ACTIVE = new Set(["active", "on_trial", "past_due", "paused"]);

/**
 * What a Lemon Squeezy event means for licensing. Lemon Squeezy sends no event id, so the id is the sha256
 * of the raw body (a retried delivery repeats the body); the order of events is their `updated_at`.
 */
export function lemonSqueezyPaymentEvent(raw: Buffer, body: Obj): PaymentEvent {
  const name = String(body?.meta?.event_name ?? "");
  const data = body?.data ?? {};
  const a: Obj = data.attributes ?? {};
  const base = {
    provider: "lemonsqueezy" as const,
    eventId: createHash("sha256").update(raw).digest("hex"),
    type: name,
    created: toDate(a.updated_at) ?? toDate(a.created_at) ?? new Date(),
    customerRef: a.customer_id === undefined ? undefined : String(a.customer_id),
    email: a.user_email ?? undefined,
  };
  switch (name) {
    case "subscription_created":
    case "subscription_updated":
    case "subscription_resumed":
    case "subscription_unpaused": {
      const f = {
        subscriptionRef: String(data.id),
        orderRef: a.order_id === undefined ? undefined : String(a.order_id),
        productRef: a.variant_id === undefined ? undefined : String(a.variant_id),
        refs: refsOf(a.order_id),
      };
      // Cancelled: paid up to ends_at, then it lapses (subscription_expired follows).
      if (a.status === "cancelled") return { ...base, ...f, kind: "end", endsAt: toDate(a.ends_at) };
      if (a.status === "expired" || a.status === "unpaid") return { ...base, ...f, kind: "end" };
      if (!LS_ACTIVE.has(a.status)) return { ...base, ...f, kind: "ignore" };
      return {
        ...base,
        ...f,
        kind: name === "subscription_created" ? "start" : "renew",
        periodEnd: toDate(a.renews_at) ?? toDate(a.ends_at),
      };
    }
    case "subscription_cancelled":
      return { ...base, kind: "end", subscriptionRef: String(data.id), endsAt: toDate(a.ends_at), refs: [] };
    case "subscription_expired":
      return { ...base, kind: "end", subscriptionRef: String(data.id), refs: [] };
    case "subscription_payment_success":
    case "subscription_payment_recovered":
    case "subscription_payment_failed":
      return {
        ...base,
        kind: name === "subscription_payment_failed" ? "payment_failed" : "renew",
        subscriptionRef: a.subscription_id === undefined ? undefined : String(a.subscription_id),
        refs: refsOf(data.id),
      };
    case "order_refunded":
      return { ...base, kind: "revoke", reason: "refund", orderRef: String(data.id), refs: refsOf(data.id) };
    default:
      return { ...base, kind: "ignore", refs: refsOf(data.id) };
  }
}
