import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A fresh temporary data folder, so tests never write keys into the repository. */
export function tempDataDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "smstats-keys-"));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
