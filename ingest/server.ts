import { loadConfig } from "../lib/config/index.ts";
import { type Acceptors, addAcceptors, gracefulClose } from "../lib/http/index.ts";
import { createLogger } from "../lib/log/index.ts";
import { buildApp } from "./app.ts";
import { createIngestDeps } from "./deps.ts";
import { buildMetricsApp } from "./metrics-listener.ts";
import { runPrimary, runsAsPrimary } from "./processes.ts";

// The ingest process: builds the app, listens, and on SIGINT/SIGTERM stops taking requests, lets the
// ones in flight finish (their publishes included), then closes its connections.
// With SMSTATS_INGEST_PROCESSES > 1 (or a semi-space size) this process only forks the workers that
// serve, each running the rest of this file (see processes.ts).
const config = loadConfig();
const log = createLogger("ingest", config.logLevel);
if (runsAsPrimary(config)) {
  runPrimary(config, log);
} else {
  await serve();
}

async function serve() {
  const deps = await createIngestDeps(config, log);
  const app = await buildApp(config, deps);
  // /metrics on its own listener (loopback by default), never on the API's. With several processes the
  // workers share it as they share the API port: a scrape reads the worker the kernel hands it to.
  const metricsApp = await buildMetricsApp(config, deps);
  const metricsAddress = await metricsApp.listen({ ...config.ingest.metrics });
  let acceptors: Acceptors | undefined;
  let stopping = false;
  async function shutdown(signal: string) {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "ingest stopping");
    const force = setTimeout(() => {
      log.error("ingest did not stop within 20 s; exiting");
      process.exit(1);
    }, 20_000);
    force.unref();
    acceptors?.close();
    await gracefulClose(app);
    await metricsApp.close();
    await deps.close();
    log.info("ingest stopped");
    process.exit(0);
  }
  // Before listening: a signal that comes while the port is open (readiness answers from then on) is a
  // clean stop, whatever is still starting.
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));

  const address = await app.listen({ host: config.ingest.host, port: config.ingest.port });
  try {
    acceptors = await addAcceptors(app.server, config.ingest.acceptors);
  } catch (err) {
    // Serving goes on with the server's own handle (one accept per event-loop iteration).
    log.warn({ err }, "ingest could not add accepting handles; accepting on one");
  }
  if (stopping) acceptors?.close();
  log.info(
    { address, metricsAddress, https: config.ingest.tls !== undefined, acceptors: acceptors?.count ?? 1 },
    "ingest listening",
  );
}
