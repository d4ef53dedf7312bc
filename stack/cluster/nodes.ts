import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { locateOnThisMachine } from "../binaries.ts";
import { StackError } from "../errors.ts";
import type { InstallTarget } from "../install.ts";
import { type DetachedProcess, type ProcessInfo, spawnDetached } from "../process.ts";
import type { StackSecrets } from "../secrets.ts";
import { CLICKHOUSE_USER, clickhouseUsers } from "../services/clickhouse.ts";
import { programIs } from "../services/process-match.ts";
import {
  type ClusterNode,
  type ClusterTopology,
  clickhouseClusterConfig,
  natsClusterConfig,
  zookeeperConfig,
} from "./topology.ts";

/** Debian's ZooKeeper: Java, its jars in /usr/share/java and /usr/share/zookeeper. */
export const zookeeperInstall: InstallTarget = {
  name: "zookeeper",
  binaries: ["zkServer.sh", "java"],
  packages: ["zookeeper"],
  binDirs: () => ["/usr/share/zookeeper/bin"],
};

/** Where one cluster stack lives: `<data>/cluster/`, its own logs, pid files and node folders. */
export interface ClusterPaths {
  root: string;
  runDir: string;
  logsDir: string;
  nodeDir(name: string): string;
  logFile(name: string): string;
  pidFile(name: string): string;
}

/** Lays out `<dataDir>/cluster`; creates nothing. */
export function clusterPaths(dataDir: string): ClusterPaths {
  const root = join(dataDir, "cluster");
  return {
    root,
    runDir: join(root, "run"),
    logsDir: join(root, "logs"),
    nodeDir: (name) => join(root, name),
    logFile: (name) => join(root, "logs", `${name}.log`),
    pidFile: (name) => join(root, "run", `${name}.pid`),
  };
}

/** What a node needs to write its config. */
export interface NodeContext {
  topology: ClusterTopology;
  paths: ClusterPaths;
  secrets: StackSecrets;
  /** Progress lines for a person. */
  log?: (line: string) => void;
}

function configFile(node: ClusterNode, paths: ClusterPaths): string {
  const dir = paths.nodeDir(node.name);
  switch (node.kind) {
    case "nats":
      return join(dir, "nats.conf");
    case "zookeeper":
      return join(dir, "zoo.cfg");
    case "clickhouse":
      return join(dir, "config.xml");
  }
}

/** Writes a node's generated config (and its folders). */
export function configureNode(node: ClusterNode, ctx: NodeContext): void {
  const dir = ctx.paths.nodeDir(node.name);
  mkdirSync(dir, { recursive: true });
  mkdirSync(ctx.paths.logsDir, { recursive: true });
  mkdirSync(ctx.paths.runDir, { recursive: true });
  switch (node.kind) {
    case "nats":
      // Holds the store key: readable by this user only.
      writeFileSync(
        configFile(node, ctx.paths),
        natsClusterConfig(node, ctx.topology.nats, dir, ctx.secrets.natsStoreKey),
        { mode: 0o600 },
      );
      chmodSync(configFile(node, ctx.paths), 0o600);
      return;
    case "zookeeper":
      mkdirSync(join(dir, "data"), { recursive: true });
      writeFileSync(configFile(node, ctx.paths), zookeeperConfig(node, join(dir, "data")));
      return;
    case "clickhouse": {
      for (const sub of ["data", "tmp", "user_files", "format_schemas"]) {
        mkdirSync(join(dir, sub), { recursive: true });
      }
      const usersFile = join(dir, "users.xml");
      // The same users, profiles and passwords as the single server.
      writeFileSync(usersFile, clickhouseUsers(ctx), { mode: 0o600 });
      const config = clickhouseClusterConfig(
        node,
        ctx.topology,
        dir,
        ctx.paths.logFile(node.name),
        usersFile,
        { name: CLICKHOUSE_USER, password: ctx.secrets.clickhouse },
      );
      // Holds the interserver password of remote_servers.
      writeFileSync(configFile(node, ctx.paths), config, { mode: 0o600 });
      return;
    }
  }
}

function requireOnMachine(binary: string, dirs: string[] = []): string {
  const path = locateOnThisMachine(binary, dirs);
  if (path === undefined) {
    throw new StackError(
      "STACK_INSTALL_FAILED",
      `${binary} is not installed (npm run stack:up -- --cluster installs it)`,
    );
  }
  return path;
}

// Debian's zookeeper.jar names its dependencies in its manifest's Class-Path (as zkEnv.sh relies on).
const ZOOKEEPER_JAR = "/usr/share/java/zookeeper.jar";

/** Spawns a node detached; java runs ZooKeeper's main class directly, so the pid is the server's own. */
export function startNode(node: ClusterNode, ctx: NodeContext): Promise<DetachedProcess> {
  const config = configFile(node, ctx.paths);
  const options = { logFile: ctx.paths.logFile(node.name), cwd: ctx.paths.nodeDir(node.name) };
  switch (node.kind) {
    case "nats":
      return spawnDetached(requireOnMachine("nats-server"), ["-c", config], options);
    case "zookeeper":
      return spawnDetached(
        requireOnMachine("java"),
        [
          "-Xmx256m",
          "-Dzookeeper.admin.enableServer=false",
          `-Dzookeeper.log.dir=${ctx.paths.logsDir}`,
          "-cp",
          ZOOKEEPER_JAR,
          "org.apache.zookeeper.server.quorum.QuorumPeerMain",
          config,
        ],
        options,
      );
    case "clickhouse":
      return spawnDetached(requireOnMachine("clickhouse-server"), [`--config-file=${config}`], options);
  }
}

/** True when a process is this cluster's node (its config path in the arguments). */
export function ownsNodeProcess(node: ClusterNode, info: ProcessInfo, paths: ClusterPaths): boolean {
  const config = configFile(node, paths);
  const program =
    node.kind === "nats" ? "nats-server" : node.kind === "zookeeper" ? "java" : "clickhouse-server";
  return programIs(info, program) && info.argv.some((a) => a === config || a === `--config-file=${config}`);
}

function fourLetterWord(port: number, word: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    let out = "";
    socket.setTimeout(2000, () => socket.destroy());
    socket.on("connect", () => socket.write(word));
    socket.on("data", (d) => {
      out += d.toString();
    });
    socket.on("close", () => resolve(out));
    socket.on("error", () => resolve(""));
  });
}

async function httpOk(url: string, init?: RequestInit): Promise<string | undefined> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(3000) });
    const body = await res.text();
    return res.status === 200 ? body : undefined;
  } catch {
    return undefined;
  }
}

/** True when the node answers: NATS with JetStream current, ZooKeeper serving, ClickHouse answering SQL. */
export async function nodeHealthy(node: ClusterNode, secrets: StackSecrets): Promise<boolean> {
  switch (node.kind) {
    case "nats":
      return (await httpOk(`http://127.0.0.1:${node.monitor}/healthz?js-enabled-only=true`)) !== undefined;
    case "zookeeper":
      return (await fourLetterWord(node.client, "srvr")).includes("Mode:");
    case "clickhouse": {
      const auth = Buffer.from(`${CLICKHOUSE_USER}:${secrets.clickhouse}`).toString("base64");
      const body = await httpOk(`http://127.0.0.1:${node.http}/`, {
        method: "POST",
        headers: { authorization: `Basic ${auth}` },
        body: "SELECT 1",
      });
      return body?.trim() === "1";
    }
  }
}
