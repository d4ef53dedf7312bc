import type { MetricsBatch } from "../../schemas/index.ts";
import { createProfile, type InstanceProfile, instanceBatches } from "./instance.ts";
import type { Fleet, FleetOptions, SimInstance } from "./types.ts";

export { COUNTRIES, TIERS, VERSIONS } from "./catalog.ts";
export { type InstanceProfile, instanceBatches } from "./instance.ts";
export { toJsonBody } from "./json-body.ts";
export { createRandom, mixSeed, type Random } from "./random.ts";
export type { Fleet, FleetOptions, SimInstance, Tier } from "./types.ts";

const DAY = 86_400_000;

function publicInstance(p: InstanceProfile): SimInstance {
  const { instance_id, hwid, tier, platform, version, country, ip } = p;
  return { instance_id, hwid, tier, platform, version, country, ip };
}

interface Head {
  order: number;
  instance: SimInstance;
  batch: MetricsBatch;
  rest: Iterator<MetricsBatch>;
}

// A binary min-heap on (timestamp, instance order): merges the instances' time-ordered streams into one.
const before = (a: Head, b: Head) =>
  a.batch.timestamp_ms < b.batch.timestamp_ms ||
  (a.batch.timestamp_ms === b.batch.timestamp_ms && a.order < b.order);

function push(heap: Head[], h: Head) {
  heap.push(h);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!before(heap[i] as Head, heap[parent] as Head)) break;
    [heap[i], heap[parent]] = [heap[parent] as Head, heap[i] as Head];
    i = parent;
  }
}

function pop(heap: Head[]): Head | undefined {
  const top = heap[0];
  const last = heap.pop();
  if (heap.length > 0 && last) {
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && before(heap[l] as Head, heap[m] as Head)) m = l;
      if (r < heap.length && before(heap[r] as Head, heap[m] as Head)) m = r;
      if (m === i) break;
      [heap[i], heap[m]] = [heap[m] as Head, heap[i] as Head];
      i = m;
    }
  }
  return top;
}

/**
 * A deterministic SongMartyn fleet: the same options give the same instances and the same batches. Each
 * instance has a tier, platform, version and country; it goes online for parties (homes, mostly at
 * weekends) or nightly (venues), and while online sends one batch per interval with every family.
 */
export function createFleet(opts: FleetOptions): Fleet {
  if (!Number.isInteger(opts.instances) || opts.instances < 0)
    throw new RangeError("instances must be an integer ≥ 0");
  if (!(opts.days > 0)) throw new RangeError("days must be > 0");
  const end = opts.end ?? Date.now();
  const from = end - opts.days * DAY;
  const intervalMs = (opts.batchIntervalSec ?? 300) * 1000;
  const profiles = Array.from({ length: opts.instances }, (_, i) => createProfile(opts.seed, i));
  const instances = profiles.map(publicInstance);
  return {
    instances,
    *batches() {
      const heap: Head[] = [];
      profiles.forEach((p, order) => {
        const rest = instanceBatches(p, opts.seed, from, end, intervalMs);
        const first = rest.next();
        if (!first.done)
          push(heap, { order, instance: instances[order] as SimInstance, batch: first.value, rest });
      });
      for (let h = pop(heap); h; h = pop(heap)) {
        yield { instance: h.instance, batch: h.batch };
        const next = h.rest.next();
        if (!next.done) push(heap, { ...h, batch: next.value });
      }
    },
  };
}
