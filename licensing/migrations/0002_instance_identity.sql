-- Instance identity: tiers, request-signing credentials, refresh tokens and consent.
-- Instance tokens are short-lived JWTs verified with the public key; they are never stored, so the seed's
-- instance_token column becomes nullable and stays empty.
ALTER TABLE instances ALTER COLUMN instance_token DROP NOT NULL;

-- The instance's current tier; the licenses table is the truth, this is what tokens and limits read.
ALTER TABLE instances ADD COLUMN tier text NOT NULL DEFAULT 'starter';

-- The per-instance HMAC secret for request signatures, AES-256-GCM sealed with the server's secret-box key
-- (format byte, nonce, ciphertext, tag): the server needs the raw secret back to verify signatures.
CREATE TABLE instance_credentials (
    instance_id uuid PRIMARY KEY REFERENCES instances (id) ON DELETE CASCADE,
    signing_secret_enc bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    rotated_at timestamptz
);

-- Refresh tokens by sha256; one-time: used_at is set when exchanged (or revoked).
CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    instance_id uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Re-registration deletes, reuse detection and bans revoke all of one instance's tokens.
CREATE INDEX refresh_tokens_instance_idx ON refresh_tokens (instance_id);

-- Consent per telemetry family; ingest drops the families an instance did not grant.
CREATE TABLE instance_consent (
    instance_id uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    family text NOT NULL CHECK (family IN ('quality', 'playback', 'session', 'library')),
    granted boolean NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance_id, family)
);
