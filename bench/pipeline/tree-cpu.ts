import { readdirSync, readFileSync } from "node:fs";
import { processCpuSeconds } from "../ingest/cpu.ts";

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

/** A process and all its descendants (PostgreSQL serves each connection from a child process). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const parent = parentOf(pid);
    if (parent !== undefined) children.set(parent, [...(children.get(parent) ?? []), pid]);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop() as number;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/**
 * Starts measuring the CPU of whole process trees; the returned function gives cores used since, per name.
 * Processes that end in between lose their time (connection backends live as long as the pools here).
 */
export function startTreeCpuMeter(
  roots: Record<string, number | undefined>,
): () => Record<string, number | undefined> {
  const t0 = performance.now();
  const sum = (root: number | undefined) =>
    root === undefined
      ? undefined
      : processTree(root).reduce((a, pid) => a + (processCpuSeconds(pid) ?? 0), 0);
  const before = Object.fromEntries(Object.entries(roots).map(([k, pid]) => [k, sum(pid)]));
  return () => {
    const seconds = (performance.now() - t0) / 1000;
    return Object.fromEntries(
      Object.entries(roots).map(([k, pid]) => {
        const a = before[k];
        const b = sum(pid);
        return [k, a === undefined || b === undefined ? undefined : Math.max(0, b - a) / seconds];
      }),
    );
  };
}
