import { createContext, type StackContext, type StackOptions } from "./context.ts";
import { locateServer } from "./locate-server.ts";
import type { ServiceName } from "./paths.ts";
import { removePidFile } from "./process.ts";
import type { Service } from "./service.ts";
import { services } from "./services/index.ts";

/** What `down` did with one server. */
export interface ServiceDownResult {
  /** Service name. */
  name: ServiceName;
  /** "stopped" gracefully, "killed" after the timeout, or "not-running". */
  action: "stopped" | "killed" | "not-running";
  /** Pid of the server that was stopped. */
  pid: number | undefined;
}

/** The outcome of stackDown. */
export interface StackDownResult {
  /** Absolute data folder. */
  dataDir: string;
  /** One entry per server. */
  services: ServiceDownResult[];
}

async function downService(service: Service, ctx: StackContext): Promise<ServiceDownResult> {
  const found = locateServer(service, ctx);
  if (found.pid === undefined) {
    removePidFile(ctx.paths.pidFile(service.name));
    return { name: service.name, action: "not-running", pid: undefined };
  }
  const outcome = await service.stop(ctx, found.pid);
  removePidFile(ctx.paths.pidFile(service.name));
  return {
    name: service.name,
    action: outcome === "gone" ? "not-running" : outcome,
    pid: outcome === "gone" ? undefined : found.pid,
  };
}

/** Options of stackDown. */
export interface StackDownOptions extends StackOptions {
  /** Stop only these servers (tests stop one to see how the service copes); all four by default. */
  only?: ServiceName[];
}

/** Stops the servers of a data folder in parallel, waiting until each is gone; data stays. */
export async function stackDown(options: StackDownOptions = {}): Promise<StackDownResult> {
  const ctx = createContext(options, { createSecrets: false });
  const chosen = options.only ? services.filter((s) => options.only?.includes(s.name)) : services;
  const results = await Promise.all(chosen.map((service) => downService(service, ctx)));
  return { dataDir: ctx.paths.dataDir, services: results };
}
