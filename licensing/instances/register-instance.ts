import type pg from "pg";
import { LicensingError } from "../errors.ts";
import type { KeyRing, PiiVault } from "../keys/index.ts";
import { newSigningSecret } from "../request-signing/index.ts";
import { CONSENT_FAMILIES, type Consent, DEFAULT_CONSENT, readConsent, writeConsent } from "./consent.ts";
import { type IssuedTokens, issueTokens, type TokenLifetimes } from "./issue-tokens.ts";
import { type PossessionProof, type ProofKind, provePossession } from "./possession.ts";
import { withTransaction } from "./transaction.ts";

/** What an instance sends to register (the seed's fields plus consent). */
export interface RegistrationInput {
  hwid: string;
  platform: string;
  version: string;
  owner_email?: string | null;
  /** Families not given keep their stored value, or take DEFAULT_CONSENT for a new instance. */
  consent?: Partial<Consent>;
}

/** The outcome of a registration: the instance and its fresh credentials. */
export interface Registration extends IssuedTokens {
  instanceId: string;
  tier: string;
  registeredAt: Date;
  /** False when the hwid was known and its instance got new credentials. */
  created: boolean;
  /** How a known hwid's holder proved possession ("unclaimed": an admin reset it); undefined when created. */
  proof?: ProofKind | "unclaimed";
  /** The request-signing secret, base64url; returned once, stored encrypted. */
  signingSecret: string;
  consent: Consent;
}

/** The context the secret box binds a signing secret to, so a sealed secret only opens for its instance. */
export function signingSecretContext(instanceId: string): string {
  return `instance-signing-secret:${instanceId}`;
}

/** Registration options: token lifetimes and what proves possession of a known hwid. */
export interface RegisterOptions extends TokenLifetimes {
  proof?: PossessionProof;
  /** Window of the proof's request signature, seconds; default 300. */
  signatureWindowSeconds?: number;
}

/**
 * Registers an instance by hwid, or re-registers it: a known hwid gets its own instance back with new
 * credentials (token, refresh token, signing secret) only with proof of possession (see possession.ts),
 * else HWID_IN_USE and nothing changes; the previous credentials stop working. An instance an admin reset
 * (no credentials) is claimed by its hwid's next registration. The order: ban (INSTANCE_BANNED), then
 * proof, then the upsert on the unique hwid, so concurrent registrations of one hwid never make two rows;
 * a new hwid registered concurrently is claimed by the first, the others get HWID_IN_USE.
 */
export async function registerInstance(
  pool: pg.Pool,
  ring: KeyRing,
  vault: PiiVault,
  input: RegistrationInput,
  opts: RegisterOptions = {},
): Promise<Registration> {
  return withTransaction(pool, async (client) => {
    const known = await client.query<{ id: string; banned: boolean; sealed: Buffer | null }>(
      `SELECT i.id, COALESCE(i.is_banned, false) AS banned, c.signing_secret_enc AS sealed
       FROM instances i LEFT JOIN instance_credentials c ON c.instance_id = i.id
       WHERE i.hwid = $1 FOR UPDATE OF i`,
      [input.hwid],
    );
    let proof: ProofKind | "unclaimed" | undefined;
    const held = known.rows[0];
    if (held && !held.banned) {
      proof = held.sealed
        ? await provePossession(
            client,
            vault.box,
            { id: held.id, sealedSecret: held.sealed, secretContext: signingSecretContext(held.id) },
            opts.proof ?? {},
            opts.signatureWindowSeconds ?? 300,
          )
        : "unclaimed";
    }
    const { rows } = await client.query<{
      id: string;
      tier: string;
      registered_at: Date;
      banned: boolean;
      created: boolean;
    }>(
      `INSERT INTO instances (hwid, platform, version, owner_email_sealed, owner_email_index, last_seen_at)
       VALUES ($1, $2, $3, $4, $5, now())
       ON CONFLICT (hwid) DO UPDATE SET
         platform = EXCLUDED.platform,
         version = EXCLUDED.version,
         owner_email_sealed = COALESCE(EXCLUDED.owner_email_sealed, instances.owner_email_sealed),
         owner_email_index = COALESCE(EXCLUDED.owner_email_index, instances.owner_email_index),
         last_seen_at = EXCLUDED.last_seen_at
       RETURNING id, tier, registered_at, COALESCE(is_banned, false) AS banned, (xmax = 0) AS created`,
      [
        input.hwid,
        input.platform,
        input.version,
        input.owner_email ? vault.sealEmail(input.owner_email) : null,
        input.owner_email ? vault.emailIndex(input.owner_email) : null,
      ],
    );
    const row = rows[0];
    if (!row) throw new Error("the instance upsert returned no row");
    // Checked after the bans below would hide a ban behind HWID_IN_USE; so the ban checks come first.
    // A banned hwid stays banned even when its instance row is gone or was never made.
    const hwidBan = await client.query(
      "SELECT 1 FROM bans WHERE kind = 'hwid' AND value = $1 AND lifted_at IS NULL",
      [input.hwid],
    );
    if (hwidBan.rowCount) throw new LicensingError("INSTANCE_BANNED", "this machine is banned");
    // Throwing rolls the upsert back: a banned instance's row is left as it was.
    if (row.banned) throw new LicensingError("INSTANCE_BANNED", "this instance is banned");
    // A known hwid without proof (or one registered by a concurrent request since the read above): the
    // throw rolls the upsert back, so the holder's row and credentials stay as they were.
    if (!row.created && proof === undefined) {
      throw new LicensingError("HWID_IN_USE", "this hwid belongs to a registered instance");
    }
    const instanceId = row.id;

    const secret = newSigningSecret();
    await client.query(
      `INSERT INTO instance_credentials (instance_id, signing_secret_enc) VALUES ($1, $2)
       ON CONFLICT (instance_id) DO UPDATE SET signing_secret_enc = EXCLUDED.signing_secret_enc, rotated_at = now()`,
      [instanceId, vault.box.seal(secret, signingSecretContext(instanceId))],
    );
    // New credentials replace the old ones: a refresh token from before re-registration is simply unknown.
    await client.query("DELETE FROM refresh_tokens WHERE instance_id = $1", [instanceId]);

    // Stated families are recorded; the others keep a stored choice, or get the default when there is none.
    const given = CONSENT_FAMILIES.filter((f) => input.consent?.[f] !== undefined);
    const values = Object.fromEntries(
      CONSENT_FAMILIES.map((f) => [f, input.consent?.[f] ?? DEFAULT_CONSENT[f]]),
    );
    await writeConsent(client, instanceId, values, given);
    const consent = await readConsent(client, instanceId);

    const tokens = await issueTokens(client, ring, { instanceId, tier: row.tier }, opts);
    return {
      ...tokens,
      instanceId,
      tier: row.tier,
      registeredAt: row.registered_at,
      created: row.created,
      proof,
      signingSecret: secret.toString("base64url"),
      consent,
    };
  });
}
