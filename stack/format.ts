import type { StackDownResult } from "./down.ts";
import type { StackStatus } from "./status.ts";
import type { StackUpResult } from "./up.ts";

function row(name: string, state: string, pid: number | undefined, address: string): string {
  return `${name.padEnd(12)}${state.padEnd(13)}${(pid === undefined ? "-" : `pid ${pid}`).padEnd(12)}${address}`.trimEnd();
}

/** Lines printed by `up`. */
export function formatUp(result: StackUpResult): string[] {
  const allUp = result.services.every((service) => service.action === "already-up");
  return [
    ...result.services.map((s) =>
      row(s.name, s.action === "started" ? "started" : "already up", s.pid, s.address),
    ),
    allUp ? `stack already up (data ${result.dataDir})` : `stack up (data ${result.dataDir})`,
    `${result.stackFileWritten ? "wrote" : "unchanged"} ${result.stackFilePath}`,
  ];
}

/** Lines printed by `down`. */
export function formatDown(result: StackDownResult): string[] {
  const words = { stopped: "stopped", killed: "killed", "not-running": "not running" } as const;
  return [
    ...result.services.map((s) => row(s.name, words[s.action], s.pid, "")),
    `stack down (data kept in ${result.dataDir})`,
  ];
}

/** Lines printed by `status`. */
export function formatStatus(status: StackStatus): string[] {
  return status.services.map((s) => row(s.name, s.state, s.pid, s.address));
}
