import { JetStreamApiError, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";

/** The benchmark's hold on its JetStream stream, which no processor drains. */
export interface BenchStream {
  /** Drops every stored batch, so each run starts on an empty stream. */
  purge(): Promise<void>;
  /** Deletes the stream (and the processors' consumer on it), so it takes no disk after the run. */
  remove(): Promise<void>;
  close(): Promise<void>;
}

/** Connects to NATS to manage the stream `name` (created by the ingest when it starts). */
export async function openBenchStream(servers: string[], name: string): Promise<BenchStream> {
  const nc = await connect({ servers, name: "smstats-bench" });
  const jsm = await jetstreamManager(nc);
  const missing = (err: unknown) => err instanceof JetStreamApiError && err.status === 404;
  return {
    async purge() {
      await jsm.streams.purge(name).catch((err) => {
        if (!missing(err)) throw err;
      });
    },
    async remove() {
      await jsm.streams.delete(name).catch((err) => {
        if (!missing(err)) throw err;
      });
    },
    close: () => nc.close(),
  };
}
