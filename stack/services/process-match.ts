import { basename } from "node:path";
import type { ProcessInfo } from "../process.ts";

/** True when the process's program (first word of argv[0], so retitled servers match too) has this name. */
export function programIs(info: ProcessInfo, program: string): boolean {
  const first = info.argv[0]?.split(" ")[0];
  return first !== undefined && basename(first) === program;
}
