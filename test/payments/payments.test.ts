import { execFile } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../../lib/config/index.ts";
import { createLogger } from "../../lib/log/index.ts";
import { hashLicenseKey } from "../../licensing/index.ts";
import { type SmtpSink, startSmtpSink } from "../../mail/smtp-sink.ts";
import { mapProduct, sendExpiryNotices } from "../../payments/index.ts";
import { machine } from "../licensing/license-client.ts";
import { type LicensingHarness, licensingHarness } from "../licensing/licensing-app.ts";
import { scrapeMetrics } from "../support/app.ts";
import { registerInstance } from "../support/instance-client.ts";

const STRIPE_SECRET = `whsec_${randomBytes(24).toString("base64")}`;
const LS_SECRET = randomBytes(16).toString("hex");
const GRACE_DAYS = 3;
const DAY = 86_400_000;
const stripe = new Stripe("sk_test_helpers_only");
const rand = () => randomBytes(6).toString("hex");
const KEY_RE = /SM-[A-Z]+-\d{8}-[0-9A-Z]{20}/;

let h: LicensingHarness;
let sink: SmtpSink;
const run = rand();
const PRICE_MONTHLY = `price_m_${run}`;
const PRICE_YEARLY = `price_y_${run}`;
const LS_VARIANT = `${Date.now()}`;

beforeAll(async () => {
  sink = await startSmtpSink();
  h = await licensingHarness({
    SMSTATS_SMTP_URL: sink.url,
    SMSTATS_STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
    SMSTATS_LEMONSQUEEZY_WEBHOOK_SECRET: LS_SECRET,
    SMSTATS_PAYMENTS_GRACE_DAYS: String(GRACE_DAYS),
  });
  const actor = { name: "test", source: "cli" as const };
  await mapProduct(h.deps.pg, actor, {
    provider: "stripe",
    product_ref: PRICE_MONTHLY,
    tier: "venue",
    billing_period: "monthly",
  });
  await mapProduct(h.deps.pg, actor, {
    provider: "stripe",
    product_ref: PRICE_YEARLY,
    tier: "party_host",
    billing_period: "yearly",
  });
  await mapProduct(h.deps.pg, actor, {
    provider: "lemonsqueezy",
    product_ref: LS_VARIANT,
    tier: "party_host",
    billing_period: "monthly",
  });
});
afterAll(async () => {
  await h?.close();
  await sink?.close();
});

const secs = (d: Date | number) => Math.floor(new Date(d).getTime() / 1000);

function stripeEvent(type: string, object: Record<string, unknown>, created = new Date()) {
  return {
    id: `evt_${rand()}`,
    object: "event",
    api_version: "2025-01-27",
    created: secs(created),
    livemode: false,
    type,
    data: { object },
  };
}

async function postStripe(event: unknown, opts: { secret?: string; timestamp?: number } = {}) {
  const payload = JSON.stringify(event);
  const header = stripe.webhooks.generateTestHeaderString({
    payload,
    secret: opts.secret ?? STRIPE_SECRET,
    timestamp: opts.timestamp,
  });
  return h.app.inject({
    method: "POST",
    url: "/v1/webhooks/stripe",
    headers: { "stripe-signature": header, "content-type": "application/json" },
    payload,
  });
}

async function postLemon(body: unknown, secret = LS_SECRET) {
  const payload = JSON.stringify(body);
  return h.app.inject({
    method: "POST",
    url: "/v1/webhooks/lemonsqueezy",
    headers: {
      "x-signature": createHmac("sha256", secret).update(payload).digest("hex"),
      "x-event-name": (body as { meta: { event_name: string } }).meta.event_name,
      "content-type": "application/json",
    },
    payload,
  });
}

const licensesOf = async (email: string) =>
  (
    await h.deps.pg.query(
      "SELECT id, license_key, tier, expires_at, COALESCE(is_revoked, false) AS revoked, billing_period FROM licenses WHERE owner_email_index = $1",
      [h.deps.vault.emailIndex(email)],
    )
  ).rows;

