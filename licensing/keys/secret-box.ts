import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { keysDir, loadOrCreateKey, publishKeyFile } from "../../lib/keys/index.ts";
import { LicensingError } from "../errors.ts";

/** File name of the secret-box key inside <dataDir>/keys. */
const SECRET_BOX_FILE = "secret-box.key";

const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
// A leading format byte lets a later key rotation or algorithm change tell old boxes from new ones.
const FORMAT_V1 = 0x01;
const FORMAT_V2 = 0x02;

/**
 * Encrypts small secrets at rest (AES-256-GCM). The context (e.g. an instance id) is bound as associated
 * data, so a sealed value copied to another row does not open there. Keys rotate: every sealed value
 * names its key (format 1: the first key, secret-box.key; format 2: a numbered key, secret-box.N.key),
 * new values are sealed with the newest key and the older keys still open what they sealed, until a
 * re-seal (`smstats admin reseal`) has moved every value to the newest one.
 */
export interface SecretBox {
  /** Format 1: 0x01 ‖ nonce ‖ ciphertext ‖ tag; format 2: 0x02 ‖ key id (u16) ‖ nonce ‖ ciphertext ‖ tag. */
  seal(plaintext: Uint8Array, context: string): Buffer;
  /** The plaintext, or SECRET_BOX_INVALID when the value was altered, moved or sealed with an unknown key. */
  open(sealed: Uint8Array, context: string): Buffer;
  /** The id of the key new values are sealed with (0: secret-box.key). */
  readonly currentKeyId: number;
  /** The id of the key a sealed value names, or undefined when it is of no known format. */
  keyIdOf(sealed: Uint8Array): number | undefined;
}

/** The key id a sealed value names (format 1 is key 0), or undefined. */
function keyIdOf(sealed: Uint8Array): number | undefined {
  if (sealed[0] === FORMAT_V1 && sealed.length >= 1 + NONCE_BYTES + TAG_BYTES) return 0;
  if (sealed[0] === FORMAT_V2 && sealed.length >= 3 + NONCE_BYTES + TAG_BYTES)
    return (sealed[1] as number) * 256 + (sealed[2] as number);
  return undefined;
}

function checkKey(key: Uint8Array): Buffer {
  if (key.length !== KEY_BYTES) {
    throw new LicensingError(
      "SECRET_BOX_INVALID",
      `the secret-box key must be ${KEY_BYTES} bytes, not ${key.length}`,
    );
  }
  return Buffer.from(key);
}

/** A secret box over a 32-byte key (key id 0, format 1). */
export function createSecretBox(key: Uint8Array): SecretBox {
  return createRotatingSecretBox(new Map([[0, key]]));
}

/** A secret box over numbered keys; the highest id seals, every id opens. */
export function createRotatingSecretBox(keys: ReadonlyMap<number, Uint8Array>): SecretBox {
  const ring = new Map([...keys].map(([id, k]) => [id, checkKey(k)] as const));
  if (ring.size === 0) throw new LicensingError("SECRET_BOX_INVALID", "no secret-box key");
  const current = Math.max(...ring.keys());
  const currentKey = ring.get(current) as Buffer;
  const prefix = current === 0 ? Buffer.of(FORMAT_V1) : Buffer.of(FORMAT_V2, current >> 8, current & 0xff);
  return {
    currentKeyId: current,
    keyIdOf,
    seal(plaintext, context) {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv("aes-256-gcm", currentKey, nonce, { authTagLength: TAG_BYTES });
      cipher.setAAD(Buffer.from(context, "utf8"));
      const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return Buffer.concat([prefix, nonce, body, cipher.getAuthTag()]);
    },
    open(sealed, context) {
      const buf = Buffer.from(sealed);
      const id = keyIdOf(buf);
      if (id === undefined) {
        throw new LicensingError("SECRET_BOX_INVALID", "not a sealed value of a known format");
      }
      const k = ring.get(id);
      if (!k)
        throw new LicensingError(
          "SECRET_BOX_INVALID",
          `sealed with secret-box key ${id}, which is not loaded`,
        );
      const head = buf[0] === FORMAT_V1 ? 1 : 3;
      const nonce = buf.subarray(head, head + NONCE_BYTES);
      const tag = buf.subarray(buf.length - TAG_BYTES);
      const body = buf.subarray(head + NONCE_BYTES, buf.length - TAG_BYTES);
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

const NUMBERED_KEY = /^secret-box\.([1-9][0-9]{0,4})\.key$/;

/**
 * The secret box of <dataDir>/keys: secret-box.key (generated, 32 random bytes, at first use) plus every
 * rotated secret-box.N.key. Losing these files makes every sealed value unreadable (signing secrets,
 * owner emails, addresses; instances then register again).
 */
export async function loadSecretBox(dataDir: string): Promise<SecretBox> {
  const keys = new Map<number, Uint8Array>([[0, await loadOrCreateKey(dataDir, SECRET_BOX_FILE, KEY_BYTES)]]);
  for (const name of await readdir(keysDir(dataDir))) {
    const id = NUMBERED_KEY.exec(name)?.[1];
    if (id) keys.set(Number(id), await loadOrCreateKey(dataDir, name, KEY_BYTES));
  }
  return createRotatingSecretBox(keys);
}

/**
 * Adds the next numbered key (secret-box.N.key): processes loading the box from now on seal with it.
 * Old keys stay, so every value sealed before still opens; `smstats admin reseal` moves them over.
 */
export async function rotateSecretBox(dataDir: string): Promise<number> {
  const before = await loadSecretBox(dataDir);
  const next = before.currentKeyId + 1;
  await publishKeyFile(join(keysDir(dataDir), `secret-box.${next}.key`), randomBytes(KEY_BYTES), false);
  return next;
}
