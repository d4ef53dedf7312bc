import { parseArgs } from "node:util";
import Fastify from "fastify";

// The baseline validate is measured against: Fastify with its default JSON parser and one route that
// echoes the nonce in a VALID answer — no authentication, no cache, no signatures, no lease.
// Usage: bare-validate-server.ts --port <n>

const { values } = parseArgs({ options: { port: { type: "string" } } });
const port = Number(values.port);
if (!Number.isInteger(port) || port <= 0 || port > 65_535) {
  console.error("bare-validate-server: --port <1-65535> is required");
  process.exit(2);
}

const app = Fastify({ logger: false });
app.post<{ Body: { nonce?: string } }>("/v1/auth/validate", async (request) => ({
  valid: true,
  reason: "VALID",
  tier: "venue",
  nonce: request.body.nonce ?? null,
}));
await app.listen({ host: "127.0.0.1", port });

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => void app.close().then(() => process.exit(0)));
}
