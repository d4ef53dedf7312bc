import { createHash, randomInt } from "node:crypto";
import { formatLicenseKey, KEY_ALPHABET, KEY_RANDOM_CHARS, normalizeLicenseKey } from "../client/index.ts";

/** A new key SM-{LABEL}-{YYYYMMDD}-{18 random base32 characters}{2 check characters}: 90 random bits. */
export function newLicenseKey(label: string, issued: Date = new Date()): string {
  const date = issued.toISOString().slice(0, 10).replace(/-/g, "");
  let random = "";
  for (let i = 0; i < KEY_RANDOM_CHARS; i++) random += KEY_ALPHABET[randomInt(KEY_ALPHABET.length)];
  return formatLicenseKey(label, date, random);
}

/**
 * The stored form of a key: hex sha256 of its canonical form. 90 random bits need no salt or slow hash, and
 * a leaked table gives nothing that can be typed in.
 */
export function hashLicenseKey(key: string): string {
  return createHash("sha256").update(normalizeLicenseKey(key), "utf8").digest("hex");
}

/** What admins see of a key: label, date and the last four characters. */
export function licenseKeyHint(key: string): string {
  const k = normalizeLicenseKey(key);
  return `${k.slice(0, k.lastIndexOf("-") + 1)}…${k.slice(-4)}`;
}
