import { chmodSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { readStackFile, type StackFile } from "../../lib/stack-file.ts";
import { runningAsRoot } from "../context.ts";
import { StackError } from "../errors.ts";
import { ensureInstalled } from "../install.ts";
import { tailLog } from "../log-tail.ts";
import { resolveDataDir } from "../paths.ts";
import { isPortOpen } from "../port-probe.ts";
import { DEFAULT_PORT_BASE, readPortBase } from "../ports.ts";
import {
  isRunning,
  processInfo,
  readPidFile,
  removePidFile,
  type TerminateOutcome,
  terminate,
  writePidFile,
} from "../process.ts";
import { readSecrets } from "../secrets.ts";
import { clickhouse } from "../services/clickhouse.ts";
import { nats } from "../services/nats.ts";
import { stackUp } from "../up.ts";
import {
  type ClusterPaths,
  clusterPaths,
  configureNode,
  type NodeContext,
  nodeHealthy,
  ownsNodeProcess,
  startNode,
  zookeeperInstall,
} from "./nodes.ts";
import {
  allNodes,
  CLICKHOUSE_CLUSTER,
  type ClusterNode,
  type ClusterTopology,
  clusterTopology,
  NATS_REPLICAS,
  nodePorts,
} from "./topology.ts";

export { type ClusterPaths, clusterPaths } from "./nodes.ts";
export * from "./topology.ts";

/** Options of the cluster functions. */
export interface ClusterOptions {
  /** Data folder of the single-node stack; the cluster lives in its `cluster/` subfolder. */
  dataDir?: string;
  /** Port base of the single-node stack; the cluster takes base+500 … base+599. */
  portBase?: number;
  /** Progress lines for a person. */
  log?: (line: string) => void;
  /** How long a node may take to answer after its start, ms; default 90000. */
  timeoutMs?: number;
}

/** A running cluster: where it lives, its layout and connection details. */
export interface ClusterHandle {
  dataDir: string;
  paths: ClusterPaths;
  topology: ClusterTopology;
  ctx: NodeContext;
  /** `<data>/cluster/stack.json`; point SMSTATS_DATA_DIR at `paths.root` to use the cluster. */
  stackFile: StackFile;
}

function resolve(options: ClusterOptions): {
  dataDir: string;
  topology: ClusterTopology;
  paths: ClusterPaths;
} {
  const dataDir = resolveDataDir(options.dataDir);
  const base = options.portBase ?? readPortBase(join(dataDir, "run")) ?? DEFAULT_PORT_BASE;
  return { dataDir, topology: clusterTopology(base), paths: clusterPaths(dataDir) };
}

/** The pid of a node's server if it runs (pid file checked against /proc), else undefined. */
export function nodePid(node: ClusterNode, paths: ClusterPaths): number | undefined {
  const pid = readPidFile(paths.pidFile(node.name));
  if (pid === undefined || !isRunning(pid)) return undefined;
  const info = processInfo(pid);
  return info !== undefined && ownsNodeProcess(node, info, paths) ? pid : undefined;
}

async function waitNode(
  node: ClusterNode,
  handle: NodeContext,
  pid: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await nodeHealthy(node, handle.secrets))) {
    if (!isRunning(pid) || Date.now() > deadline) {
      const tail = tailLog(handle.paths.logFile(node.name));
      throw new StackError(
        isRunning(pid) ? "STACK_START_TIMEOUT" : "STACK_START_FAILED",
        `${node.name} (pid ${pid}) ${isRunning(pid) ? `did not answer within ${timeoutMs / 1000} s` : "exited during start"}; last lines of ${handle.paths.logFile(node.name)}:\n${tail}`,
      );
    }
    await sleep(250);
  }
}

/** Starts one node unless it already runs, and waits until it answers. */
export async function upNode(node: ClusterNode, ctx: NodeContext, timeoutMs = 90_000): Promise<number> {
  const running = nodePid(node, ctx.paths);
  if (running !== undefined) {
    await waitNode(node, ctx, running, timeoutMs);
    return running;
  }
  removePidFile(ctx.paths.pidFile(node.name));
  for (const port of nodePorts(node)) {
    if (await isPortOpen(port)) {
      throw new StackError(
        "STACK_PORT_BUSY",
        `${node.name}: port 127.0.0.1:${port} is in use by a process that is not this cluster's; choose another port base`,
      );
    }
  }
  configureNode(node, ctx);
  const started = await startNode(node, ctx);
  writePidFile(ctx.paths.pidFile(node.name), started.pid);
  await waitNode(node, ctx, started.pid, timeoutMs);
  ctx.log?.(`${node.name}: up (pid ${started.pid})`);
  return started.pid;
}

/** Sends a signal to one node of this cluster (by its recorded, verified pid) and waits until it is gone. */
export async function stopNode(
  node: ClusterNode,
  paths: ClusterPaths,
  signal: NodeJS.Signals = "SIGTERM",
): Promise<TerminateOutcome | "not-running"> {
  const pid = nodePid(node, paths);
  if (pid === undefined) return "not-running";
  const outcome = await terminate(pid, signal, { timeoutMs: 30_000 });
  removePidFile(paths.pidFile(node.name));
  return outcome;
}

