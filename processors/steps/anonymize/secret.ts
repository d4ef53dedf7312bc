import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
// The key-file helpers are licensing's; they are reused here rather than copied (see the report).
import {
  ensureKeysDir,
  isAlreadyExists,
  isMissing,
  publishKeyFile,
} from "../../../licensing/keys/key-files.ts";

/** File name of the anonymization HMAC key inside <dataDir>/keys. */
export const ANONYMIZE_KEY_FILE = "anonymize.key";

const KEY_BYTES = 32;

/** The anonymization key file is unreadable or not a key. */
export class AnonymizeSecretError extends Error {
  override readonly name = "AnonymizeSecretError";
  readonly code = "ANONYMIZE_SECRET_INVALID";
}

async function readKey(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw new AnonymizeSecretError(`cannot read ${path}`, { cause: err });
  }
}

/**
 * The HMAC key in <dataDir>/keys/anonymize.key, generating 32 random bytes at first start. Every processor
 * must read the same file (on Kubernetes, one Secret mounted on all of them), and it must never change:
 * a new key gives every song and user new hashes, so counts across the change no longer match.
 */
export async function loadAnonymizeSecret(dataDir: string): Promise<Buffer> {
  const dir = await ensureKeysDir(dataDir);
  const path = join(dir, ANONYMIZE_KEY_FILE);
  let key = await readKey(path);
  if (!key) {
    try {
      await publishKeyFile(path, randomBytes(KEY_BYTES), false);
    } catch (err) {
      // A processor starting beside us wrote it first; theirs is the one everyone must use.
      if (!isAlreadyExists(err)) throw err;
    }
    key = await readKey(path);
  }
  if (key?.length !== KEY_BYTES) {
    throw new AnonymizeSecretError(`${path} must hold ${KEY_BYTES} bytes, not ${key?.length ?? 0}`);
  }
  return key;
}
