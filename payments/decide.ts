import type { PaymentEvent } from "./payment-event.ts";

/** A billing period, as payment_products and licenses spell it. */
export type BillingPeriod = "monthly" | "yearly" | "lifetime";

/** What the events so far say about one subscription (a payment_subscriptions row). */
export interface SubscriptionState {
  email: string | null;
  customerRef: string | null;
  orderRef: string | null;
  tier: string | null;
  billingPeriod: BillingPeriod | null;
  periodEnd: Date | null;
  status: "active" | "ended" | "revoked";
  /** Provider time of the event that set the status; older status changes are ignored. */
  statusAt: Date | null;
  endsAt: Date | null;
  licenseId: string | null;
}

/** The license a subscription holds, as far as the decision needs it. */
export interface LicenseFacts {
  tier: string;
  expiresAt: Date | null;
  revoked: boolean;
}

/** What to do to the license after an event. */
export type LicenseChange =
  | { kind: "issue"; tier: string; email: string; expiresAt: Date | null; billingPeriod: BillingPeriod }
  | { kind: "extend"; expiresAt: Date | null; tier: string }
  | { kind: "expire"; expiresAt: Date }
  | { kind: "revoke"; reason: string }
  | { kind: "none"; why: string };

/** The end of one billing period starting at `from`; null for lifetime. */
export function addPeriod(from: Date, period: BillingPeriod): Date | null {
  if (period === "lifetime") return null;
  const d = new Date(from);
  if (period === "monthly") d.setUTCMonth(d.getUTCMonth() + 1);
  else d.setUTCFullYear(d.getUTCFullYear() + 1);
  return d;
}

const later = (a: Date | null, b: Date | undefined | null) => (!a ? (b ?? null) : b && b > a ? b : a);

/** An empty state for a subscription seen for the first time. */
export function newSubscriptionState(): SubscriptionState {
  return {
    email: null,
    customerRef: null,
    orderRef: null,
    tier: null,
    billingPeriod: null,
    periodEnd: null,
    status: "active",
    statusAt: null,
    endsAt: null,
    licenseId: null,
  };
}

/**
 * Merges an event into a subscription's state so the order of arrival does not matter: details fill in
 * (the first known wins, the product may change), the paid period only grows, and a status change applies
 * only when its event is at least as new as the last one — except revocation, which is final.
 */
export function mergeEvent(
  s: SubscriptionState,
  ev: PaymentEvent,
  product: { tier: string; billingPeriod: BillingPeriod } | undefined,
): SubscriptionState {
  const next: SubscriptionState = {
    ...s,
    email: s.email ?? ev.email ?? null,
    customerRef: s.customerRef ?? ev.customerRef ?? null,
    orderRef: s.orderRef ?? ev.orderRef ?? null,
    tier: product?.tier ?? s.tier,
    billingPeriod: product?.billingPeriod ?? s.billingPeriod,
  };
  const newer = !s.statusAt || ev.created >= s.statusAt;
  if (ev.kind === "start" || ev.kind === "renew") {
    // A payment without a period end (Lemon Squeezy's invoices) pays one period from its time.
    const paidTo = ev.periodEnd ?? (next.billingPeriod ? addPeriod(ev.created, next.billingPeriod) : null);
    next.periodEnd = later(next.periodEnd, paidTo);
    if (s.status !== "revoked" && newer) {
      next.status = "active";
      next.statusAt = ev.created;
      next.endsAt = null;
    }
  } else if (ev.kind === "end" && s.status !== "revoked" && newer) {
    next.status = "ended";
    next.statusAt = ev.created;
    next.endsAt = ev.endsAt ?? ev.created;
  } else if (ev.kind === "revoke") {
    next.status = "revoked";
    next.statusAt = later(s.statusAt, ev.created);
  }
  return next;
}

/**
 * The license change a subscription's state asks for, given its license (if any): issue once the buyer,
 * tier and period are known; while active, expiry = paid period end + grace (never shortened); once ended,
 * expiry moves forward to the end; revoked stays revoked.
 */
export function decideLicenseChange(
  s: SubscriptionState,
  license: LicenseFacts | null,
  graceDays: number,
  reason = "refund",
): LicenseChange {
  const grace = graceDays * 86_400_000;
  const paidUntil = (): Date | null => {
    if (s.billingPeriod === "lifetime") return null;
    const end =
      s.periodEnd ?? (s.billingPeriod && s.statusAt ? addPeriod(s.statusAt, s.billingPeriod) : null);
    return end ? new Date(end.getTime() + grace) : null;
  };
  if (!license) {
    if (s.status !== "active") return { kind: "none", why: `no license and the subscription is ${s.status}` };
    if (!s.email || !s.tier || !s.billingPeriod) return { kind: "none", why: "waiting for buyer or product" };
    const expiresAt = paidUntil();
    if (s.billingPeriod !== "lifetime" && !expiresAt)
      return { kind: "none", why: "waiting for the paid period" };
    return { kind: "issue", tier: s.tier, email: s.email, expiresAt, billingPeriod: s.billingPeriod };
  }
  if (license.revoked) return { kind: "none", why: "the license is revoked" };
  if (s.status === "revoked") return { kind: "revoke", reason };
  if (s.status === "ended") {
    const end = s.endsAt ?? s.statusAt ?? new Date();
    if (license.expiresAt && license.expiresAt <= end)
      return { kind: "none", why: "already expires by then" };
    return { kind: "expire", expiresAt: end };
  }
  const want = paidUntil();
  const tier = s.tier ?? license.tier;
  const longer = license.expiresAt !== null && (want === null || want > license.expiresAt);
  if (longer || tier !== license.tier) {
    return { kind: "extend", expiresAt: longer ? want : license.expiresAt, tier };
  }
  return { kind: "none", why: "nothing changes" };
}
