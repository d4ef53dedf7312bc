import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../../stack/paths.ts";

interface LockEntry {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

/** Where npm looks up a dependency of the package at `from`: nested first, then each folder up. */
function resolveEntry(
  packages: Record<string, LockEntry>,
  from: string,
  name: string,
): LockEntry | undefined {
  let dir = from;
  for (;;) {
    const key = `${dir === "" ? "" : `${dir}/`}node_modules/${name}`;
    if (packages[key]) return packages[key];
    if (dir === "") return undefined;
    const at = dir.lastIndexOf("/node_modules/");
    dir = at < 0 ? "" : dir.slice(0, at);
  }
}

describe("package-lock.json", () => {
  const lock = JSON.parse(readFileSync(join(repoRoot, "package-lock.json"), "utf8")) as {
    packages: Record<string, LockEntry>;
  };

  // `npm ci` refuses a lock that misses any package's optional dependency, even one for another
  // platform; `npm install` on a registry that serves only this platform's packages drops them.
  it("lists every optional dependency of every locked package, so `npm ci` accepts it", () => {
    const missing: string[] = [];
    for (const [path, entry] of Object.entries(lock.packages)) {
      for (const name of Object.keys(entry.optionalDependencies ?? {})) {
        if (!resolveEntry(lock.packages, path, name)) missing.push(`${path || "(root)"} → ${name}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