const mailsTo = (email: string) => sink.messages.filter((m) => m.to && JSON.stringify(m.to).includes(email));

// A checkout of a subscription (Stripe Checkout, price in the session's metadata).
function checkout(sub: string, email: string, price = PRICE_MONTHLY, created = new Date()) {
  return stripeEvent(
    "checkout.session.completed",
    {
      id: `cs_${rand()}`,
      object: "checkout.session",
      mode: "subscription",
      subscription: sub,
      customer: `cus_${sub}`,
      customer_details: { email },
      metadata: { price_id: price },
      payment_intent: null,
      invoice: `in_first_${sub}`,
    },
    created,
  );
}

function invoicePaid(
  sub: string,
  email: string,
  periodEnd: Date,
  created = new Date(),
  invoice = `in_${rand()}`,
) {
  return stripeEvent(
    "invoice.paid",
    {
      id: invoice,
      object: "invoice",
      subscription: sub,
      customer: `cus_${sub}`,
      customer_email: email,
      charge: `ch_${invoice}`,
      lines: {
        data: [{ price: { id: PRICE_MONTHLY }, period: { start: secs(created), end: secs(periodEnd) } }],
      },
    },
    created,
  );
}

describe("Stripe webhooks", () => {
  it("a checkout issues exactly one license and mails its key once; the same event again does nothing more", async () => {
    const email = `buyer-${rand()}@example.com`;
    const sub = `sub_${rand()}`;
    const event = checkout(sub, email);
    const first = await postStripe(event);
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toMatchObject({ duplicate: false, outcome: "issued" });
    const mail = await sink.waitFor((m) => JSON.stringify(m.to).includes(email));
    const key = mail.text?.match(KEY_RE)?.[0] as string;
    expect(key).toBeDefined();
    expect(mail.html).toContain(key);
    const [license, ...more] = await licensesOf(email);
    expect(more).toHaveLength(0);
    expect(license.license_key).toBe(hashLicenseKey(key));
    expect(license.tier).toBe("venue");
    // One month from the checkout plus the grace period.
    const want = new Date(event.created * 1000);
    want.setUTCMonth(want.getUTCMonth() + 1);
    expect(license.expires_at.getTime()).toBe(want.getTime() + GRACE_DAYS * DAY);
    const audit = await h.deps.pg.query("SELECT actor, action FROM audit_log WHERE target_id = $1", [
      license.id,
    ]);
    expect(audit.rows).toEqual([{ actor: "payments:stripe", action: "license.issue" }]);

    const again = await postStripe(event);
    expect(again.json()).toMatchObject({ duplicate: true });
    await new Promise((r) => setTimeout(r, 300));
    expect(await licensesOf(email)).toHaveLength(1);
    expect(mailsTo(email)).toHaveLength(1);
  });

  it("a renewal that arrives before its checkout ends with one license paid to the renewal's period end", async () => {
    const email = `early-${rand()}@example.com`;
    const sub = `sub_${rand()}`;
    const t0 = new Date(Date.now() - 40 * DAY);
    const renewedTo = new Date(Date.now() + 20 * DAY);
    const renewal = await postStripe(invoicePaid(sub, email, renewedTo, new Date(Date.now() - 10 * DAY)));
    expect(renewal.statusCode, renewal.body).toBe(200);
    const late = await postStripe(checkout(sub, email, PRICE_MONTHLY, t0));
    expect(late.statusCode, late.body).toBe(200);
    const licenses = await licensesOf(email);
    expect(licenses).toHaveLength(1);
    expect(licenses[0].expires_at.getTime()).toBe(secs(renewedTo) * 1000 + GRACE_DAYS * DAY);
    await sink.waitFor((m) => JSON.stringify(m.to).includes(email));
    await new Promise((r) => setTimeout(r, 300));
    expect(mailsTo(email)).toHaveLength(1);
  });

  it("a bad or stale signature is refused with 400 and changes nothing", async () => {
    const email = `forged-${rand()}@example.com`;
    const forged = await postStripe(checkout(`sub_${rand()}`, email), {
      secret: `whsec_${randomBytes(24).toString("base64")}`,
    });
    expect([forged.statusCode, forged.json().error.code]).toEqual([400, "WEBHOOK_SIGNATURE_INVALID"]);
    const stale = await postStripe(checkout(`sub_${rand()}`, email), {
      timestamp: secs(Date.now() - 6 * 60_000),
    });
    expect([stale.statusCode, stale.json().error.code]).toEqual([400, "WEBHOOK_SIGNATURE_INVALID"]);
    const tampered = checkout(`sub_${rand()}`, email);
    const payload = JSON.stringify(tampered);
    const header = stripe.webhooks.generateTestHeaderString({ payload, secret: STRIPE_SECRET });
    const res = await h.app.inject({
      method: "POST",
      url: "/v1/webhooks/stripe",
      headers: { "stripe-signature": header, "content-type": "application/json" },
      payload: payload.replace(email, `x${email}`),
    });
    expect(res.statusCode).toBe(400);
    expect(await licensesOf(email)).toHaveLength(0);
    expect(await licensesOf(`x${email}`)).toHaveLength(0);
    const events = await h.deps.pg.query(
      "SELECT count(*)::int AS n FROM payment_events WHERE event_id = $1",
      [tampered.id],
    );
    expect(events.rows[0].n).toBe(0);
  });

  it("a cancellation expires the license (its instance validates as EXPIRED); an older renewal arriving later does not revive it", async () => {
    const email = `cancel-${rand()}@example.com`;
    const sub = `sub_${rand()}`;
    await postStripe(checkout(sub, email, PRICE_MONTHLY, new Date(Date.now() - 60_000)));
    const key = (await sink.waitFor((m) => JSON.stringify(m.to).includes(email))).text?.match(
      KEY_RE,
    )?.[0] as string;
    const inst = await registerInstance(h.app);
    const fp = machine(inst.instanceId);
    expect((await h.ask(inst, "/v1/auth/activate", { license_key: key, fingerprint: fp })).reason).toBe(
      "VALID",
    );
    const cancelledAt = new Date(Date.now() - 1000);
    const cancel = await postStripe(
      stripeEvent(
        "customer.subscription.deleted",
        { id: sub, object: "subscription", status: "canceled", customer: `cus_${sub}` },
        cancelledAt,
      ),
    );
    expect(cancel.json()).toMatchObject({ outcome: "expired" });
    const [license] = await licensesOf(email);
    expect(license.expires_at.getTime()).toBe(secs(cancelledAt) * 1000);
    expect((await h.ask(inst, "/v1/auth/validate", { license_key: key, fingerprint: fp })).reason).toBe(
      "EXPIRED",
    );
    const stale = await postStripe(
      invoicePaid(sub, email, new Date(Date.now() + 30 * DAY), new Date(Date.now() - 30_000)),
    );
    expect(stale.statusCode).toBe(200);
    expect((await licensesOf(email))[0].expires_at.getTime()).toBe(secs(cancelledAt) * 1000);
    const actions = await h.deps.pg.query(
      "SELECT actor, action FROM audit_log WHERE target_id = $1 ORDER BY id",
      [license.id],
    );
    expect(actions.rows.map((r) => `${r.actor} ${r.action}`)).toContain("payments:stripe license.expire");
  });

  it("a refund revokes the license it paid for and mails the owner", async () => {
    const email = `refund-${rand()}@example.com`;
    const sub = `sub_${rand()}`;
    const invoice = `in_${rand()}`;
    await postStripe(checkout(sub, email));
    await postStripe(invoicePaid(sub, email, new Date(Date.now() + 31 * DAY), new Date(), invoice));
    const refund = await postStripe(
      stripeEvent("charge.refunded", {
        id: `ch_${invoice}`,
        object: "charge",
        invoice,
        customer: `cus_${sub}`,
        refunded: true,
      }),
    );
    expect(refund.json()).toMatchObject({ outcome: "revoked" });
    const [license] = await licensesOf(email);
    expect(license.revoked).toBe(true);
    await sink.waitFor((m) => JSON.stringify(m.to).includes(email) && /revoked/.test(m.subject ?? ""));
    const audit = await h.deps.pg.query(
      "SELECT actor FROM audit_log WHERE target_id = $1 AND action = 'license.revoke'",
      [license.id],
    );
    expect(audit.rows).toEqual([{ actor: "payments:stripe" }]);
  });
});

