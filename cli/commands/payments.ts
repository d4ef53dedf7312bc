import { parseArgs } from "node:util";
import { type BillingPeriod, listProducts, mapProduct, type Provider } from "../../payments/index.ts";
import { openLicensingContext, print } from "../licensing-context.ts";
import { requireCommand, requireOptions, UsageError } from "../usage.ts";

export const usage = `  smstats payments map --provider stripe|lemonsqueezy --product PRICE_OR_VARIANT --tier T --period monthly|yearly|lifetime
  smstats payments products [--json]`;

const PROVIDERS = ["stripe", "lemonsqueezy"];
const PERIODS = ["monthly", "yearly", "lifetime"];

/** `smstats payments …`: which provider product buys which tier and period (audited). */
export async function run(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      provider: { type: "string" },
      product: { type: "string" },
      tier: { type: "string" },
      period: { type: "string" },
      as: { type: "string" },
      json: { type: "boolean", default: false },
    },
    strict: true,
  });
  requireCommand("payments", command, ["map", "products"]);
  if (command === "map") {
    requireOptions(values, ["provider", "product", "tier", "period"], "payments map");
    if (!PROVIDERS.includes(values.provider ?? ""))
      throw new UsageError(`--provider is one of ${PROVIDERS.join(", ")}`);
    if (!PERIODS.includes(values.period ?? ""))
      throw new UsageError(`--period is one of ${PERIODS.join(", ")}`);
  }
  const ctx = await openLicensingContext(values.as);
  try {
    if (command === "map") {
      await mapProduct(ctx.pool, ctx.actor, {
        provider: values.provider as Provider,
        product_ref: values.product as string,
        tier: values.tier as string,
        billing_period: values.period as BillingPeriod,
      });
      console.log(`${values.provider} ${values.product} → ${values.tier} (${values.period})`);
    } else {
      const rows = await listProducts(ctx.pool);
      if (values.json) print(rows, true);
      else
        for (const r of rows)
          console.log(`${r.provider.padEnd(13)} ${r.product_ref.padEnd(32)} ${r.tier} (${r.billing_period})`);
    }
  } finally {
    await ctx.close();
  }
}
