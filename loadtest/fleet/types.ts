import type { MetricsBatch } from "../../schemas/index.ts";

/** An instance's tier, spelled as PostgreSQL (instances.tier) and ClickHouse (column tier) spell it. */
export type Tier = "starter" | "party_host" | "venue";

/** One simulated SongMartyn instance: who it is and where it runs. */
export interface SimInstance {
  /** A UUID, stable for a seed; ingest assigns real ids at registration, so senders substitute theirs. */
  instance_id: string;
  /** Hardware id it registers with (32 hex digits), stable for a seed, so re-registering finds it again. */
  hwid: string;
  tier: Tier;
  /** linux, windows or darwin. */
  platform: string;
  /** SongMartyn version, e.g. 1.4.2. */
  version: string;
  /** ISO 3166-1 alpha-2. */
  country: string;
  /** A public IPv4 address that geoip-country maps to `country` (send it as X-Forwarded-For). */
  ip: string;
}

/** What fleet to simulate. */
export interface FleetOptions {
  /** Seed of every random choice: the same options give the same fleet and batches. */
  seed: number;
  /** Number of instances. */
  instances: number;
  /** Days of history, ending at `end`. */
  days: number;
  /** End of the simulated time, ms since the epoch; Date.now() by default. */
  end?: number;
  /** Seconds between two batches of an online instance; 300 by default (the SDK's flush interval). */
  batchIntervalSec?: number;
}

/** A simulated fleet: its instances and, lazily, every batch they send. */
export interface Fleet {
  instances: SimInstance[];
  /**
   * Every batch of every instance in timestamp order (ties by instance order), as the processors see them
   * after decoding (v2 MetricsBatch). Each call starts again from the beginning and yields the same batches.
   */
  batches(): Iterable<{ instance: SimInstance; batch: MetricsBatch }>;
}
