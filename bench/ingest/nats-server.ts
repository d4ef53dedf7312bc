import { mkdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { freePort } from "../../lib/net/index.ts";
import { type ChildServer, spawnServer, waitUntil } from "./servers.ts";

/** A NATS server of the benchmark's own; `url` is its nats:// address. */
export interface PrivateNats extends ChildServer {
  /** Stops the server and deletes its store. */
  remove(): Promise<void>;
}

/**
 * Starts a JetStream-enabled nats-server of the benchmark's own, the same binary as the stack's (read
 * from the running stack server's /proc entry), on a free loopback port with its store under `dir`.
 *
 * For when the stack's server has no room left for the bench stream: its JetStream store is capped at
 * 4 GB and every stream reserves its max_bytes there, so once the others reserve it all it refuses any
 * further file stream ("insufficient storage resources available"). A private server also keeps the
 * benchmark's JetStream traffic apart from whatever else uses the stack at the same time.
 */
export async function startPrivateNats(stackNatsPid: number, dir: string): Promise<PrivateNats> {
  let binary: string;
  try {
    binary = readlinkSync(`/proc/${stackNatsPid}/exe`);
  } catch (err) {
    throw new Error(`cannot find the stack's nats-server binary (pid ${stackNatsPid})`, { cause: err });
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const conf = join(dir, "nats.conf");
  // The stack's settings (stack/services/nats.ts) except the store, which only the bench stream uses.
  writeFileSync(
    conf,
    [
      "server_name: smstats-bench",
      `listen: 127.0.0.1:${port}`,
      "max_payload: 2MB",
      "jetstream {",
      `  store_dir: ${JSON.stringify(dir)}`,
      "  max_file_store: 4GB",
      "  max_memory_store: 64MB",
      "}",
      "",
    ].join("\n"),
  );
  const url = `nats://127.0.0.1:${port}`;
  const server = spawnServer("nats-server (bench)", url, binary, ["-c", conf]);
  await waitUntil(
    server,
    async () => {
      const nc = await connect({ servers: url, reconnect: false, timeout: 1_000 });
      try {
        // Answers only once JetStream is up, not merely the core server.
        await (await jetstreamManager(nc)).getAccountInfo();
        return true;
      } finally {
        await nc.close();
      }
    },
    20_000,
  );
  return {
    ...server,
    async remove() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
