-- The seed's licensing tables, as designed there. Later migrations add fingerprints, leases, tiers,
-- consent, bans and the audit log.
CREATE TABLE instances (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    hwid VARCHAR(64) UNIQUE NOT NULL,
    instance_token TEXT NOT NULL,
    owner_email VARCHAR(255),
    platform VARCHAR(32),
    version VARCHAR(32),
    registered_at TIMESTAMPTZ DEFAULT NOW(),
    last_seen_at TIMESTAMPTZ,
    is_banned BOOLEAN DEFAULT FALSE,
    ban_reason TEXT
);

CREATE TABLE licenses (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    license_key VARCHAR(64) UNIQUE NOT NULL,
    tier VARCHAR(32) NOT NULL,
    owner_email VARCHAR(255) NOT NULL,
    instance_id UUID REFERENCES instances(id),
    created_at TIMESTAMPTZ DEFAULT NOW(),
    expires_at TIMESTAMPTZ,
    is_revoked BOOLEAN DEFAULT FALSE,
    revoke_reason TEXT
);

-- Activations: the audit trail of which instance took which license, from where.
CREATE TABLE license_activations (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    license_id UUID REFERENCES licenses(id),
    instance_id UUID REFERENCES instances(id),
    activated_at TIMESTAMPTZ DEFAULT NOW(),
    ip_address INET,
    user_agent TEXT
);

CREATE INDEX license_activations_license_idx ON license_activations (license_id, activated_at);
CREATE INDEX licenses_instance_idx ON licenses (instance_id);
