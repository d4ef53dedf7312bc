import type pg from "pg";
import { Counter, type Registry } from "prom-client";
import type { Logger } from "../lib/log/index.ts";
import {
  type Actor,
  issueLicenseIn,
  type PiiVault,
  revokeLicenseIn,
  type SeatCache,
  withTransaction,
  writeAudit,
} from "../licensing/index.ts";
import { type Mail, type Mailer, newKeyMail, revokedMail } from "../mail/index.ts";
import { enqueueWebhookEvent } from "../webhooks/index.ts";
import {
  type BillingPeriod,
  decideLicenseChange,
  type LicenseChange,
  type LicenseFacts,
  mergeEvent,
  newSubscriptionState,
  type SubscriptionState,
} from "./decide.ts";
import type { PaymentEvent } from "./payment-event.ts";

/** What applying payment events needs. */
export interface PaymentDeps {
  pool: pg.Pool;
  cache: SeatCache;
  /** Buyers' emails are kept sealed, with their blind index. */
  vault: PiiVault;
  mailer: Mailer;
  graceDays: number;
  log: Logger;
  metrics?: Registry;
}

/** The result of one event: what was done, and whether it had been processed before. */
export interface PaymentOutcome {
  duplicate: boolean;
  outcome: string;
  licenseId?: string;
}

/** Applies provider events to licenses; counts every event by provider and outcome. */
export interface PaymentProcessor {
  apply(ev: PaymentEvent): Promise<PaymentOutcome>;
}

// Finds the subscription a refund or dispute is about: an earlier event naming the same invoice, charge,
// payment intent or order, else the order, else the customer's latest subscription.
async function resolveSubscription(c: pg.ClientBase, ev: PaymentEvent): Promise<string | undefined> {
  if (ev.subscriptionRef) return ev.subscriptionRef;
  if (ev.refs.length > 0) {
    const { rows } = await c.query(
      `SELECT subscription_ref FROM payment_events WHERE provider = $1 AND refs && $2 AND subscription_ref IS NOT NULL
       ORDER BY event_created DESC LIMIT 1`,
      [ev.provider, ev.refs],
    );
    if (rows[0]) return rows[0].subscription_ref;
  }
  const { rows } = await c.query(
    `SELECT subscription_ref FROM payment_subscriptions
     WHERE provider = $1 AND (order_ref = $2 OR ($2 IS NULL AND customer_ref = $3))
     ORDER BY updated_at DESC LIMIT 1`,
    [ev.provider, ev.orderRef ?? null, ev.customerRef ?? null],
  );
  return rows[0]?.subscription_ref;
}

async function loadState(
  c: pg.ClientBase,
  vault: PiiVault,
  provider: string,
  ref: string,
): Promise<SubscriptionState> {
  await c.query(
    "INSERT INTO payment_subscriptions (provider, subscription_ref) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    [provider, ref],
  );
  const r = (
    await c.query(
      `SELECT email_sealed, customer_ref, order_ref, tier, billing_period, period_end, status,
         CASE WHEN status_at = '-infinity' THEN NULL ELSE status_at END AS status_at, ends_at, license_id
       FROM payment_subscriptions WHERE provider = $1 AND subscription_ref = $2 FOR UPDATE`,
      [provider, ref],
    )
  ).rows[0];
  return {
    ...newSubscriptionState(),
    email: vault.openEmail(r.email_sealed),
    customerRef: r.customer_ref,
    orderRef: r.order_ref,
    tier: r.tier,
    billingPeriod: r.billing_period,
    periodEnd: r.period_end,
    status: r.status,
    statusAt: r.status_at,
    endsAt: r.ends_at,
    licenseId: r.license_id,
  };
}

