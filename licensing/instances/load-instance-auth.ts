import type pg from "pg";
import type { SecretBox } from "../keys/index.ts";
import { type Consent, consentFromRows } from "./consent.ts";
import { isUuid } from "./instance-id.ts";
import { signingSecretContext } from "./register-instance.ts";

/** What ingest needs to authenticate and filter an instance's requests. */
export interface InstanceAuth {
  instanceId: string;
  tier: string;
  banned: boolean;
  /** The raw 32-byte request-signing secret (decrypted). */
  signingSecret: Buffer;
  consent: Consent;
}

/**
 * Loads an instance's tier, ban, signing secret and consent in one query; undefined when the instance is
 * unknown or has never registered through this flow (no credentials). Throws SECRET_BOX_INVALID when the
 * stored secret does not open with this server's key.
 */
export async function loadInstanceAuth(
  pool: pg.Pool,
  box: SecretBox,
  instanceId: string,
): Promise<InstanceAuth | undefined> {
  if (!isUuid(instanceId)) return undefined;
  const { rows } = await pool.query<{
    id: string;
    tier: string;
    banned: boolean;
    signing_secret_enc: Buffer;
    consent: { family: string; granted: boolean }[];
  }>(
    `SELECT i.id, i.tier, COALESCE(i.is_banned, false) AS banned, c.signing_secret_enc,
       COALESCE((SELECT json_agg(json_build_object('family', family, 'granted', granted))
                 FROM instance_consent WHERE instance_id = i.id), '[]'::json) AS consent
     FROM instances i JOIN instance_credentials c ON c.instance_id = i.id
     WHERE i.id = $1`,
    [instanceId],
  );
  const row = rows[0];
  if (!row) return undefined;
  return {
    instanceId: row.id,
    tier: row.tier,
    banned: row.banned,
    signingSecret: box.open(row.signing_secret_enc, signingSecretContext(row.id)),
    consent: consentFromRows(row.consent),
  };
}
