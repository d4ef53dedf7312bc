import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE_NAME = "songmartyn-stats";

/**
 * The repository (or image) root: the nearest folder above `fromUrl` whose package.json is this
 * project's. Found by walking up rather than by a fixed depth, so the same modules work from their source
 * files and from the bundles `scripts/build-server.ts` writes (where every module's import.meta.url is the
 * bundle's).
 */
export function findRepoRoot(fromUrl: string): string {
  let dir = dirname(fileURLToPath(fromUrl));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, "utf8")) as { name?: unknown }).name === PACKAGE_NAME) return dir;
      } catch {
        // an unreadable package.json is not ours; keep walking
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no ${PACKAGE_NAME} package.json above ${fromUrl}`);
    dir = parent;
  }
}
