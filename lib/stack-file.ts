import { readFileSync } from "node:fs";
import { join } from "node:path";

/** A ClickHouse user name and its password. */
export interface ClickHouseCredentials {
  username: string;
  password: string;
}

/**
 * Connection details of the local stack, written by `npm run stack:up` to `<dataDir>/stack.json`.
 * Every other command and the tests read it (through lib/config) instead of guessing ports.
 */
export interface StackFile {
  /** ISO time the file was last written. */
  writtenAt: string;
  nats: {
    /** Client URL, e.g. nats://127.0.0.1:27422 */
    url: string;
    /** HTTP monitoring URL, e.g. http://127.0.0.1:27822 */
    monitorUrl: string;
  };
  clickhouse: {
    /** HTTP interface URL, e.g. http://127.0.0.1:27123 */
    url: string;
    /** Native TCP port, for clickhouse-client --port. */
    nativePort: number;
    /** Read-write application user. */
    username: string;
    password: string;
    /** Read-only user for analysts (database smstats only); absent in files written before it existed. */
    analyst?: ClickHouseCredentials;
    /** Read-only user for Grafana's datasource (database smstats only); absent in older files. */
    grafana?: ClickHouseCredentials;
  };
  postgres: {
    /** Application URL (database smstats) for a superuser-capable role owned by the project. */
    url: string;
  };
  redis: {
    /** redis://:password@127.0.0.1:27379/0 */
    url: string;
  };
  /** Present in the cluster stack's file (`<data>/cluster/stack.json`, `stack:up -- --cluster`) only. */
  cluster?: StackCluster;
}

/** The clustered servers of `stack:up -- --cluster`. */
export interface StackCluster {
  /** ClickHouse cluster name in remote_servers: the migrations' ON CLUSTER target. */
  clickhouseCluster: string;
  /** JetStream replicas of the streams and consumers. */
  natsReplicas: number;
  /** Every ClickHouse server, by shard and replica. */
  clickhouseNodes: { name: string; shard: number; replica: number; url: string; nativePort: number }[];
  /** HTTP monitoring URL of each NATS server. */
  natsMonitorUrls: string[];
  /** ZooKeeper host:port. */
  zookeeper: string;
}

/** Path of the stack file inside a data folder. */
export function stackFilePath(dataDir: string): string {
  return join(dataDir, "stack.json");
}

/** Reads the stack file, or returns undefined when the stack was never brought up in this data folder. */
export function readStackFile(dataDir: string): StackFile | undefined {
  try {
    return JSON.parse(readFileSync(stackFilePath(dataDir), "utf8")) as StackFile;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}
