import { delimiter } from "node:path";

/** What the stack takes from the process environment, read in this one place. */
export interface StackEnvironment {
  /** SMSTATS_DATA_DIR, the stack's only setting; undefined when unset or empty. */
  dataDir: string | undefined;
  /** PATH folders, used only to find server executables the way a shell would. */
  searchPath: readonly string[];
}

/** Reads the environment once; everything else in stack/ receives these values. */
export function readEnvironment(): StackEnvironment {
  const dataDir = process.env.SMSTATS_DATA_DIR;
  return {
    dataDir: dataDir === undefined || dataDir === "" ? undefined : dataDir,
    searchPath: (process.env.PATH ?? "").split(delimiter).filter((dir) => dir !== ""),
  };
}
