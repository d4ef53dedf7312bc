import { createHash } from "node:crypto";

// Crockford's base32: no I, L, O or U, so a key read aloud or typed from paper has fewer lookalikes.
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/** Random characters in a key's tail: 18 × 5 = 90 random bits. */
export const KEY_RANDOM_CHARS = 18;
/** Check characters at the end of the tail: 10 bits, so 1 typo in 1024 slips through. */
export const KEY_CHECK_CHARS = 2;
const KEY = /^SM-([A-Z]{2,12})-(\d{8})-([0-9A-HJKMNP-TV-Z]{20})$/;

/** The parts of a license key, SM-{LABEL}-{YYYYMMDD}-{tail}. */
export interface LicenseKeyParts {
  /** Tier label as printed (only a label: the server decides the tier). */
  label: string;
  /** Issue date, YYYYMMDD. */
  date: string;
  /** 18 random characters and 2 check characters. */
  tail: string;
}

/** The two check characters of a key's body (everything before them). */
export function keyCheckChars(body: string): string {
  const digest = createHash("sha256").update(body, "utf8").digest();
  const bits = ((digest[0] as number) << 2) | ((digest[1] as number) >> 6);
  return `${ALPHABET[bits >> 5]}${ALPHABET[bits & 31]}`;
}

/**
 * A key as typed, made canonical: trimmed, upper case, and in the tail the letters people confuse with
 * digits read as those digits (O → 0, I and L → 1), as Crockford's base32 does.
 */
export function normalizeLicenseKey(input: string): string {
  const key = input.trim().toUpperCase();
  const m = /^(SM-[A-Z]{2,12}-\d{8}-)(.+)$/.exec(key);
  if (!m) return key;
  return `${m[1]}${(m[2] as string).replace(/O/g, "0").replace(/[IL]/g, "1")}`;
}

/** The parts of a well-formed key whose check characters match, or undefined (malformed or mistyped). */
export function parseLicenseKey(input: string): LicenseKeyParts | undefined {
  const key = normalizeLicenseKey(input);
  const m = KEY.exec(key);
  if (!m) return undefined;
  const tail = m[3] as string;
  const body = key.slice(0, key.length - KEY_CHECK_CHARS);
  if (keyCheckChars(body) !== tail.slice(KEY_RANDOM_CHARS)) return undefined;
  return { label: m[1] as string, date: m[2] as string, tail };
}

/** Builds a key from its label, date and random characters (from the alphabet), adding the check. */
export function formatLicenseKey(label: string, date: string, random: string): string {
  const body = `SM-${label}-${date}-${random}`;
  return `${body}${keyCheckChars(body)}`;
}

/** The base32 alphabet of key tails. */
export const KEY_ALPHABET = ALPHABET;
