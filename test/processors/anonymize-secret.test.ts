import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ANONYMIZE_KEY_FILE, loadAnonymizeSecret } from "../../processors/steps/anonymize/index.ts";
import { tempDataDir } from "../licensing/temp-data-dir.ts";

const dirs: { remove: () => void }[] = [];
const fresh = () => {
  const d = tempDataDir();
  dirs.push(d);
  return d.dir;
};
afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});

describe("loadAnonymizeSecret", () => {
  it("generates a 32-byte key readable only by the service's user at first start, then reuses it", async () => {
    const dir = fresh();
    const first = await loadAnonymizeSecret(dir);
    expect(first).toHaveLength(32);
    const path = join(dir, "keys", ANONYMIZE_KEY_FILE);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path)).toEqual(first);
    expect(await loadAnonymizeSecret(dir)).toEqual(first);
  });

  it("gives processors starting at once the same key", async () => {
    const dir = fresh();
    const keys = await Promise.all([1, 2, 3, 4].map(() => loadAnonymizeSecret(dir)));
    for (const k of keys) expect(k).toEqual(keys[0]);
  });

  it("refuses a key file of the wrong size rather than hashing with it", async () => {
    const dir = fresh();
    await loadAnonymizeSecret(dir);
    writeFileSync(join(dir, "keys", ANONYMIZE_KEY_FILE), "too short");
    await expect(loadAnonymizeSecret(dir)).rejects.toMatchObject({ code: "ANONYMIZE_SECRET_INVALID" });
  });
});
