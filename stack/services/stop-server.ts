import { type TerminateOutcome, terminate } from "../process.ts";
import type { ServiceContext } from "../service.ts";

/** How long a server gets to shut down gracefully before SIGKILL. */
export const STOP_TIMEOUT_MS = 30_000;

/** Stops a server with its graceful signal, warning when it had to be killed. */
export function stopServer(
  ctx: ServiceContext,
  name: string,
  pid: number,
  signal: NodeJS.Signals,
): Promise<TerminateOutcome> {
  return terminate(pid, signal, {
    timeoutMs: STOP_TIMEOUT_MS,
    onKill: () =>
      ctx.log(
        `warning: ${name} (pid ${pid}) still running ${STOP_TIMEOUT_MS / 1000} s after ${signal}; sending SIGKILL`,
      ),
  });
}
