import { KeyFileError, loadOrCreateKey } from "../../../lib/keys/index.ts";

/** File name of the anonymization HMAC key inside <dataDir>/keys. */
export const ANONYMIZE_KEY_FILE = "anonymize.key";

const KEY_BYTES = 32;

/** The anonymization key file is unreadable or not a key. */
export class AnonymizeSecretError extends Error {
  override readonly name = "AnonymizeSecretError";
  readonly code = "ANONYMIZE_SECRET_INVALID";
}

/**
 * The HMAC key in <dataDir>/keys/anonymize.key, generating 32 random bytes at first start. Every processor
 * must read the same file (on Kubernetes, one Secret mounted on all of them), and it must never change:
 * a new key gives every song and user new hashes, so counts across the change no longer match.
 */
export async function loadAnonymizeSecret(dataDir: string): Promise<Buffer> {
  try {
    return await loadOrCreateKey(dataDir, ANONYMIZE_KEY_FILE, KEY_BYTES);
  } catch (err) {
    if (err instanceof KeyFileError) throw new AnonymizeSecretError(err.message, { cause: err });
    throw err;
  }
}