function lemon(event: string, type: string, id: string, attributes: Record<string, unknown>) {
  return { meta: { event_name: event, custom_data: {} }, data: { type, id, attributes } };
}

function lsSubscription(event: string, id: string, email: string, attrs: Record<string, unknown> = {}) {
  const now = new Date();
  return lemon(event, "subscriptions", id, {
    customer_id: Number(id) + 1,
    order_id: Number(id) + 2,
    variant_id: Number(LS_VARIANT),
    user_email: email,
    status: "active",
    renews_at: new Date(Date.now() + 30 * DAY).toISOString(),
    ends_at: null,
    created_at: now.toISOString(),
    updated_at: now.toISOString(),
    ...attrs,
  });
}

describe("Lemon Squeezy webhooks", () => {
  const id = () => String(Math.floor(Math.random() * 1e9));

  it("a subscription issues one license and one mail; the same delivery again does nothing more", async () => {
    const email = `ls-${rand()}@example.com`;
    const body = lsSubscription("subscription_created", id(), email);
    const first = await postLemon(body);
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toMatchObject({ duplicate: false, outcome: "issued" });
    const key = (await sink.waitFor((m) => JSON.stringify(m.to).includes(email))).text?.match(
      KEY_RE,
    )?.[0] as string;
    const [license, ...more] = await licensesOf(email);
    expect(more).toHaveLength(0);
    expect([license.tier, license.license_key]).toEqual(["party_host", hashLicenseKey(key)]);
    expect((await postLemon(body)).json()).toMatchObject({ duplicate: true });
    await new Promise((r) => setTimeout(r, 300));
    expect([(await licensesOf(email)).length, mailsTo(email).length]).toEqual([1, 1]);
    const audit = await h.deps.pg.query("SELECT actor FROM audit_log WHERE target_id = $1", [license.id]);
    expect(audit.rows).toEqual([{ actor: "payments:lemonsqueezy" }]);
  });

  it("a renewal before the subscription_created event ends with one license paid to the renewal", async () => {
    const email = `ls-early-${rand()}@example.com`;
    const sub = id();
    const renewsAt = new Date(Date.now() + 50 * DAY);
    const renewal = await postLemon(
      lsSubscription("subscription_updated", sub, email, { renews_at: renewsAt.toISOString() }),
    );
    expect(renewal.statusCode).toBe(200);
    const earlier = new Date(Date.now() - 20 * DAY).toISOString();
    await postLemon(
      lsSubscription("subscription_created", sub, email, { created_at: earlier, updated_at: earlier }),
    );
    const licenses = await licensesOf(email);
    expect(licenses).toHaveLength(1);
    expect(licenses[0].expires_at.getTime()).toBe(renewsAt.getTime() + GRACE_DAYS * DAY);
  });

  it("a bad signature is refused with 400 and changes nothing", async () => {
    const email = `ls-forged-${rand()}@example.com`;
    const res = await postLemon(lsSubscription("subscription_created", id(), email), "not-the-secret");
    expect([res.statusCode, res.json().error.code]).toEqual([400, "WEBHOOK_SIGNATURE_INVALID"]);
    expect(await licensesOf(email)).toHaveLength(0);
  });

  it("expiry ends the license; a refund of its order revokes it", async () => {
    const email = `ls-end-${rand()}@example.com`;
    const sub = id();
    await postLemon(
      lsSubscription("subscription_created", sub, email, {
        updated_at: new Date(Date.now() - 5000).toISOString(),
      }),
    );
    const endedAt = new Date(Date.now() - 1000);
    const expired = await postLemon(
      lsSubscription("subscription_expired", sub, email, {
        status: "expired",
        updated_at: endedAt.toISOString(),
      }),
    );
    expect(expired.json()).toMatchObject({ outcome: "expired" });
    expect((await licensesOf(email))[0].expires_at.getTime()).toBe(endedAt.getTime());
    const refund = await postLemon(
      lemon("order_refunded", "orders", String(Number(sub) + 2), {
        customer_id: Number(sub) + 1,
        user_email: email,
        refunded: true,
        updated_at: new Date().toISOString(),
      }),
    );
    expect(refund.json()).toMatchObject({ outcome: "revoked" });
    expect((await licensesOf(email))[0].revoked).toBe(true);
  });
});

