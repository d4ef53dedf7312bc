import { readFileSync } from "node:fs";

function ticks(): { idle: number; total: number } | undefined {
  try {
    const f = (readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "")
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    // user nice system idle iowait irq softirq steal (guest is inside user)
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { idle: (f[3] ?? 0) + (f[4] ?? 0), total };
  } catch {
    return undefined;
  }
}

/** The machine's idle share of all its cores over `ms` (1 = every core idle); undefined off Linux. */
export async function machineIdle(ms: number): Promise<number | undefined> {
  const a = ticks();
  await new Promise((r) => setTimeout(r, ms));
  const b = ticks();
  if (!a || !b || b.total === a.total) return undefined;
  return (b.idle - a.idle) / (b.total - a.total);
}
