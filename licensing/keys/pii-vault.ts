import { createHmac } from "node:crypto";
import { loadOrCreateKey } from "../../lib/keys/index.ts";
import { loadSecretBox, type SecretBox } from "./secret-box.ts";

/** File name of the blind-index key inside <dataDir>/keys (its own key: never the secret box's). */
const BLIND_INDEX_FILE = "blind-index.key";
const BLIND_INDEX_BYTES = 32;

// Associated data of each kind of sealed personal field: an email never opens as an address.
const EMAIL_CONTEXT = "pii:email";
const ADDRESS_CONTEXT = "pii:address";

/**
 * Personal fields sealed at rest in PostgreSQL (owner emails, client addresses): sealed with the
 * secret box, and looked up through a keyed blind index (HMAC-SHA256 with its own key) where a lookup
 * by value is needed. The index of an email is over its trimmed, lower-cased form, so lookups ignore case.
 */
export interface PiiVault {
  readonly box: SecretBox;
  sealEmail(email: string): Buffer;
  /** The blind index of an email (32 bytes): equal for equal emails, whatever their case. */
  emailIndex(email: string): Buffer;
  /** The email, or null when there is none or it does not open (unknown key, altered). */
  openEmail(sealed: Uint8Array | null): string | null;
  sealAddress(address: string): Buffer;
  /** The address, or null when there is none (purged) or it does not open. */
  openAddress(sealed: Uint8Array | null): string | null;
  /** A keyed digest of an address (hex, 32 chars) for subjects that group by address without holding it. */
  addressTag(address: string): string;
}

/** Normalises an email for its blind index. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** Hooks of a vault. */
export interface PiiVaultOptions {
  /** Told of a sealed value that did not open (it then reads as null), so it is counted, not swallowed. */
  onUnreadable?: (kind: "email" | "address") => void;
}

/** A vault over a secret box and a blind-index key. */
export function createPiiVault(
  box: SecretBox,
  blindIndexKey: Uint8Array,
  opts: PiiVaultOptions = {},
): PiiVault {
  const key = Buffer.from(blindIndexKey);
  const mac = (kind: string, value: string) => createHmac("sha256", key).update(`${kind}\0${value}`).digest();
  // A value that does not open (sealed with a key no longer held, or altered) reads as absent: one bad
  // row must not take a whole listing down.
  const open = (sealed: Uint8Array | null, context: string) => {
    if (sealed === null) return null;
    try {
      return box.open(sealed, context).toString("utf8");
    } catch {
      opts.onUnreadable?.(context === EMAIL_CONTEXT ? "email" : "address");
      return null;
    }
  };
  return {
    box,
    sealEmail: (email) => box.seal(Buffer.from(email, "utf8"), EMAIL_CONTEXT),
    emailIndex: (email) => mac("email", normalizeEmail(email)),
    openEmail: (sealed) => open(sealed, EMAIL_CONTEXT),
    sealAddress: (address) => box.seal(Buffer.from(address, "utf8"), ADDRESS_CONTEXT),
    openAddress: (sealed) => open(sealed, ADDRESS_CONTEXT),
    addressTag: (address) => mac("address", address).subarray(0, 16).toString("hex"),
  };
}

/** The vault of <dataDir>/keys (secret box plus blind-index key, each generated at first use). */
export async function loadPiiVault(
  dataDir: string,
  box?: SecretBox,
  opts: PiiVaultOptions = {},
): Promise<PiiVault> {
  return createPiiVault(
    box ?? (await loadSecretBox(dataDir)),
    await loadOrCreateKey(dataDir, BLIND_INDEX_FILE, BLIND_INDEX_BYTES),
    opts,
  );
}
