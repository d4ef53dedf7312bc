import { createContext, type StackContext, type StackOptions } from "./context.ts";
import { locateServer } from "./locate-server.ts";
import type { ServiceName } from "./paths.ts";
import type { Service } from "./service.ts";
import { services } from "./services/index.ts";

/** "up" answers, "unhealthy" runs but does not answer, "down" is not running. */
export type ServiceState = "up" | "unhealthy" | "down";

/** Status of one server. */
export interface ServiceStatus {
  /** Service name. */
  name: ServiceName;
  /** Its state. */
  state: ServiceState;
  /** Pid when running. */
  pid: number | undefined;
  /** Address for people, without secrets. */
  address: string;
}

/** The outcome of stackStatus. */
export interface StackStatus {
  /** Absolute data folder. */
  dataDir: string;
  /** Port base probed. */
  portBase: number;
  /** True when all four servers are up. */
  allUp: boolean;
  /** One entry per server. */
  services: ServiceStatus[];
}

async function serviceStatus(service: Service, ctx: StackContext): Promise<ServiceStatus> {
  const { pid } = locateServer(service, ctx);
  const base = { name: service.name, pid, address: service.address(ctx) };
  if (pid === undefined) return { ...base, state: "down" };
  // A probe that throws (a rejected password) still means "running but not usable".
  const answers = await service.healthy(ctx).catch(() => false);
  return { ...base, state: answers ? "up" : "unhealthy" };
}

/** Reports each server of a data folder without changing anything. */
export async function stackStatus(options: StackOptions = {}): Promise<StackStatus> {
  const ctx = createContext(options, { createSecrets: false });
  const results = await Promise.all(services.map((service) => serviceStatus(service, ctx)));
  return {
    dataDir: ctx.paths.dataDir,
    portBase: ctx.portBase,
    allUp: results.every((result) => result.state === "up"),
    services: results,
  };
}
