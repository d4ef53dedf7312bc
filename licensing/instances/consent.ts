import type pg from "pg";
import { isUuid } from "./instance-id.ts";
import { withTransaction } from "./transaction.ts";

/** The telemetry families an instance consents to separately. */
export const CONSENT_FAMILIES = ["quality", "playback", "session", "library"] as const;

/** One consent family. */
export type ConsentFamily = (typeof CONSENT_FAMILIES)[number];

/** An instance's consent, one flag per family. */
export type Consent = Record<ConsentFamily, boolean>;

/**
 * Consent of an instance that registers without stating any: nothing. The design's dialog makes every
 * family opt-in (quality included); until the instance consents only its environment and licensing
 * reach the service.
 */
export const DEFAULT_CONSENT: Readonly<Consent> = Object.freeze({
  quality: false,
  playback: false,
  session: false,
  library: false,
});

/**
 * PostgreSQL notification channel told the instance id whenever its consent may have changed; every
 * ingest process listens (ingest/auth/consent-listener.ts) and forgets its cached identity.
 */
export const CONSENT_CHANNEL = "smstats_consent";

/** Writes consent flags; families listed in `overwrite` replace a stored value, the others only fill gaps. */
export async function writeConsent(
  db: pg.ClientBase | pg.Pool,
  instanceId: string,
  values: Partial<Consent>,
  overwrite: readonly ConsentFamily[],
): Promise<void> {
  const families = CONSENT_FAMILIES.filter((f) => values[f] !== undefined);
  if (families.length === 0) return;
  // updated_at moves only when a value changes, so it tells when the user last changed their mind.
  await db.query(
    `INSERT INTO instance_consent (instance_id, family, granted, updated_at)
     SELECT $1, f.family, f.granted, now() FROM unnest($2::text[], $3::boolean[]) AS f(family, granted)
     ON CONFLICT (instance_id, family) DO UPDATE SET granted = EXCLUDED.granted, updated_at = EXCLUDED.updated_at
     WHERE instance_consent.family = ANY($4::text[]) AND instance_consent.granted <> EXCLUDED.granted`,
    [instanceId, families, families.map((f) => values[f]), overwrite],
  );
  // Sent at commit (and not at all on rollback), so a listener never forgets before the change is visible.
  await db.query("SELECT pg_notify($1, $2)", [CONSENT_CHANNEL, instanceId]);
}

/** Builds a Consent from stored rows; a family without a row counts as not granted. */
export function consentFromRows(rows: Iterable<{ family: string; granted: boolean }>): Consent {
  const consent: Consent = { quality: false, playback: false, session: false, library: false };
  for (const r of rows) {
    if ((CONSENT_FAMILIES as readonly string[]).includes(r.family))
      consent[r.family as ConsentFamily] = r.granted;
  }
  return consent;
}

/** Reads an instance's consent. */
export async function readConsent(db: pg.ClientBase | pg.Pool, instanceId: string): Promise<Consent> {
  const { rows } = await db.query<{ family: string; granted: boolean }>(
    "SELECT family, granted FROM instance_consent WHERE instance_id = $1",
    [instanceId],
  );
  return consentFromRows(rows);
}

/** Changes some of an instance's consent flags and returns all of them; undefined for an unknown instance. */
export async function setConsent(
  pool: pg.Pool,
  instanceId: string,
  partial: Partial<Consent>,
): Promise<Consent | undefined> {
  return (await changeConsent(pool, instanceId, partial))?.consent;
}

/** What a consent change did. */
export interface ConsentChange {
  consent: Consent;
  /** Families whose value changed (each recorded in instance_consent_changes). */
  changed: ConsentFamily[];
  /** When the change was recorded (the database's clock). */
  changedAt: Date;
}

/**
 * Changes some of an instance's consent flags in one transaction and records each family whose value
 * changed, with its time, in instance_consent_changes; undefined for an unknown instance. The row lock
 * on the instance orders concurrent changes, so the history reads in the order they applied.
 */
export async function changeConsent(
  pool: pg.Pool,
  instanceId: string,
  partial: Partial<Consent>,
): Promise<ConsentChange | undefined> {
  if (!isUuid(instanceId)) return undefined;
  return withTransaction(pool, async (client) => {
    const { rows } = await client.query<{ now: Date }>(
      "SELECT now() AS now FROM instances WHERE id = $1 FOR UPDATE",
      [instanceId],
    );
    const now = rows[0]?.now;
    if (!now) return undefined;
    const before = await readConsent(client, instanceId);
    await writeConsent(client, instanceId, partial, CONSENT_FAMILIES);
    const consent = await readConsent(client, instanceId);
    const changed = CONSENT_FAMILIES.filter((f) => before[f] !== consent[f]);
    if (changed.length > 0) {
      await client.query(
        `INSERT INTO instance_consent_changes (instance_id, family, granted, changed_at)
         SELECT $1, f.family, f.granted, $4 FROM unnest($2::text[], $3::boolean[]) AS f(family, granted)`,
        [instanceId, changed, changed.map((f) => consent[f]), now],
      );
    }
    return { consent, changed, changedAt: now };
  });
}
