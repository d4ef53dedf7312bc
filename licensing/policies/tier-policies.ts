import type pg from "pg";

/** A tier's features and limits, as the tier_policies table holds them. */
export interface TierPolicy {
  tier: string;
  displayName: string;
  keyLabel: string;
  rank: number;
  priceMonthlyCents: number | null;
  priceYearlyCents: number | null;
  features: string[];
  limits: Record<string, number | null>;
  support: string;
  enforcement: "strict" | "graceful";
  offlineGraceSeconds: number;
  maxInstances: number;
  transfersPer30Days: number;
}

/** The tier every instance falls back to: no license, an expired one, or none activated. */
export const FREE_TIER = "starter";

/** Reads every tier policy. */
async function readTierPolicies(db: pg.Pool | pg.ClientBase): Promise<Map<string, TierPolicy>> {
  const { rows } = await db.query(
    `SELECT tier, display_name, key_label, rank, price_monthly_cents, price_yearly_cents, features, limits,
       support, enforcement, offline_grace_seconds, max_instances, transfers_per_30_days
     FROM tier_policies ORDER BY rank`,
  );
  return new Map(
    rows.map((r) => [
      r.tier,
      Object.freeze({
        tier: r.tier,
        displayName: r.display_name,
        keyLabel: r.key_label,
        rank: r.rank,
        priceMonthlyCents: r.price_monthly_cents,
        priceYearlyCents: r.price_yearly_cents,
        features: r.features,
        limits: r.limits,
        support: r.support,
        enforcement: r.enforcement,
        offlineGraceSeconds: r.offline_grace_seconds,
        maxInstances: r.max_instances,
        transfersPer30Days: r.transfers_per_30_days,
      }) as TierPolicy,
    ]),
  );
}

/** Tier policies read through a short in-process cache (they change a few times a year). */
export interface PolicyBook {
  get(tier: string): Promise<TierPolicy>;
  all(): Promise<Map<string, TierPolicy>>;
  /** Forgets the cached policies (after an admin changed one). */
  reset(): void;
}

/** A policy book over a pool; policies are re-read after ttlMs. */
export function createPolicyBook(pool: pg.Pool, ttlMs = 30_000): PolicyBook {
  let cached: { at: number; value: Promise<Map<string, TierPolicy>> } | undefined;
  const all = () => {
    if (!cached || Date.now() - cached.at > ttlMs) {
      const value = readTierPolicies(pool);
      value.catch(() => {
        cached = undefined;
      });
      cached = { at: Date.now(), value };
    }
    return cached.value;
  };
  return {
    all,
    async get(tier) {
      const map = await all();
      const policy = map.get(tier) ?? map.get(FREE_TIER);
      if (!policy) throw new Error(`no tier policy for ${tier} and none for ${FREE_TIER}`);
      return policy;
    },
    reset() {
      cached = undefined;
    },
  };
}
