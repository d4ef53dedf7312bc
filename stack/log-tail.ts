import { closeSync, fstatSync, openSync, readSync } from "node:fs";

/** Line prefix the stack writes into a log before each command it runs with that log. */
export const LOG_MARKER = "=== smstats stack:";

/** The last lines of a log file since the stack's last marker (empty when absent), quoted in start errors. */
export function tailLog(path: string, lines = 20): string {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return "";
  }
  try {
    // Reading only the end keeps this cheap on a server log that grew large.
    const size = fstatSync(fd).size;
    const length = Math.min(size, 16 * 1024);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    const all = buffer.toString("utf8").trimEnd().split("\n");
    const marker = all.findLastIndex((line) => line.startsWith(LOG_MARKER));
    return all.slice(Math.max(marker, all.length - lines)).join("\n");
  } finally {
    closeSync(fd);
  }
}
