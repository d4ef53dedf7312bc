import { UsageError } from "./usage.ts";

// smstats: the operator's command line. Each area is a module in ./commands exporting `usage` and
// `run(argv)`; add an area by adding a module and a line below.
const AREAS: Record<string, () => Promise<{ usage: string; run(argv: string[]): Promise<void> }>> = {
  dlq: () => import("./commands/dlq.ts"),
  license: () => import("./commands/license.ts"),
  instance: () => import("./commands/instance.ts"),
  admin: () => import("./commands/admin.ts"),
  retention: () => import("./commands/retention.ts"),
  demo: () => import("./commands/demo.ts"),
  webhooks: () => import("./commands/webhooks.ts"),
  digest: () => import("./commands/digest.ts"),
  payments: () => import("./commands/payments.ts"),
};

async function usage(): Promise<string> {
  const parts = await Promise.all(Object.values(AREAS).map(async (load) => (await load()).usage));
  return `usage:\n${parts.join("\n")}`;
}

const [area, ...rest] = process.argv.slice(2);
const load = area ? AREAS[area] : undefined;
if (!load) {
  console.error(await usage());
  process.exit(2);
}
try {
  await (await load()).run(rest);
} catch (err) {
  if (err instanceof UsageError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
    console.error(err instanceof UsageError ? `usage:\n${err.message}` : (err as Error).message);
    process.exit(2);
  }
  throw err;
}
