import { chmodSync, mkdirSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import type { StackFile } from "../lib/stack-file.ts";
import { createContext, runningAsRoot, type StackContext, type StackOptions } from "./context.ts";
import { StackError, type StackErrorCode } from "./errors.ts";
import { ensureInstalled } from "./install.ts";
import { locateServer } from "./locate-server.ts";
import { tailLog } from "./log-tail.ts";
import { resolveDataDir, type ServiceName, type StackPaths, stackPaths } from "./paths.ts";
import { isPortOpen } from "./port-probe.ts";
import { writePortBase } from "./ports.ts";
import { type ExitStatus, isRunning, readPidFile, removePidFile, writePidFile } from "./process.ts";
import type { Service } from "./service.ts";
import { services } from "./services/index.ts";
import { buildStackFile, writeStackFile } from "./stack-file-writer.ts";
import { tools } from "./tools.ts";

/** Options of stackUp. */
export interface StackUpOptions extends StackOptions {
  /** How long each server may take to answer after its start, in ms; default 60000. */
  timeoutMs?: number;
}

/** What `up` did with one server. */
export interface ServiceUpResult {
  /** Service name. */
  name: ServiceName;
  /** "started" now, or "already-up" (found running and answering). */
  action: "started" | "already-up";
  /** Pid of the server. */
  pid: number;
  /** Address for people, without secrets. */
  address: string;
  /** Pid of a stale pid file that was removed, if any. */
  removedStalePid: number | undefined;
}

/** The outcome of stackUp. */
export interface StackUpResult {
  /** Absolute data folder. */
  dataDir: string;
  /** Port base in effect. */
  portBase: number;
  /** Path of stack.json. */
  stackFilePath: string;
  /** Its content (with passwords). */
  stackFile: StackFile;
  /** Whether stack.json was (re)written; false when it already described this stack. */
  stackFileWritten: boolean;
  /** One entry per server, in the order of `services`. */
  services: ServiceUpResult[];
}

// Errors that happen while a server starts are explained best by its own log.
const startCodes: readonly StackErrorCode[] = [
  "STACK_START_FAILED",
  "STACK_START_TIMEOUT",
  "STACK_COMMAND_FAILED",
  "STACK_AUTH_FAILED",
];

function prepareFolders(paths: StackPaths): void {
  // The postgres user must traverse the data folder, whatever the umask of whoever runs `up`.
  if (mkdirSync(paths.dataDir, { recursive: true }) !== undefined) chmodSync(paths.dataDir, 0o755);
  mkdirSync(paths.logsDir, { recursive: true });
  mkdirSync(paths.runDir, { recursive: true });
  for (const service of services) mkdirSync(paths.serviceDir(service.name), { recursive: true });
}

async function waitHealthy(
  service: Service,
  ctx: StackContext,
  pid: number,
  exited: Promise<ExitStatus> | undefined,
  timeoutMs: number,
): Promise<void> {
  let ended: ExitStatus | undefined;
  void exited?.then((status) => {
    ended = status;
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await service.healthy(ctx)) return;
    if (ended !== undefined || !isRunning(pid)) {
      const how =
        ended === undefined
          ? ""
          : ended.signal === null
            ? ` (exit code ${ended.code})`
            : ` (${ended.signal})`;
      throw new StackError("STACK_START_FAILED", `${service.name} exited during start${how}`);
    }
    if (Date.now() > deadline) {
      throw new StackError(
        "STACK_START_TIMEOUT",
        `${service.name} (pid ${pid}) did not answer on ${service.address(ctx)} within ${timeoutMs / 1000} s` +
          " (if it runs with another port base, run `down` first)",
      );
    }
    await sleep(250);
  }
}

async function upService(service: Service, ctx: StackContext, timeoutMs: number): Promise<ServiceUpResult> {
  const pidFile = ctx.paths.pidFile(service.name);
  const found = locateServer(service, ctx);
  if (found.stalePid !== undefined) {
    removePidFile(pidFile);
    ctx.log(
      `${service.name}: removed stale pid file (pid ${found.stalePid} is gone or not this stack's ${service.name})`,
    );
  }
  const result = { name: service.name, address: service.address(ctx), removedStalePid: found.stalePid };
  if (found.pid !== undefined) {
    // Found by scanning /proc after the pid file was lost: record it so down can find it quickly.
    if (readPidFile(pidFile) !== found.pid) writePidFile(pidFile, found.pid);
    await waitHealthy(service, ctx, found.pid, undefined, timeoutMs);
    return { ...result, action: "already-up", pid: found.pid };
  }
  for (const port of service.ports(ctx)) {
    if (await isPortOpen(port)) {
      throw new StackError(
        "STACK_PORT_BUSY",
        `${service.name}: port 127.0.0.1:${port} is already in use by a process that is not this stack's ` +
          `${service.name} (data folder ${ctx.paths.dataDir}); stop it or choose another port base`,
      );
    }
  }
  ctx.log(`${service.name}: starting`);
  await service.configure(ctx);
  const started = await service.start(ctx);
  // Recorded before the wait, so `down` can stop a server that never became healthy.
  writePidFile(pidFile, started.pid);
  await waitHealthy(service, ctx, started.pid, started.exited, timeoutMs);
  await service.provision?.(ctx);
  ctx.log(`${service.name}: up (pid ${started.pid})`);
  return { ...result, action: "started", pid: started.pid };
}

// Every failure leaves here as a StackError named after its service, with the log quoted where it helps.
async function upWithLog(service: Service, ctx: StackContext, timeoutMs: number): Promise<ServiceUpResult> {
  try {
    return await upService(service, ctx, timeoutMs);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const named = message.startsWith(service.name) ? message : `${service.name}: ${message}`;
    const code = err instanceof StackError ? err.code : "STACK_START_FAILED";
    if (!startCodes.includes(code)) throw new StackError(code, named, { cause: err });
    const logFile = ctx.paths.logFile(service.name);
    const tail = tailLog(logFile);
    const quoted = tail === "" ? `(${logFile} is empty)` : `last lines of ${logFile}:\n${tail}`;
    throw new StackError(code, `${named}\n${quoted}`, { cause: err });
  }
}

/**
 * Brings the local stack up: installs missing servers, then configures, starts and waits for all four in
 * parallel, and writes stack.json. Servers already running for this data folder are left alone.
 */
export async function stackUp(options: StackUpOptions = {}): Promise<StackUpResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  await ensureInstalled([...services, ...tools], { isRoot: runningAsRoot(), log: options.log ?? (() => {}) });
  prepareFolders(stackPaths(resolveDataDir(options.dataDir)));
  const ctx = createContext(options, { createSecrets: true });

  const settled = await Promise.allSettled(services.map((service) => upWithLog(service, ctx, timeoutMs)));
  const failures = settled.flatMap((outcome) =>
    outcome.status === "rejected" ? [outcome.reason as unknown] : [],
  );
  if (failures.length > 0) {
    const first = failures[0];
    const code = failures.length === 1 && first instanceof StackError ? first.code : "STACK_START_FAILED";
    const lines = failures.map((err) => (err instanceof Error ? err.message : String(err)));
    throw new StackError(code, lines.join("\n\n"), { cause: new AggregateError(failures) });
  }

  writePortBase(ctx.paths.runDir, ctx.portBase);
  const written = writeStackFile(ctx, buildStackFile(ctx, new Date()));
  return {
    dataDir: ctx.paths.dataDir,
    portBase: ctx.portBase,
    stackFilePath: ctx.paths.stackFile,
    stackFile: written.file,
    stackFileWritten: written.written,
    services: settled.flatMap((outcome) => (outcome.status === "fulfilled" ? [outcome.value] : [])),
  };
}
