import { resolveDataDir, stackPaths } from "./paths.ts";
import { DEFAULT_PORT_BASE, readPortBase, stackPorts } from "./ports.ts";
import { ensureSecrets, readSecrets } from "./secrets.ts";
import type { ServiceContext } from "./service.ts";

/** Options shared by up, down and status. */
export interface StackOptions {
  /** Data folder; default SMSTATS_DATA_DIR, else `<repo>/.data`. */
  dataDir?: string;
  /** Shifts all six ports (27000 → NATS 27422 …); default the base of this folder's last `up`, else 27000. */
  portBase?: number;
  /** Progress lines for a person; default silent. */
  log?: (line: string) => void;
}

/** A service context plus the port base it was built with. */
export interface StackContext extends ServiceContext {
  /** Port base in effect. */
  portBase: number;
}

/** True when this process runs as root (apt-get allowed, PostgreSQL must switch user). */
export function runningAsRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Builds the context; only `up` may generate secrets, down and status just read them. */
export function createContext(options: StackOptions, mode: { createSecrets: boolean }): StackContext {
  const paths = stackPaths(resolveDataDir(options.dataDir));
  const portBase = options.portBase ?? readPortBase(paths.runDir) ?? DEFAULT_PORT_BASE;
  return {
    paths,
    portBase,
    ports: stackPorts(portBase),
    secrets: mode.createSecrets ? ensureSecrets(paths.secretsDir) : readSecrets(paths.secretsDir),
    isRoot: runningAsRoot(),
    log: options.log ?? (() => {}),
  };
}
