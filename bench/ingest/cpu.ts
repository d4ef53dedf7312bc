import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** CPU time of processes over a stretch of wall time, as a fraction of one core (1 = one core busy). */
export interface CpuShare {
  /** This process: the load generator (autocannon and the body factory share its event loop). */
  generator: number;
  /** The other processes watched, by name; undefined where /proc could not be read (not Linux, gone). */
  others: Record<string, number | undefined>;
}

// Clock ticks per second of /proc/<pid>/stat times; 100 on every Linux this runs on, asked once anyway.
const ticksPerSecond = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU seconds of a process and all its threads, from /proc; undefined when unreadable. */
export function processCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
  } catch {
    return undefined;
  }
}

/** Starts measuring; the returned function gives the CPU shares since then. */
export function startCpuMeter(pids: Record<string, number | undefined>): () => CpuShare {
  const wall = process.hrtime.bigint();
  const self = process.cpuUsage();
  const before = Object.fromEntries(
    Object.entries(pids).map(([name, pid]) => [name, pid === undefined ? undefined : processCpuSeconds(pid)]),
  );
  return () => {
    const seconds = Number(process.hrtime.bigint() - wall) / 1e9;
    const used = process.cpuUsage(self);
    const others: Record<string, number | undefined> = {};
    for (const [name, pid] of Object.entries(pids)) {
      const start = before[name];
      const end = pid === undefined ? undefined : processCpuSeconds(pid);
      others[name] = start === undefined || end === undefined ? undefined : (end - start) / seconds;
    }
    return { generator: (used.user + used.system) / 1e6 / seconds, others };
  };
}
