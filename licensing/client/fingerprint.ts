import { createHash } from "node:crypto";

/** Fingerprint components by name (machine_id, mac, disk, hostname, …), each a hash of the raw value. */
export type FingerprintComponents = Readonly<Record<string, string>>;

/** Component names: lower-case identifiers. */
export const COMPONENT_NAME = /^[a-z][a-z0-9_]{0,31}$/;

/**
 * What an instance sends for one component: the hex sha256 of name and raw value, so the raw machine id,
 * MAC or disk serial never leaves the machine.
 */
export function hashComponent(name: string, rawValue: string): string {
  return createHash("sha256").update(`${name}\n${rawValue.trim().toLowerCase()}`, "utf8").digest("hex");
}

/** One digest of a whole fingerprint (sorted components): equal digests are the same machine. */
export function fingerprintDigest(components: FingerprintComponents): string {
  const lines = Object.keys(components)
    .sort()
    .map((k) => `${k}=${components[k]}`);
  return createHash("sha256").update(lines.join("\n"), "utf8").digest("hex");
}

/** How a presented fingerprint compares with the stored one. */
export interface FingerprintMatch {
  /** Whether at least half of the stored components match ("most match"). */
  ok: boolean;
  matched: number;
  stored: number;
  /** Stored components presented with another value or not at all. */
  changed: string[];
}

/**
 * "Most match": one swapped disk or network card must not lock a venue out, a different machine must not
 * pass. Passes while at least half of the stored components are presented unchanged; components the
 * instance did not have at activation do not count either way.
 */
export function matchFingerprint(
  stored: FingerprintComponents,
  presented: FingerprintComponents,
): FingerprintMatch {
  const names = Object.keys(stored);
  const changed = names.filter((n) => presented[n] !== stored[n]);
  const matched = names.length - changed.length;
  return { ok: names.length > 0 && matched * 2 >= names.length, matched, stored: names.length, changed };
}
