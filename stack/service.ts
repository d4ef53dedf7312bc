import type { InstallTarget } from "./install.ts";
import type { ServiceName, StackPaths } from "./paths.ts";
import type { StackPorts } from "./ports.ts";
import type { DetachedProcess, ProcessInfo, TerminateOutcome } from "./process.ts";
import type { StackSecrets } from "./secrets.ts";

/** Everything a service needs to configure, start, probe and stop itself. */
export interface ServiceContext {
  /** Layout of the data folder. */
  paths: StackPaths;
  /** The six ports of this stack. */
  ports: StackPorts;
  /** Passwords (empty strings when the stack was never brought up). */
  secrets: StackSecrets;
  /** Whether we run as root, which decides apt-get and PostgreSQL's run-as user. */
  isRoot: boolean;
  /** Progress lines for a person. */
  log: (line: string) => void;
}

/** One server of the local stack; the up/down/status runners treat all four alike through this shape. */
export interface Service extends InstallTarget {
  /** Name of its folder, log and pid file. */
  readonly name: ServiceName;
  /** Ports it listens on, all on 127.0.0.1. */
  ports(ctx: ServiceContext): number[];
  /** One-line address for status output, without secrets. */
  address(ctx: ServiceContext): string;
  /** Writes its generated config (and initialises its data on the first run). */
  configure(ctx: ServiceContext): Promise<void>;
  /** Spawns the server detached; the returned pid is the server's own, the one `stop` must signal. */
  start(ctx: ServiceContext): Promise<DetachedProcess>;
  /** True when it answers as this stack's server (authenticated where it has a password). */
  healthy(ctx: ServiceContext): Promise<boolean>;
  /** Creates what the app expects inside a freshly started server (the Postgres database). */
  provision?(ctx: ServiceContext): Promise<void>;
  /** True when a process is this stack's server, judged from its arguments and working directory. */
  ownsProcess(info: ProcessInfo, ctx: ServiceContext): boolean;
  /** Stops the server with its graceful signal and waits until it is gone. */
  stop(ctx: ServiceContext, pid: number): Promise<TerminateOutcome>;
}
