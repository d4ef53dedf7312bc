import { execFileSync } from "node:child_process";
import { statSync } from "node:fs";
import { dirname } from "node:path";
import { StackError } from "../errors.ts";

/** A system account and its ids, as `id` reports them. */
export interface SystemUser {
  /** Login name. */
  name: string;
  /** User id. */
  uid: number;
  /** Primary group id. */
  gid: number;
  /** All group ids, primary included. */
  groups: number[];
}

/** Looks a system user up with `id` (so NSS sources beyond /etc/passwd count too). */
export function lookupSystemUser(name: string): SystemUser {
  const id = (flag: string) => {
    try {
      return execFileSync("id", [flag, name], { encoding: "utf8" }).trim();
    } catch (err) {
      throw new StackError(
        "STACK_START_FAILED",
        `system user ${name} does not exist (is its package installed?)`,
        {
          cause: err,
        },
      );
    }
  };
  return {
    name,
    uid: Number.parseInt(id("-u"), 10),
    gid: Number.parseInt(id("-g"), 10),
    groups: id("-G")
      .split(/\s+/)
      .map((group) => Number.parseInt(group, 10)),
  };
}

/** Owner and mode of one folder. */
export interface FolderStat {
  /** Absolute path. */
  path: string;
  /** Owner uid. */
  uid: number;
  /** Group gid. */
  gid: number;
  /** Mode bits. */
  mode: number;
}

/** Pure: the first folder the user may not enter (no matching execute bit), or undefined when all are traversable. */
export function firstUntraversable(folders: readonly FolderStat[], user: SystemUser): string | undefined {
  for (const folder of folders) {
    const bit =
      folder.uid === user.uid
        ? 0o100
        : user.groups.includes(folder.gid) || folder.gid === user.gid
          ? 0o010
          : 0o001;
    if ((folder.mode & bit) === 0) return folder.path;
  }
  return undefined;
}

/** Stats every ancestor of a folder, root first (the folder itself excluded). */
export function ancestorStats(dir: string): FolderStat[] {
  const chain: string[] = [];
  for (let current = dirname(dir); ; current = dirname(current)) {
    chain.unshift(current);
    if (dirname(current) === current) break;
  }
  return chain.map((path) => {
    const stat = statSync(path);
    return { path, uid: stat.uid, gid: stat.gid, mode: stat.mode };
  });
}

/** Fails clearly when the user cannot reach a folder, before a server fails obscurely inside it. */
export function assertTraversable(dir: string, user: SystemUser): void {
  const blocked = firstUntraversable(ancestorStats(dir), user);
  if (blocked !== undefined) {
    throw new StackError(
      "STACK_NOT_TRAVERSABLE",
      `the ${user.name} user cannot enter ${blocked}, so PostgreSQL cannot use ${dir}; ` +
        `allow it (chmod o+x ${blocked}) or choose another data folder with SMSTATS_DATA_DIR`,
    );
  }
}
