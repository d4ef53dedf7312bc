import { parseArgs } from "node:util";
import Fastify from "fastify";

// The baseline the ingest is measured against: Fastify with its default JSON parser and one route that
// answers how many metrics the batch held — no auth, no validation, no pipeline. Runs in its own process
// so the load generator never shares its event loop. Usage: bare-server.ts --port <n>

const { values } = parseArgs({ options: { port: { type: "string" } } });
const port = Number(values.port);
if (!Number.isInteger(port) || port <= 0 || port > 65_535) {
  console.error("bare-server: --port <1-65535> is required");
  process.exit(2);
}

const app = Fastify({ logger: false });
app.post<{ Body: { metrics?: unknown[] } }>("/v1/stats/batch", async (request, reply) =>
  reply.code(202).send({ accepted: request.body.metrics?.length ?? 0 }),
);
await app.listen({ host: "127.0.0.1", port });

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => void app.close().then(() => process.exit(0)));
}
