import { type TerminateOutcome, terminate } from "../process.ts";
import type { ServiceContext } from "../service.ts";

/** How long a server gets to shut down before SIGKILL. */
export const STOP_TIMEOUT_MS = 10_000;

/**
 * Stops a server with its graceful signal, warning when it had to be killed after `timeoutMs`.
 * `escalate` is the server's own "stop now" signal, sent when the graceful stop takes longer than its
 * `afterMs` (PostgreSQL's immediate shutdown).
 */
export function stopServer(
  ctx: ServiceContext,
  name: string,
  pid: number,
  signal: NodeJS.Signals,
  escalate?: { afterMs: number; signal: NodeJS.Signals },
  timeoutMs = STOP_TIMEOUT_MS,
): Promise<TerminateOutcome> {
  return terminate(pid, signal, {
    timeoutMs,
    escalate,
    onEscalate: () =>
      ctx.log(
        `${name} (pid ${pid}) still running ${(escalate?.afterMs ?? 0) / 1000} s after ${signal}; sending ${escalate?.signal}`,
      ),
    onKill: () =>
      ctx.log(
        `warning: ${name} (pid ${pid}) still running ${timeoutMs / 1000} s after ${signal}; sending SIGKILL`,
      ),
  });
}
