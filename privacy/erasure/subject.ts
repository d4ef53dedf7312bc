import { createHash } from "node:crypto";
import type pg from "pg";
import type { PiiVault } from "../../licensing/keys/pii-vault.ts";

/**
 * Who is being erased: the identifiers the job looks for in every store. Collected when the job is
 * created (the PostgreSQL rows they come from are the first thing the job deletes) and kept sealed in
 * the job row until it is done.
 */
export interface ErasureSubject {
  instanceId: string;
  hwid: string;
  /** The instance's owner e-mail, lower case, or "" when none was given. */
  email: string;
  /** Client addresses recorded for the instance (activations, opened from their sealed form). */
  addresses: string[];
  /** The keyed blind index of the e-mail (hex), how sealed e-mail columns are matched; "" for none. */
  emailIndex?: string;
  /** Keyed tags of the addresses (how abuse flags name an address without holding it). */
  addressTags?: string[];
}

/** The reference an erasure job keeps instead of the instance id: sha256("erasure:" + id), hex. */
export function instanceRef(instanceId: string): string {
  return createHash("sha256").update(`erasure:${instanceId.toLowerCase()}`).digest("hex");
}

/** The strings that identify the subject, longest first (what Redis and JetStream are searched for). */
export function subjectNeedles(s: ErasureSubject): string[] {
  return [s.instanceId, s.hwid, s.email, ...s.addresses]
    .filter((n) => n.length >= 4)
    .sort((a, b) => b.length - a.length);
}

/** Replaces every identifier of the subject in a text (an error message kept in the job row). */
export function redactSubject(text: string, s: ErasureSubject): string {
  let out = text;
  for (const n of subjectNeedles(s)) out = out.split(n).join("[erased]");
  return out;
}

/** Reads the subject of an instance, or undefined when no such instance exists. */
export async function loadSubject(
  db: pg.ClientBase,
  vault: PiiVault,
  instanceId: string,
): Promise<ErasureSubject | undefined> {
  const { rows } = await db.query<{ hwid: string; email: Buffer | null }>(
    "SELECT hwid, owner_email_sealed AS email FROM instances WHERE id = $1 FOR UPDATE",
    [instanceId],
  );
  const row = rows[0];
  if (!row) return undefined;
  const sealed = await db.query<{ ip: Buffer }>(
    `SELECT ip_sealed AS ip FROM license_activations WHERE instance_id = $1 AND ip_sealed IS NOT NULL`,
    [instanceId],
  );
  const addresses = [
    ...new Set(sealed.rows.map((r) => vault.openAddress(r.ip)).filter((a): a is string => !!a)),
  ];
  const email = (vault.openEmail(row.email) ?? "").trim().toLowerCase();
  return {
    instanceId,
    hwid: row.hwid,
    email,
    addresses,
    emailIndex: email ? vault.emailIndex(email).toString("hex") : "",
    addressTags: addresses.map((a) => `ip:${vault.addressTag(a)}`),
  };
}
