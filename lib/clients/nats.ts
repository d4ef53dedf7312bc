import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { ClientTls } from "../config/index.ts";
import type { Logger } from "../log/index.ts";
import { natsTlsOptions } from "./tls.ts";

/** A NATS connection and whether it is currently up. */
export interface NatsHandle {
  nc: NatsConnection;
  /** False between a disconnect and the following reconnect, and after close. */
  connected(): boolean;
}

/**
 * Connects to NATS and keeps reconnecting for as long as the process lives: a NATS restart must
 * never need a service restart. Status changes are logged once each, not per message. `tls`
 * (config.nats.tls) makes it talk TLS.
 */
export async function connectNats(
  servers: string[],
  name: string,
  log: Logger,
  tls?: ClientTls,
): Promise<NatsHandle> {
  const tlsOptions = natsTlsOptions(tls);
  const nc = await connect({
    ...(tlsOptions ? { tls: tlsOptions } : {}),
    servers,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    waitOnFirstConnect: true,
    pingInterval: 5_000,
    maxPingOut: 2,
    // Without this every request (each JetStream publish) builds an Error for a possible stack trace.
    noAsyncTraces: true,
  });
  let up = true;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" || s.type === "staleConnection") up = false;
      if (s.type === "reconnect") up = true;
      if (s.type === "disconnect" || s.type === "reconnect")
        log.warn({ nats: s.type }, "nats connection status changed");
    }
  })();
  return { nc, connected: () => up && !nc.isClosed() && !nc.isDraining() };
}
