import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

// Why the benches wait after dropping a database (measured in issue 19's last session, see README
// "Capacity"): this machine's root filesystem is ext4 without a journal, and there ext4, on every file it
// creates, skips each free inode of the group deleted in the last 60 s (360 s while that inode's table
// block is dirty): fs/ext4/ialloc.c, recently_deleted(), checked only when the filesystem has no journal.
// ClickHouse writes about 38 files per part, so a DROP DATABASE of a bench run (30,000+ files) makes every
// part written in the next minutes walk those inodes: perf showed 50-70 % of ClickHouse's CPU in
// recently_deleted() and find_inode_bit(), and the same 508,000 rows in 60 inserts cost ClickHouse 5.6 s of
// system CPU a minute after the drop and 21-30 s right after it. A phase measured right after another
// phase's drop pays for that drop; so each bench writes when it last dropped, and waits before measuring.

const SETTLE_MS = 65_000;
const markFile = (dataDir: string) => join(dataDir, "bench", "last-drop");

/** Records that a bench just dropped ClickHouse data (its files are deleted now). */
export function noteDrop(dataDir: string): void {
  mkdirSync(join(dataDir, "bench"), { recursive: true });
  writeFileSync(markFile(dataDir), `${Date.now()}\n`);
}

/**
 * Writes dirty filesystem buffers out (`sync`: a clean inode-table block makes ext4 forget a deleted inode
 * after 60 s instead of 360 s) and waits until 65 s have passed since a bench last dropped data.
 */
export async function settleAfterDrops(dataDir: string): Promise<void> {
  let last = 0;
  try {
    last = Number(readFileSync(markFile(dataDir), "utf8").trim()) || 0;
  } catch {
    return;
  }
  const waitMs = last + SETTLE_MS - Date.now();
  if (waitMs <= 0) return;
  try {
    execFileSync("sync");
  } catch {
    // No sync command: the wait alone still helps.
  }
  console.error(
    `waiting ${Math.ceil(waitMs / 1000)} s: ClickHouse data was dropped ${Math.round((Date.now() - last) / 1000)} s ago, and creating files on this filesystem is slow until it forgets the deleted ones (bench/fs-settle.ts)`,
  );
  await new Promise((r) => setTimeout(r, waitMs));
}

/**
 * The mount (from /proc/self/mountinfo's text) holding `path`: the longest mount point it is under.
 * Mount points with spaces come octal-escaped (\040), as the kernel writes them.
 */
export function mountOf(
  mountinfo: string,
  path: string,
): { mountPoint: string; fsType: string; source: string } | undefined {
  let best: { mountPoint: string; fsType: string; source: string } | undefined;
  for (const line of mountinfo.split("\n")) {
    const [left, right] = line.split(" - ");
    if (!left || !right) continue;
    const mountPoint = (left.split(" ")[4] ?? "").replace(/\\([0-7]{3})/g, (_, o) =>
      String.fromCharCode(Number.parseInt(o, 8)),
    );
    const [fsType = "", source = ""] = right.split(" ");
    const under = mountPoint === "/" || path === mountPoint || path.startsWith(`${mountPoint}/`);
    if (under && (!best || mountPoint.length >= best.mountPoint.length))
      best = { mountPoint, fsType, source };
  }
  return best;
}

/**
 * A warning when `path` is on ext4 without a journal (the case above), read from /proc and /sys;
 * undefined otherwise or off Linux.
 */
export function journallessExt4Warning(path: string): string | undefined {
  try {
    const mount = mountOf(readFileSync("/proc/self/mountinfo", "utf8"), path);
    if (mount?.fsType !== "ext4") return undefined;
    const device = mount.source.split("/").pop() ?? "";
    const task = readFileSync(`/sys/fs/ext4/${device}/journal_task`, "utf8").trim();
    if (task !== "<none>") return undefined;
    return `note: ClickHouse's data is on ext4 without a journal (${mount.source} on ${mount.mountPoint}): every file it creates walks the inodes deleted in the last minutes, so its CPU per insert here is higher than on a journaled filesystem and varies with what was deleted before (README, Capacity)`;
  } catch {
    return undefined;
  }
}
