import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { StackError } from "./errors.ts";

/** Port base of the main stack: 27000 gives NATS 27422, ClickHouse 27123/27900, Postgres 27432, Redis 27379. */
export const DEFAULT_PORT_BASE = 27000;

/** The six loopback ports of one stack. */
export interface StackPorts {
  /** NATS client port (base + 422). */
  natsClient: number;
  /** NATS HTTP monitoring port (base + 822). */
  natsMonitor: number;
  /** ClickHouse HTTP interface (base + 123). */
  clickhouseHttp: number;
  /** ClickHouse native TCP protocol (base + 900). */
  clickhouseNative: number;
  /** PostgreSQL (base + 432). */
  postgres: number;
  /** Redis (base + 379). */
  redis: number;
}

/** Shifts the six ports by a base, so a second stack (tests) can run beside the main one. */
export function stackPorts(base: number = DEFAULT_PORT_BASE): StackPorts {
  // The highest offset is 900, and ports below 1024 would need root to bind.
  if (!Number.isInteger(base) || base < 1024 || base + 900 > 65535) {
    throw new StackError("STACK_USAGE", `port base must be an integer from 1024 to 64635, got ${base}`);
  }
  return {
    natsClient: base + 422,
    natsMonitor: base + 822,
    clickhouseHttp: base + 123,
    clickhouseNative: base + 900,
    postgres: base + 432,
    redis: base + 379,
  };
}

function portBaseFile(runDir: string): string {
  return join(runDir, "port-base");
}

/** The port base of the last `up` in this data folder, so `status` without options probes the right ports. */
export function readPortBase(runDir: string): number | undefined {
  try {
    const base = Number.parseInt(readFileSync(portBaseFile(runDir), "utf8").trim(), 10);
    return Number.isInteger(base) ? base : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** Records the port base used by `up`. */
export function writePortBase(runDir: string, base: number): void {
  writeFileSync(portBaseFile(runDir), `${base}\n`);
}
