import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { stackFilePath } from "../lib/stack-file.ts";
import { readEnvironment } from "./environment.ts";

/** The four servers of the local stack; also their folder, log and pid file names. */
export type ServiceName = "nats" | "clickhouse" | "postgres" | "redis";

/** Repository root: stack/ sits directly under it, so cli.ts is two levels below. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The data folder: the explicit option, else SMSTATS_DATA_DIR, else `<repo>/.data`. */
export function resolveDataDir(explicit?: string): string {
  return resolve(explicit ?? readEnvironment().dataDir ?? join(repoRoot, ".data"));
}

/** Where everything of one stack lives inside its data folder. */
export interface StackPaths {
  /** Absolute data folder. */
  dataDir: string;
  /** Server logs, one `<svc>.log` each. */
  logsDir: string;
  /** Pid files, one `<svc>.pid` each, plus the recorded port base. */
  runDir: string;
  /** Generated passwords (mode 0700 folder, 0600 files). */
  secretsDir: string;
  /** Connection details for the rest of the app (lib/stack-file.ts). */
  stackFile: string;
  /** A server's own folder: generated config and its data. */
  serviceDir(name: ServiceName): string;
  /** A server's log file. */
  logFile(name: ServiceName): string;
  /** A server's pid file. */
  pidFile(name: ServiceName): string;
}

/** Lays out a data folder; creates nothing. */
export function stackPaths(dataDir: string): StackPaths {
  const root = resolve(dataDir);
  const logsDir = join(root, "logs");
  const runDir = join(root, "run");
  return {
    dataDir: root,
    logsDir,
    runDir,
    secretsDir: join(root, "secrets"),
    stackFile: stackFilePath(root),
    serviceDir: (name) => join(root, name),
    logFile: (name) => join(logsDir, `${name}.log`),
    pidFile: (name) => join(runDir, `${name}.pid`),
  };
}
