import { describe, expect, it } from "vitest";
import {
  addPeriod,
  decideLicenseChange,
  mergeEvent,
  newSubscriptionState,
  type PaymentEvent,
} from "../../payments/index.ts";

const DAY = 86_400_000;
const t = (days: number) => new Date(Date.UTC(2026, 0, 1) + days * DAY);
const ev = (
  kind: PaymentEvent["kind"],
  created: number,
  extra: Partial<PaymentEvent> = {},
): PaymentEvent => ({
  provider: "lemonsqueezy",
  eventId: `e${created}${kind}`,
  type: kind,
  created: t(created),
  kind,
  subscriptionRef: "1",
  refs: [],
  ...extra,
});
const monthly = { tier: "party_host", billingPeriod: "monthly" as const };

describe("payment decisions", () => {
  it("a payment without a period end pays one billing period from its time", () => {
    const s = mergeEvent(
      { ...newSubscriptionState(), billingPeriod: "monthly", tier: "party_host" },
      ev("renew", 40),
      undefined,
    );
    expect(s.periodEnd).toEqual(addPeriod(t(40), "monthly"));
  });

  it("issues once buyer, tier and period are known, expiring at period end plus grace", () => {
    const waiting = mergeEvent(newSubscriptionState(), ev("start", 0), monthly);
    expect(decideLicenseChange(waiting, null, 3)).toMatchObject({
      kind: "none",
      why: "waiting for buyer or product",
    });
    const ready = mergeEvent(
      waiting,
      ev("renew", 1, { email: "a@example.com", periodEnd: t(31) }),
      undefined,
    );
    expect(decideLicenseChange(ready, null, 3)).toEqual({
      kind: "issue",
      tier: "party_host",
      email: "a@example.com",
      expiresAt: t(34),
      billingPeriod: "monthly",
    });
  });

  it("never shortens a live license, follows a tier change, and a lifetime license never expires", () => {
    const s = {
      ...newSubscriptionState(),
      status: "active" as const,
      statusAt: t(0),
      tier: "venue",
      billingPeriod: "monthly" as const,
      periodEnd: t(30),
    };
    expect(decideLicenseChange(s, { tier: "venue", expiresAt: t(60), revoked: false }, 3).kind).toBe("none");
    expect(decideLicenseChange(s, { tier: "party_host", expiresAt: t(60), revoked: false }, 3)).toEqual({
      kind: "extend",
      expiresAt: t(60),
      tier: "venue",
    });
    const life = { ...s, billingPeriod: "lifetime" as const };
    expect(decideLicenseChange(life, { tier: "venue", expiresAt: t(60), revoked: false }, 3)).toMatchObject({
      kind: "extend",
      expiresAt: null,
    });
  });

  it("an end applies only when newer than the last status; a revocation is final", () => {
    const active = mergeEvent(newSubscriptionState(), ev("renew", 10, { periodEnd: t(40) }), monthly);
    expect(mergeEvent(active, ev("end", 5), undefined).status).toBe("active");
    const ended = mergeEvent(active, ev("end", 12, { endsAt: t(20) }), undefined);
    expect([ended.status, ended.endsAt]).toEqual(["ended", t(20)]);
    expect(decideLicenseChange(ended, { tier: "party_host", expiresAt: t(43), revoked: false }, 3)).toEqual({
      kind: "expire",
      expiresAt: t(20),
    });
    const revoked = mergeEvent(ended, ev("revoke", 1), undefined);
    expect(mergeEvent(revoked, ev("renew", 90, { periodEnd: t(120) }), undefined).status).toBe("revoked");
    expect(
      decideLicenseChange(revoked, { tier: "party_host", expiresAt: t(20), revoked: false }, 3, "dispute"),
    ).toEqual({
      kind: "revoke",
      reason: "dispute",
    });
    expect(decideLicenseChange(revoked, null, 3).kind).toBe("none");
  });
});
