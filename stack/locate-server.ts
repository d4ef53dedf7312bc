import { listPids, processInfo, readPidFile } from "./process.ts";
import type { Service, ServiceContext } from "./service.ts";

/** Where a service's server is, as far as the pid file and /proc tell. */
export interface LocatedServer {
  /** Pid of this stack's running server, if any. */
  pid: number | undefined;
  /** Pid found in the pid file that is dead or belongs to another program. */
  stalePid: number | undefined;
}

/**
 * Trusts the pid file only when /proc confirms the process is this stack's server, then falls back to
 * scanning /proc, so a lost or stale pid file neither hides a running server nor points at a stranger.
 */
export function locateServer(service: Service, ctx: ServiceContext): LocatedServer {
  const recorded = readPidFile(ctx.paths.pidFile(service.name));
  if (recorded !== undefined) {
    const info = processInfo(recorded);
    if (info !== undefined && service.ownsProcess(info, ctx)) return { pid: recorded, stalePid: undefined };
  }
  for (const pid of listPids()) {
    if (pid === recorded) continue;
    const info = processInfo(pid);
    if (info !== undefined && service.ownsProcess(info, ctx)) return { pid, stalePid: recorded };
  }
  return { pid: undefined, stalePid: recorded };
}