async function saveState(
  c: pg.ClientBase,
  vault: PiiVault,
  provider: string,
  ref: string,
  s: SubscriptionState,
) {
  await c.query(
    `UPDATE payment_subscriptions SET email_sealed = $3, email_index = $13, customer_ref = $4, order_ref = $5, tier = $6, billing_period = $7,
       period_end = $8, status = $9, status_at = COALESCE($10, '-infinity'::timestamptz), ends_at = $11,
       license_id = $12, updated_at = now()
     WHERE provider = $1 AND subscription_ref = $2`,
    [
      provider,
      ref,
      s.email ? vault.sealEmail(s.email) : null,
      s.customerRef,
      s.orderRef,
      s.tier,
      s.billingPeriod,
      s.periodEnd,
      s.status,
      s.statusAt,
      s.endsAt,
      s.licenseId,
      s.email ? vault.emailIndex(s.email) : null,
    ],
  );
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** A processor over the licensing store; the provider is the audit actor of every change. */
export function createPaymentProcessor(deps: PaymentDeps): PaymentProcessor {
  const events = new Counter({
    name: "smstats_payment_events_total",
    help: "Payment provider events by provider and outcome (issued, renewed, expired, revoked, duplicate, ignored, …).",
    labelNames: ["provider", "outcome"],
    registers: deps.metrics ? [deps.metrics] : [],
  });

  // Carries out one license change inside the event's transaction; returns mails to send after commit.
  async function change(
    c: pg.ClientBase,
    actor: Actor,
    ev: PaymentEvent,
    s: SubscriptionState,
    ch: LicenseChange,
    mails: { template: string; mail: Mail }[],
    touched: string[],
  ): Promise<string> {
    const source = { provider: ev.provider, event_id: ev.eventId, event_type: ev.type };
    switch (ch.kind) {
      case "issue": {
        const { license, key } = await issueLicenseIn(c, deps.vault, actor, {
          tier: ch.tier,
          ownerEmail: ch.email,
          expiresAt: ch.expiresAt,
          billingPeriod: ch.billingPeriod,
          notes: `${ev.provider} ${ev.subscriptionRef ?? "purchase"}`,
        });
        s.licenseId = license.id;
        mails.push({
          template: "new_key",
          mail: newKeyMail({ to: ch.email, key, tier: ch.tier, expiresAt: ch.expiresAt }),
        });
        return "issued";
      }
      case "extend":
      case "expire": {
        const id = s.licenseId as string;
        const before = (await c.query("SELECT tier, expires_at FROM licenses WHERE id = $1", [id])).rows[0];
        await c.query("UPDATE licenses SET expires_at = $2, tier = COALESCE($3, tier) WHERE id = $1", [
          id,
          ch.expiresAt,
          ch.kind === "extend" ? ch.tier : null,
        ]);
        const action = ch.kind === "extend" ? "license.renew" : "license.expire";
        await writeAudit(
          c,
          actor,
          action,
          { type: "license", id },
          {
            expires_at: { from: iso(before.expires_at), to: iso(ch.expiresAt) },
            ...(ch.kind === "extend" && ch.tier !== before.tier
              ? { tier: { from: before.tier, to: ch.tier } }
              : {}),
            ...source,
          },
        );
        const seats = await c.query(
          "SELECT DISTINCT instance_id FROM license_activations WHERE license_id = $1",
          [id],
        );
        touched.push(...seats.rows.map((r) => r.instance_id as string));
        await enqueueWebhookEvent(c, ch.kind === "extend" ? "license.renewed" : "license.expired", {
          license_id: id,
          expires_at: iso(ch.expiresAt),
          source,
        });
        return ch.kind === "extend" ? "renewed" : "expired";
      }
      case "revoke": {
        const { license, instances } = await revokeLicenseIn(
          c,
          deps.vault,
          actor,
          s.licenseId as string,
          `${ev.provider} ${ch.reason}`,
        );
        touched.push(...instances);
        // An erased owner has no email left: nothing to tell.
        if (license.owner_email)
          mails.push({
            template: "revoked",
            mail: revokedMail({
              to: license.owner_email,
              keyHint: license.key_hint,
              tier: license.tier,
              reason: ch.reason,
            }),
          });
        return "revoked";
      }
      case "none":
        return `unchanged`;
    }
  }

  async function apply(ev: PaymentEvent): Promise<PaymentOutcome> {
    const actor: Actor = { name: `payments:${ev.provider}`, source: "api" };
    const mails: { template: string; mail: Mail }[] = [];
    const touched: string[] = [];
    const result = await withTransaction(deps.pool, async (c): Promise<PaymentOutcome> => {
      const ref = await resolveSubscription(c, ev);
      const fresh = await c.query(
        `INSERT INTO payment_events (provider, event_id, event_type, event_created, subscription_ref, refs, outcome)
         VALUES ($1, $2, $3, $4, $5, $6, 'pending') ON CONFLICT DO NOTHING RETURNING event_id`,
        [ev.provider, ev.eventId, ev.type, ev.created, ref ?? null, ev.refs],
      );
      if (fresh.rowCount === 0) return { duplicate: true, outcome: "duplicate" };
      let outcome: string;
      let licenseId: string | undefined;
      if (ev.kind === "ignore") outcome = "ignored";
      else if (!ref) outcome = "unmatched";
      else {
        const product = ev.productRef
          ? (
              await c.query(
                "SELECT tier, billing_period FROM payment_products WHERE provider = $1 AND product_ref = $2",
                [ev.provider, ev.productRef],
              )
            ).rows[0]
          : undefined;
        const s = mergeEvent(
          await loadState(c, deps.vault, ev.provider, ref),
          ev,
          product && { tier: product.tier, billingPeriod: product.billing_period as BillingPeriod },
        );
        const lic = s.licenseId
          ? (
              await c.query(
                "SELECT tier, expires_at, COALESCE(is_revoked, false) AS revoked FROM licenses WHERE id = $1 FOR UPDATE",
                [s.licenseId],
              )
            ).rows[0]
          : undefined;
        const facts: LicenseFacts | null = lic
          ? { tier: lic.tier, expiresAt: lic.expires_at, revoked: lic.revoked }
          : null;
        const decided = decideLicenseChange(s, facts, deps.graceDays, ev.reason);
        outcome = await change(c, actor, ev, s, decided, mails, touched);
        if (ev.productRef && !product) outcome = "unknown_product";
        if (ev.kind === "payment_failed" && s.licenseId) {
          await writeAudit(
            c,
            actor,
            "license.payment_failed",
            { type: "license", id: s.licenseId },
            {
              event_id: ev.eventId,
              lapses_at: iso(
                s.periodEnd ? new Date(s.periodEnd.getTime() + deps.graceDays * 86_400_000) : null,
              ),
            },
          );
          outcome = "payment_failed";
        }
        await saveState(c, deps.vault, ev.provider, ref, s);
        licenseId = s.licenseId ?? undefined;
      }
      await c.query("UPDATE payment_events SET outcome = $3 WHERE provider = $1 AND event_id = $2", [
        ev.provider,
        ev.eventId,
        outcome,
      ]);
      return { duplicate: false, outcome, licenseId };
    });
    events.inc({ provider: ev.provider, outcome: result.outcome });
    if (touched.length > 0) await deps.cache.invalidate([...new Set(touched)]);
    for (const { template, mail } of mails) {
      // The change is committed; a mail that fails is logged and counted (smstats_mail_total) for follow-up.
      await deps.mailer
        .send(template, mail)
        .catch((err) => deps.log.error({ err, licenseId: result.licenseId }, "payment mail failed"));
    }
    return result;
  }
  return { apply };
}
