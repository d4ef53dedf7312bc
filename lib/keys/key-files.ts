import { randomBytes } from "node:crypto";
import { chmod, link, mkdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** Mode of the keys folder: only the service's user may list or enter it. */
export const KEY_DIR_MODE = 0o700;
/** Mode of every key file, public ones included: nothing under keys/ is meant for other users. */
export const KEY_FILE_MODE = 0o600;

/** The keys folder of a data folder. */
export function keysDir(dataDir: string): string {
  return join(dataDir, "keys");
}

/** Creates the keys folder when missing and tightens its mode when it exists looser. */
export async function ensureKeysDir(dataDir: string): Promise<string> {
  const dir = keysDir(dataDir);
  await mkdir(dir, { recursive: true, mode: KEY_DIR_MODE });
  // mkdir leaves an existing folder's mode alone, and the umask may have loosened a new one.
  await chmod(dir, KEY_DIR_MODE);
  return dir;
}

/** Writes a new key file; fails if the name is taken, so a key is never overwritten. */
export async function writeNewKeyFile(path: string, data: string | Uint8Array): Promise<void> {
  await writeFile(path, data, { mode: KEY_FILE_MODE, flag: "wx" });
}

/**
 * Puts a file in place whole: readers see either no file or the complete one, never a partial write.
 * With replace=false it fails with EEXIST when the file exists (hard links never replace), which is how
 * two processes starting at once agree on one generated key.
 */
export async function publishKeyFile(
  path: string,
  data: string | Uint8Array,
  replace: boolean,
): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  await writeNewKeyFile(tmp, data);
  try {
    if (replace) await rename(tmp, path);
    else await link(tmp, path);
  } catch (err) {
    // The temporary file is ours alone; the error worth reporting is the one that got us here.
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  if (!replace) await unlink(tmp);
}

/** Whether an error is "the file already exists". */
export function isAlreadyExists(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === "EEXIST";
}

/** Whether an error is "no such file". */
export function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === "ENOENT";
}

/** A key file is unreadable or of the wrong size. */
export class KeyFileError extends Error {
  override readonly name = "KeyFileError";
  readonly code = "KEY_FILE_INVALID";
}

/**
 * The `bytes`-long secret in <dataDir>/keys/<fileName>, generated (random) at first use. Processes
 * starting together agree on one key: the first to publish the file wins and the others read it.
 */
export async function loadOrCreateKey(dataDir: string, fileName: string, bytes: number): Promise<Buffer> {
  const dir = await ensureKeysDir(dataDir);
  const path = join(dir, fileName);
  const read = async () => {
    try {
      return await readFile(path);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw new KeyFileError(`cannot read ${path}`, { cause: err });
    }
  };
  let key = await read();
  if (!key) {
    try {
      await publishKeyFile(path, randomBytes(bytes), false);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    key = await read();
  }
  if (key?.length !== bytes)
    throw new KeyFileError(`${path} must hold ${bytes} bytes, not ${key?.length ?? 0}`);
  return key;
}
