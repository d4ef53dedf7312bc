import { spawn } from "node:child_process";
import {
  closeSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { StackError } from "./errors.ts";
import { LOG_MARKER } from "./log-tail.ts";

/** What /proc tells about a live process. */
export interface ProcessInfo {
  /** Process id. */
  pid: number;
  /** Arguments from /proc/<pid>/cmdline; servers that retitle themselves (Redis) show one argument with spaces. */
  argv: string[];
  /** Working directory, when readable (another user's process may hide it). */
  cwd: string | undefined;
}

/** How a spawned process ended. */
export interface ExitStatus {
  /** Exit code, or null when killed by a signal or never started. */
  code: number | null;
  /** Signal that killed it, if any. */
  signal: NodeJS.Signals | null;
}

/** A server started in its own session, which outlives this process. */
export interface DetachedProcess {
  /** Pid of the spawned process. */
  pid: number;
  /** Settles when the spawned process ends (only observed while this process lives). */
  exited: Promise<ExitStatus>;
}

/** Reads /proc/<pid>; undefined when the process is gone or a zombie (a zombie still answers kill(pid, 0)). */
export function processInfo(pid: number): ProcessInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The state letter follows the command name, which may itself contain spaces and parentheses.
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    if (state === "Z" || state === "X") return undefined;
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8")
      .split("\0")
      .filter((arg) => arg !== "");
    let cwd: string | undefined;
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      cwd = undefined;
    }
    return { pid, argv, cwd };
  } catch {
    return undefined;
  }
}

/** True while the process exists and is not a zombie. */
export function isRunning(pid: number): boolean {
  return processInfo(pid) !== undefined;
}

/** Every pid in /proc, to find a server whose pid file was lost. */
export function listPids(): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map((name) => Number.parseInt(name, 10));
}

/** Reads a pid file; undefined when absent or not a pid. */
export function readPidFile(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, "utf8").trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** Writes a pid file. */
export function writePidFile(path: string, pid: number): void {
  writeFileSync(path, `${pid}\n`);
}

/** Removes a pid file if present. */
export function removePidFile(path: string): void {
  rmSync(path, { force: true });
}

// A marker before each run lets a start error quote only this run's lines of a log that accumulates.
function openLog(path: string, command: string, args: readonly string[]): number {
  const fd = openSync(path, "a");
  writeSync(fd, `${LOG_MARKER} ${new Date().toISOString()} ${command} ${args.join(" ")}\n`);
  return fd;
}

/** Options of spawnDetached. */
export interface SpawnDetachedOptions {
  /** Log file receiving stdout and stderr, appended to. */
  logFile: string;
  /** Working directory of the server. */
  cwd: string;
}

/**
 * Starts a server in a new session with its output appended to a log file, and lets this process exit
 * without waiting: the server must outlive the CLI that started it.
 */
export async function spawnDetached(
  command: string,
  args: readonly string[],
  options: SpawnDetachedOptions,
): Promise<DetachedProcess> {
  const fd = openLog(options.logFile, command, args);
  try {
    const child = spawn(command, args, { cwd: options.cwd, detached: true, stdio: ["ignore", fd, fd] });
    const exited = new Promise<ExitStatus>((resolve) => {
      child.once("exit", (code, signal) => resolve({ code, signal }));
      child.once("error", () => resolve({ code: null, signal: null }));
    });
    if (child.pid === undefined) {
      const error = await new Promise<Error>((resolve) => child.once("error", resolve));
      throw new StackError("STACK_START_FAILED", `cannot run ${command}: ${error.message}`, { cause: error });
    }
    child.unref();
    return { pid: child.pid, exited };
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(fd);
  }
}

/** Options of runCommand. */
export interface RunCommandOptions {
  /** "inherit" streams to this terminal; a log file path appends to it. */
  output: "inherit" | { logFile: string };
  /** Working directory. */
  cwd?: string;
  /** Variables added to this process's environment. */
  env?: Record<string, string>;
}

/** Runs a command to completion; fails with STACK_COMMAND_FAILED on a non-zero exit. */
export async function runCommand(
  command: string,
  args: readonly string[],
  options: RunCommandOptions,
): Promise<void> {
  const fd = options.output === "inherit" ? undefined : openLog(options.output.logFile, command, args);
  try {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env === undefined ? undefined : { ...process.env, ...options.env },
      stdio: fd === undefined ? "inherit" : ["ignore", fd, fd],
    });
    const status = await new Promise<ExitStatus>((resolve, reject) => {
      child.once("error", reject);
      child.once("exit", (code, signal) => resolve({ code, signal }));
    });
    if (status.code !== 0) {
      const how = status.signal === null ? `exit code ${status.code}` : `signal ${status.signal}`;
      throw new StackError("STACK_COMMAND_FAILED", `${command} ${args.join(" ")} failed (${how})`);
    }
  } catch (err) {
    if (err instanceof StackError) throw err;
    throw new StackError("STACK_COMMAND_FAILED", `cannot run ${command}: ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** How terminate ended a process. */
export type TerminateOutcome = "stopped" | "killed" | "gone";

/**
 * Sends a stop signal and waits for the process to disappear; `escalate` sends a second signal after
 * a while (servers that finish running work on the first and stop at once on the second); after the
 * timeout it is SIGKILLed, because a stack that cannot be stopped blocks the next `up` on its ports.
 */
export async function terminate(
  pid: number,
  signal: NodeJS.Signals,
  options: {
    timeoutMs: number;
    escalate?: { afterMs: number; signal: NodeJS.Signals };
    onEscalate?: () => void;
    onKill?: () => void;
  },
): Promise<TerminateOutcome> {
  if (!signalProcess(pid, signal)) return "gone";
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  let escalated = !options.escalate;
  while (Date.now() < deadline) {
    if (!isRunning(pid)) return "stopped";
    if (!escalated && options.escalate && Date.now() - started >= options.escalate.afterMs) {
      escalated = true;
      options.onEscalate?.();
      if (!signalProcess(pid, options.escalate.signal)) return "stopped";
    }
    await sleep(50);
  }
  options.onKill?.();
  signalProcess(pid, "SIGKILL");
  const killDeadline = Date.now() + 10_000;
  while (isRunning(pid) && Date.now() < killDeadline) await sleep(100);
  return "killed";
}

function signalProcess(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ESRCH") return false;
    throw new StackError("STACK_STOP_FAILED", `cannot send ${signal} to pid ${pid}: ${code}`, { cause: err });
  }
}
