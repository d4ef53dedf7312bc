import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connectNats, createClickHouseClient } from "../lib/clients/index.ts";
import { loadConfig } from "../lib/config/index.ts";
import { createHttpServer, errorHandler, gracefulClose, health, metricsPlugin } from "../lib/http/index.ts";
import { reconcileTelemetryStream } from "../lib/jetstream/index.ts";
import { createLogger } from "../lib/log/index.ts";
import { createRegistry } from "../lib/metrics/index.ts";
import { SchemaRegistry } from "../schemas/index.ts";
import { startTopology } from "./topology.ts";

// The processor process: consumes telemetry from JetStream into ClickHouse, serves /health and
// /metrics, and on SIGINT/SIGTERM finishes the batches in hand (insert + ack) before exiting.
const config = loadConfig();
const log = createLogger("processor", config.logLevel);
const metrics = createRegistry("processor");
const nats = await connectNats(config.nats.servers, "smstats-processor", log);
const jsm = await jetstreamManager(nats.nc);
await reconcileTelemetryStream(jsm, config, log);
const clickhouse = createClickHouseClient(config.clickhouse);

const http = createHttpServer(log);
await http.register(errorHandler, { retryAfterSeconds: 5 });
await http.register(metricsPlugin, { registry: metrics });
await http.register(health, {
  retryAfterSeconds: 5,
  checks: {
    nats: {
      path: "/health/nats",
      required: true,
      run: async () => {
        if (!nats.connected()) throw new Error("not connected");
        await jsm.consumers.info(config.nats.stream, config.nats.consumer);
      },
    },
    clickhouse: {
      path: "/health/clickhouse",
      required: true,
      run: async () => {
        const r = await clickhouse.ping();
        if (!r.success) throw r.error;
      },
    },
  },
});
const address = await http.listen({ host: config.processor.host, port: config.processor.port });

const topology = await startTopology({
  config,
  log,
  metrics,
  js: jetstream(nats.nc),
  clickhouse,
  schemas: new SchemaRegistry(),
});
log.info({ address, workers: config.processor.workers }, "processor running");

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
  await topology.stop();
  await gracefulClose(http);
  await nats.nc.drain();
  await clickhouse.close();
  log.info("processor stopped");
  process.exit(0);
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
