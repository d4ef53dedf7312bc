import { loadConfig } from "../lib/config/index.ts";
import {
  clickhouseCheck,
  createHttpServer,
  errorHandler,
  gracefulClose,
  health,
  metricsPlugin,
  natsCheck,
  postgresCheck,
} from "../lib/http/index.ts";
import { createLogger } from "../lib/log/index.ts";
import { createRegistry } from "../lib/metrics/index.ts";
import { SchemaRegistry } from "../schemas/index.ts";
import { createProcessorDeps } from "./deps.ts";
import { scheduleRetention } from "./retention/schedule.ts";
import { streamGauges } from "./stream-gauges.ts";
import { startTopology } from "./topology.ts";

// The processor process: consumes telemetry from JetStream into ClickHouse, serves /health and
// /metrics, and on SIGINT/SIGTERM finishes the batches in hand (insert + ack) before exiting.
const config = loadConfig();
const log = createLogger("processor", config.logLevel);
const metrics = createRegistry("processor");
const deps = await createProcessorDeps(config, log);

const http = createHttpServer(log);
await http.register(errorHandler, { retryAfterSeconds: 5 });
await http.register(metricsPlugin, { registry: metrics });
await http.register(health, {
  retryAfterSeconds: 5,
  checks: {
    nats: natsCheck(deps.nats, () => deps.jsm.consumers.info(config.nats.stream, config.nats.consumer)),
    clickhouse: clickhouseCheck(deps.clickhouseClient, true),
    postgres: postgresCheck(deps.pg),
    consumer: {
      path: "/health/consumer",
      required: true,
      run: async () => {
        if (topologyStalled()) throw new Error("consumer stalled: messages waiting and no progress");
      },
    },
  },
});
// The topology starts after the health server, so its watchdog's verdict is read through this.
let topologyStalled = () => false;
const address = await http.listen({ host: config.processor.host, port: config.processor.port });

streamGauges(metrics, deps.jsm, config.nats);
const topology = await startTopology({ ...deps, config, log, metrics, schemas: new SchemaRegistry() });
topologyStalled = topology.stalled;
const retention = scheduleRetention({
  ch: deps.clickhouse,
  pg: deps.pg,
  retention: config.retention,
  log,
  metrics,
});
log.info({ address, workers: config.processor.workers, format: topology.format }, "processor running");

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, "processor stopping");
  const force = setTimeout(() => {
    log.error("processor did not stop within 30 s; exiting");
    process.exit(1);
  }, 30_000);
  force.unref();
  await Promise.all([topology.stop(), retention.stop()]);
  await gracefulClose(http);
  await deps.close();
  log.info("processor stopped");
  process.exit(0);
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
