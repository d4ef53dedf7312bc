import { accessSync, constants, readdirSync } from "node:fs";
import { join } from "node:path";
import { readEnvironment } from "./environment.ts";

/** Where Debian installs the versioned PostgreSQL server binaries (`<root>/<version>/bin`). */
export const POSTGRES_LIB_ROOT = "/usr/lib/postgresql";

// A non-root PATH often lacks the sbin folders, where nats-server and clickhouse-server live.
const systemDirs = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/** Tells whether a path is an executable file. */
export type IsExecutable = (path: string) => boolean;

/** True when the file exists and this process may execute it. */
export const isExecutableFile: IsExecutable = (path) => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map((part) => Number.parseInt(part, 10) || 0);
  const pb = b.split(".").map((part) => Number.parseInt(part, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

/** Orders PostgreSQL version folder names numerically, highest first ("16" before "15" before "9.6"); drops non-versions. */
export function sortVersionsDescending(names: readonly string[]): string[] {
  return names.filter((name) => /^\d+(\.\d+)*$/.test(name)).sort((a, b) => compareVersions(b, a));
}

/**
 * The bin folder of the highest PostgreSQL version that has the server binaries, or none.
 * A higher folder can hold only a client (postgresql-client-N), so it is skipped rather than chosen.
 */
export function pickPostgresBinDir(
  versions: readonly string[],
  isExecutable: IsExecutable,
  root: string = POSTGRES_LIB_ROOT,
): string | undefined {
  for (const version of sortVersionsDescending(versions)) {
    const bin = join(root, version, "bin");
    if (isExecutable(join(bin, "postgres")) && isExecutable(join(bin, "initdb"))) return bin;
  }
  return undefined;
}

/** Reads /usr/lib/postgresql and returns the chosen bin folder as a list (empty when PostgreSQL is absent). */
export function postgresBinDirs(): string[] {
  let versions: string[];
  try {
    versions = readdirSync(POSTGRES_LIB_ROOT);
  } catch {
    return [];
  }
  const dir = pickPostgresBinDir(versions, isExecutableFile);
  return dir === undefined ? [] : [dir];
}

/** Finds an executable: the service's preferred folders first, then PATH, then the system folders. */
export function locateBinary(
  name: string,
  preferred: readonly string[],
  searchPath: readonly string[],
  isExecutable: IsExecutable,
): string | undefined {
  for (const dir of [...preferred, ...searchPath, ...systemDirs]) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** locateBinary against this machine's PATH and file system. */
export function locateOnThisMachine(name: string, preferred: readonly string[]): string | undefined {
  return locateBinary(name, preferred, readEnvironment().searchPath, isExecutableFile);
}
