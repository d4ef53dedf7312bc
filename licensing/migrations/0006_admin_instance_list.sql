-- The console's instance list (GET /v1/admin/instances): newest first with keyset paging on
-- (registered_at, id), filtered by tier, version, platform or bans and searched by id, hwid or email,
-- fast over 100,000+ instances. Every filter that narrows to a small set has an index that also yields
-- the paging order, so a deep page is an index range scan, not an offset.
UPDATE instances SET registered_at = now() WHERE registered_at IS NULL;
ALTER TABLE instances ALTER COLUMN registered_at SET NOT NULL;

CREATE INDEX instances_registered_idx ON instances (registered_at DESC, id DESC);
CREATE INDEX instances_tier_registered_idx ON instances (tier, registered_at DESC, id DESC);
CREATE INDEX instances_platform_registered_idx ON instances (platform, registered_at DESC, id DESC);
CREATE INDEX instances_version_registered_idx ON instances (version, registered_at DESC, id DESC);
CREATE INDEX instances_banned_registered_idx ON instances (registered_at DESC, id DESC) WHERE is_banned;
CREATE INDEX instances_last_seen_idx ON instances (last_seen_at);
CREATE INDEX instances_owner_email_idx ON instances (lower(owner_email));
