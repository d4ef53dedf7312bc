/** A payment provider we take webhooks from. */
export type Provider = "stripe" | "lemonsqueezy";

/**
 * A provider event reduced to what licensing needs. `kind`:
 * - start: a purchase (checkout, subscription created) — a license is issued when none exists;
 * - renew: a payment or subscription update — the paid period (`periodEnd`) is extended;
 * - end: cancelled / expired — the license expires at `endsAt` (default: the event's time);
 * - payment_failed: recorded and audited; the license lapses at its period end plus the grace period;
 * - revoke: refund or dispute — the license is revoked;
 * - ignore: an event type we do not act on (recorded, so it is processed once).
 */
export interface PaymentEvent {
  provider: Provider;
  eventId: string;
  type: string;
  created: Date;
  kind: "start" | "renew" | "end" | "payment_failed" | "revoke" | "ignore";
  /** The subscription (or one-off checkout/order) this is about; revokes may only name `refs`. */
  subscriptionRef?: string;
  customerRef?: string;
  orderRef?: string;
  email?: string;
  /** Stripe price id / Lemon Squeezy variant id: looked up in payment_products. */
  productRef?: string;
  periodEnd?: Date;
  endsAt?: Date;
  /** Other provider ids the event names (invoice, charge, payment intent, order). */
  refs: string[];
  reason?: string;
}

/** A Date from unix seconds or an ISO string; undefined for anything else. */
export function toDate(v: unknown): Date | undefined {
  if (typeof v === "number" && Number.isFinite(v)) return new Date(v * 1000);
  if (typeof v === "string" && v !== "") {
    const d = new Date(v);
    return Number.isNaN(d.getTime()) ? undefined : d;
  }
  return undefined;
}

/** A string id from a string, a number, or an expanded object's id. */
export function idOf(v: unknown): string | undefined {
  if (typeof v === "string" && v !== "") return v;
  if (typeof v === "number") return String(v);
  if (v && typeof v === "object" && typeof (v as { id?: unknown }).id === "string")
    return (v as { id: string }).id;
  return undefined;
}

/** The defined, distinct strings of a list. */
export function refsOf(...values: unknown[]): string[] {
  return [...new Set(values.map(idOf).filter((v): v is string => v !== undefined))];
}
