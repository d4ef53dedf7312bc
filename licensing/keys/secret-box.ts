import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { loadOrCreateKey } from "../../lib/keys/index.ts";
import { LicensingError } from "../errors.ts";

/** File name of the secret-box key inside <dataDir>/keys. */
const SECRET_BOX_FILE = "secret-box.key";

const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
// A leading format byte lets a later key rotation or algorithm change tell old boxes from new ones.
const FORMAT_V1 = 0x01;

/**
 * Encrypts small secrets at rest (AES-256-GCM). The context (e.g. an instance id) is bound as associated
 * data, so a sealed value copied to another row does not open there.
 */
export interface SecretBox {
  /** version byte ‖ 12-byte random nonce ‖ ciphertext ‖ 16-byte tag. */
  seal(plaintext: Uint8Array, context: string): Buffer;
  /** The plaintext, or SECRET_BOX_INVALID when the value was altered, moved or sealed with another key. */
  open(sealed: Uint8Array, context: string): Buffer;
}

/** A secret box over a 32-byte key. */
export function createSecretBox(key: Uint8Array): SecretBox {
  if (key.length !== KEY_BYTES) {
    throw new LicensingError(
      "SECRET_BOX_INVALID",
      `the secret-box key must be ${KEY_BYTES} bytes, not ${key.length}`,
    );
  }
  const k = Buffer.from(key);
  return {
    seal(plaintext, context) {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv("aes-256-gcm", k, nonce, { authTagLength: TAG_BYTES });
      cipher.setAAD(Buffer.from(context, "utf8"));
      const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return Buffer.concat([Buffer.of(FORMAT_V1), nonce, body, cipher.getAuthTag()]);
    },
    open(sealed, context) {
      const buf = Buffer.from(sealed);
      if (buf.length < 1 + NONCE_BYTES + TAG_BYTES || buf[0] !== FORMAT_V1) {
        throw new LicensingError("SECRET_BOX_INVALID", "not a sealed value of a known format");
      }
      const nonce = buf.subarray(1, 1 + NONCE_BYTES);
      const tag = buf.subarray(buf.length - TAG_BYTES);
      const body = buf.subarray(1 + NONCE_BYTES, buf.length - TAG_BYTES);
      try {
        const decipher = createDecipheriv("aes-256-gcm", k, nonce, { authTagLength: TAG_BYTES });
        decipher.setAAD(Buffer.from(context, "utf8"));
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(body), decipher.final()]);
      } catch (err) {
        throw new LicensingError("SECRET_BOX_INVALID", "a sealed value failed authentication", {
          cause: err,
        });
      }
    },
  };
}

/**
 * The secret box keyed by <dataDir>/keys/secret-box.key, generating 32 random bytes at first use. Losing
 * this file makes every stored signing secret unreadable (instances then register again).
 */
export async function loadSecretBox(dataDir: string): Promise<SecretBox> {
  return createSecretBox(await loadOrCreateKey(dataDir, SECRET_BOX_FILE, KEY_BYTES));
}
