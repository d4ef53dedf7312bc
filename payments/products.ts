import type pg from "pg";
import { type Actor, LicensingError, withTransaction, writeAudit } from "../licensing/index.ts";
import type { BillingPeriod } from "./decide.ts";
import type { Provider } from "./payment-event.ts";

/** One mapping row: a provider's product (Stripe price, Lemon Squeezy variant) → tier and billing period. */
export interface ProductMapping {
  provider: Provider;
  product_ref: string;
  tier: string;
  billing_period: BillingPeriod;
}

/** Maps (or re-maps) a provider product to a tier and period; the tier must exist in tier_policies. Audited. */
export async function mapProduct(pool: pg.Pool, actor: Actor, m: ProductMapping): Promise<void> {
  await withTransaction(pool, async (c) => {
    const tier = await c.query("SELECT 1 FROM tier_policies WHERE tier = $1", [m.tier]);
    if (!tier.rows[0]) throw new LicensingError("TIER_UNKNOWN", `unknown tier ${m.tier}`);
    const before = await c.query(
      "SELECT tier, billing_period FROM payment_products WHERE provider = $1 AND product_ref = $2",
      [m.provider, m.product_ref],
    );
    await c.query(
      `INSERT INTO payment_products (provider, product_ref, tier, billing_period) VALUES ($1, $2, $3, $4)
       ON CONFLICT (provider, product_ref) DO UPDATE SET tier = EXCLUDED.tier, billing_period = EXCLUDED.billing_period`,
      [m.provider, m.product_ref, m.tier, m.billing_period],
    );
    await writeAudit(
      c,
      actor,
      "payment_product.map",
      { type: "payment_product", id: `${m.provider}:${m.product_ref}` },
      {
        from: before.rows[0] ?? null,
        to: { tier: m.tier, billing_period: m.billing_period },
      },
    );
  });
}

/** Every mapping, by provider and product. */
export async function listProducts(db: pg.Pool): Promise<ProductMapping[]> {
  const { rows } = await db.query(
    "SELECT provider, product_ref, tier, billing_period FROM payment_products ORDER BY provider, product_ref",
  );
  return rows;
}