describe("expiry notices", () => {
  it("mails the owner once when the license expires within 7 days, again only for a new expiry", async () => {
    const email = `soon-${rand()}@example.com`;
    const { license } = await h.issue("venue", { owner_email: email, days: 5 });
    const log = createLogger("notices-test", "silent");
    await sendExpiryNotices(h.deps.pg, h.deps.vault, h.deps.mailer, log);
    const mail = await sink.waitFor((m) => JSON.stringify(m.to).includes(email));
    expect(mail.subject).toMatch(/expires on \d{4}-\d{2}-\d{2}/);
    expect(mail.text).toContain(license.key_hint);
    await sendExpiryNotices(h.deps.pg, h.deps.vault, h.deps.mailer, log);
    await new Promise((r) => setTimeout(r, 300));
    expect(mailsTo(email)).toHaveLength(1);
    const far = `far-${rand()}@example.com`;
    await h.issue("venue", { owner_email: far, days: 30 });
    await sendExpiryNotices(h.deps.pg, h.deps.vault, h.deps.mailer, log);
    await new Promise((r) => setTimeout(r, 300));
    expect(mailsTo(far)).toHaveLength(0);
  });
});

describe("metrics for the SLOs and scaling alerts", () => {
  it("labels instance requests by tier (bounded) and reports PostgreSQL connections against max_connections", async () => {
    const inst = await registerInstance(h.app);
    await h.ask(inst, "/v1/auth/validate", { fingerprint: machine(inst.instanceId) });
    const text = (await scrapeMetrics(h.config, h.deps)).body;
    const tiers = new Set(
      [...text.matchAll(/smstats_http_requests_total\{[^}]*tier="([^"]+)"/g)].map((m) => m[1]),
    );
    expect(tiers.has("none")).toBe(true);
    expect(
      [...tiers].every((t) => ["none", "other", "starter", "party_host", "venue"].includes(t as string)),
    ).toBe(true);
    expect(text).toMatch(
      /smstats_http_requests_total\{route="\/v1\/auth\/validate",method="POST",status="200",tier="starter"[,}]/,
    );
    const connections = Number(/^smstats_postgres_connections(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1]);
    const max = Number(/^smstats_postgres_max_connections(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1]);
    expect(connections).toBeGreaterThan(0);
    expect(max).toBeGreaterThanOrEqual(connections);
  });
});

describe("product mapping", () => {
  it("`smstats payments map` maps a price to a tier and period (audited); an unknown tier is refused", async () => {
    const price = `price_cli_${rand()}`;
    const cli = (...args: string[]) =>
      promisify(execFile)(process.execPath, [join(repoRoot, "bin/smstats.mjs"), "payments", ...args], {
        cwd: repoRoot,
        env: process.env,
      });
    await cli("map", "--provider", "stripe", "--product", price, "--tier", "venue", "--period", "yearly");
    const { rows } = await h.deps.pg.query(
      "SELECT tier, billing_period FROM payment_products WHERE product_ref = $1",
      [price],
    );
    expect(rows).toEqual([{ tier: "venue", billing_period: "yearly" }]);
    const audit = await h.deps.pg.query("SELECT actor FROM audit_log WHERE target_id = $1", [
      `stripe:${price}`,
    ]);
    expect(audit.rows[0].actor).toMatch(/^cli:/);
    await expect(
      mapProduct(
        h.deps.pg,
        { name: "test", source: "cli" },
        { provider: "stripe", product_ref: price, tier: "gold", billing_period: "yearly" },
      ),
    ).rejects.toMatchObject({ code: "TIER_UNKNOWN" });
  });
});
