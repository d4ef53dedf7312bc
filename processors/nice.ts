import { readdirSync } from "node:fs";
import { setPriority } from "node:os";

/**
 * Lowers this process's scheduling priority to `nice`, every thread of it: on Linux a niceness belongs to
 * a thread, and the threads V8 and libuv started before this call keep their own otherwise (threads
 * started later inherit it). Answers the threads changed; 0 changes nothing. Where /proc is missing only
 * the calling thread is changed.
 */
export function lowerPriority(nice: number): number {
  if (nice <= 0) return 0;
  let tids: number[];
  try {
    tids = readdirSync("/proc/self/task").map(Number);
  } catch {
    setPriority(nice);
    return 1;
  }
  let changed = 0;
  for (const tid of tids) {
    try {
      setPriority(tid, nice);
      changed++;
    } catch {
      // A thread that ended since the listing.
    }
  }
  return changed;
}
