-- Personal fields sealed at rest (issue 15 item 4) and the indexes retention needs (item 7).
-- Owner emails and client addresses leave their clear columns: each becomes a value sealed with the
-- secret box (AES-256-GCM, key id inside, licensing/keys/secret-box.ts) and, where lookups need one, a
-- keyed blind index (HMAC-SHA256 with keys/blind-index.key over the trimmed, lower-cased email). An
-- activation keeps its country (GeoLite2, looked up when it was taken) and its sealed address until
-- retention purges the address (SMSTATS_RETENTION_ACTIVATION_ADDRESS_DAYS).
--
-- The migration runs in three steps inside one transaction: the statements above the companion marker
-- add the new columns, the companion (0008_sealed_pii.ts, which holds the keys) seals every existing
-- clear value into them, and the statements below drop the clear columns. No clear column is left.
ALTER TABLE instances ADD COLUMN owner_email_sealed bytea, ADD COLUMN owner_email_index bytea;
ALTER TABLE licenses ADD COLUMN owner_email_sealed bytea, ADD COLUMN owner_email_index bytea;
ALTER TABLE payment_subscriptions ADD COLUMN email_sealed bytea, ADD COLUMN email_index bytea;
ALTER TABLE license_activations ADD COLUMN ip_sealed bytea, ADD COLUMN country text NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN ip_sealed bytea;
-- @companion
ALTER TABLE instances DROP COLUMN owner_email;
ALTER TABLE licenses DROP COLUMN owner_email;
ALTER TABLE payment_subscriptions DROP COLUMN email;
ALTER TABLE license_activations DROP COLUMN ip_address;
ALTER TABLE audit_log DROP COLUMN ip;
-- The license itself holds its (sealed) owner; its audit entry no longer repeats the email.
UPDATE audit_log SET changes = changes - 'owner_email' WHERE changes ? 'owner_email';

CREATE INDEX instances_owner_email_index_idx ON instances (owner_email_index);
CREATE INDEX licenses_owner_email_index_idx ON licenses (owner_email_index);
CREATE INDEX payment_subscriptions_email_index_idx ON payment_subscriptions (email_index);

-- Retention (processors/retention/postgres-retention.ts) deletes or purges by age through these.
CREATE INDEX license_activations_address_age_idx ON license_activations (activated_at) WHERE ip_sealed IS NOT NULL;
CREATE INDEX leases_not_after_idx ON leases (not_after);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);
CREATE INDEX abuse_flags_created_idx ON abuse_flags (created_at);

-- The audit log stays append-only for the write role (0004): the one way rows leave it is this
-- function, which deletes only entries older than a cutoff the caller names (SMSTATS_RETENTION_AUDIT_DAYS)
-- and runs with its owner's rights. With dry_run it only counts them.
CREATE FUNCTION purge_audit_log(cutoff timestamptz, dry_run boolean) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  n bigint;
BEGIN
  IF dry_run THEN
    SELECT count(*) INTO n FROM audit_log WHERE at < cutoff;
  ELSE
    DELETE FROM audit_log WHERE at < cutoff;
    GET DIAGNOSTICS n = ROW_COUNT;
  END IF;
  RETURN n;
END
$$;
REVOKE ALL ON FUNCTION purge_audit_log(timestamptz, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_audit_log(timestamptz, boolean) TO smstats_write;
