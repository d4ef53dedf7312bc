import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** CPU time of processes over a stretch of wall time, as a fraction of one core (1 = one core busy). */
export interface CpuShare {
  /** This process: the load generator (autocannon and the body factory share its event loop). */
  generator: number;
  /** The other processes watched, by name; undefined where /proc could not be read (not Linux, gone). */
  others: Record<string, number | undefined>;
  /** The whole machine, every process and the kernel (softirq included), in cores; undefined off Linux. */
  machine: number | undefined;
  /** Time the hypervisor gave to other guests, in cores: CPU this box was meant to have but did not. */
  steal: number | undefined;
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

/** Busy, steal and total jiffies of all CPUs together, from the first line of /proc/stat. */
function machineTicks(): { busy: number; steal: number } | undefined {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
    // cpu  user nice system idle iowait irq softirq steal guest guest_nice (guest time is inside user)
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    return { busy: user + nice + system + irq + softirq, steal };
  } catch {
    return undefined;
  }
}

/** Starts measuring; the returned function gives the CPU shares since then. */
export function startCpuMeter(pids: Record<string, number | undefined>): () => CpuShare {
  const wall = process.hrtime.bigint();
  const self = process.cpuUsage();
  const box = machineTicks();
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
    const boxNow = machineTicks();
    const share = (pick: (t: { busy: number; steal: number }) => number) =>
      box && boxNow ? (pick(boxNow) - pick(box)) / ticksPerSecond / seconds : undefined;
    return {
      generator: (used.user + used.system) / 1e6 / seconds,
      others,
      machine: share((t) => t.busy),
      steal: share((t) => t.steal),
    };
  };
}