function clusterStackFile(base: StackFile, t: ClusterTopology): StackFile {
  const first = t.clickhouse[0];
  if (first === undefined) throw new StackError("STACK_USAGE", "a cluster needs ClickHouse nodes");
  return {
    ...base,
    writtenAt: new Date().toISOString(),
    nats: {
      url: t.nats.map((n) => `nats://127.0.0.1:${n.client}`).join(","),
      monitorUrl: `http://127.0.0.1:${t.nats[0]?.monitor}`,
    },
    clickhouse: { ...base.clickhouse, url: `http://127.0.0.1:${first.http}`, nativePort: first.native },
    cluster: {
      clickhouseCluster: CLICKHOUSE_CLUSTER,
      natsReplicas: NATS_REPLICAS,
      clickhouseNodes: t.clickhouse.map((n) => ({
        name: n.name,
        shard: n.shard,
        replica: n.replica,
        url: `http://127.0.0.1:${n.http}`,
        nativePort: n.native,
      })),
      natsMonitorUrls: t.nats.map((n) => `http://127.0.0.1:${n.monitor}`),
      zookeeper: `127.0.0.1:${t.zookeeper.client}`,
    },
  };
}

/**
 * `stack:up -- --cluster`: brings up the single-node stack (PostgreSQL and Redis serve both modes), then
 * ZooKeeper, three clustered NATS servers and four ClickHouse servers (2 shards × 2 replicas), and writes
 * `<data>/cluster/stack.json` whose NATS URL lists all three servers and whose `cluster` section names the
 * ClickHouse cluster, its nodes and the JetStream replica count.
 */
export async function clusterUp(options: ClusterOptions = {}): Promise<ClusterHandle> {
  const log = options.log ?? (() => {});
  const { dataDir, topology, paths } = resolve(options);
  await ensureInstalled([nats, clickhouse, zookeeperInstall], { isRoot: runningAsRoot(), log });
  const single = await stackUp({ dataDir, portBase: options.portBase, log });
  mkdirSync(paths.root, { recursive: true });
  // Same passwords as the single stack; role passwords of `npm run migrate` live there too.
  const secretsLink = join(paths.root, "secrets");
  if (!existsSync(secretsLink)) symlinkSync(join(dataDir, "secrets"), secretsLink);
  const ctx: NodeContext & { log: (line: string) => void } = {
    topology,
    paths,
    secrets: readSecrets(join(dataDir, "secrets")),
    log,
  };
  const timeoutMs = options.timeoutMs ?? 90_000;
  await upNode(topology.zookeeper, ctx, timeoutMs);
  await Promise.all([...topology.nats, ...topology.clickhouse].map((n) => upNode(n, ctx, timeoutMs)));
  await waitJetStreamCluster(topology, timeoutMs);
  const stackFile = clusterStackFile(single.stackFile, topology);
  const path = join(paths.root, "stack.json");
  writeFileSync(path, `${JSON.stringify(stackFile, null, 2)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return { dataDir, paths, topology, ctx, stackFile };
}

/** Waits until the JetStream meta group has a leader and every server sees all three peers. */
export async function waitJetStreamCluster(t: ClusterTopology, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ready = await Promise.all(
      t.nats.map(async (n) => {
        try {
          const res = await fetch(`http://127.0.0.1:${n.monitor}/jsz`, { signal: AbortSignal.timeout(2000) });
          const body = (await res.json()) as { meta_cluster?: { leader?: string; cluster_size?: number } };
          return Boolean(body.meta_cluster?.leader) && body.meta_cluster?.cluster_size === t.nats.length;
        } catch {
          return false;
        }
      }),
    );
    if (ready.every(Boolean)) return;
    if (Date.now() > deadline) {
      throw new StackError(
        "STACK_START_TIMEOUT",
        `JetStream cluster has no meta leader after ${timeoutMs / 1000} s`,
      );
    }
    await sleep(500);
  }
}

/** A handle on an already running cluster (for tests that kill and restart its nodes). */
export function clusterHandle(options: ClusterOptions = {}): ClusterHandle {
  const { dataDir, topology, paths } = resolve(options);
  const stackFile = readStackFile(paths.root);
  if (stackFile === undefined)
    throw new StackError("STACK_USAGE", `no cluster in ${paths.root}; run stack:up -- --cluster`);
  const ctx = { topology, paths, secrets: readSecrets(join(dataDir, "secrets")) };
  return { dataDir, paths, topology, ctx, stackFile };
}

/** Stops every node of the cluster (ClickHouse first, ZooKeeper last); the single stack stays up. */
export async function clusterDown(options: ClusterOptions = {}): Promise<{ name: string; action: string }[]> {
  const { topology, paths } = resolve(options);
  const first = await Promise.all(
    [...topology.clickhouse, ...topology.nats].map(async (n) => ({
      name: n.name,
      action: await stopNode(n, paths),
    })),
  );
  const zk = { name: topology.zookeeper.name, action: await stopNode(topology.zookeeper, paths) };
  return [...first, zk];
}

/** Every node with its pid when running. */
export function clusterStatus(options: ClusterOptions = {}): { name: string; pid: number | undefined }[] {
  const { topology, paths } = resolve(options);
  return allNodes(topology).map((n) => ({ name: n.name, pid: nodePid(n, paths) }));
}
