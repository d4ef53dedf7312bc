import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { createFleet, toJsonBody } from "./fleet/index.ts";

/** What the k6 scenarios read (SM_FLEET_FILE): the simulated instances and their batches as JSON bodies. */
export interface FleetFile {
  instances: {
    hwid: string;
    tier: string;
    platform: string;
    version: string;
    country: string;
    ip: string;
    /** Index of the instance's first body in `bodies`, and how many follow in time order. */
    first: number;
    count: number;
  }[];
  /** JSON bodies with the placeholders __INSTANCE__, __BATCH__ and "__SEQ__", which k6 fills per request. */
  bodies: string[];
}

/** How much of the simulated fleet the scenarios get. */
export interface PrepareOptions {
  seed: number;
  /** Simulated instances (only those that were online in the last `days` are written). */
  instances: number;
  days: number;
  /** At most this many of each instance's latest batches. */
  maxBodiesPerInstance: number;
  end?: number;
}

/** Simulates a fleet and turns its batches into k6's fleet file. */
export function buildFleetFile(opts: PrepareOptions): FleetFile {
  const fleet = createFleet({ seed: opts.seed, instances: opts.instances, days: opts.days, end: opts.end });
  const perInstance = new Map<string, string[]>();
  for (const { instance, batch } of fleet.batches()) {
    const list = perInstance.get(instance.instance_id) ?? [];
    const body = JSON.stringify(toJsonBody({ ...batch, instance_id: "__INSTANCE__", batch_id: "__BATCH__" }));
    list.push(body.replace(/"seq":\d+/, '"seq":"__SEQ__"'));
    if (list.length > opts.maxBodiesPerInstance) list.shift();
    perInstance.set(instance.instance_id, list);
  }
  const file: FleetFile = { instances: [], bodies: [] };
  for (const i of fleet.instances) {
    const list = perInstance.get(i.instance_id);
    if (!list?.length) continue;
    const { hwid, tier, platform, version, country, ip } = i;
    file.instances.push({
      hwid,
      tier,
      platform,
      version,
      country,
      ip,
      first: file.bodies.length,
      count: list.length,
    });
    file.bodies.push(...list);
  }
  return file;
}

/** Writes the fleet file and returns how many instances and bodies it holds. */
export function writeFleetFile(path: string, opts: PrepareOptions): { instances: number; bodies: number } {
  const file = buildFleetFile(opts);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(file));
  return { instances: file.instances.length, bodies: file.bodies.length };
}
