-- Licensing: tier policies (limits and features as data), hashed keys, seats with fingerprints and
-- heartbeats, leases, bans, abuse flags, admin tokens and the audit log.

-- One row per tier. What a tier allows lives here, not in code: a price change, a new feature or a higher
-- limit is an UPDATE (followed by `smstats license policy-changed`, or simply the cache TTL).
CREATE TABLE tier_policies (
    tier text PRIMARY KEY CHECK (tier ~ '^[a-z][a-z0-9_]{0,31}$'),
    display_name text NOT NULL,
    -- The label in keys (SM-{label}-…); only a label: the database decides the tier of a key.
    key_label text NOT NULL UNIQUE CHECK (key_label ~ '^[A-Z]{2,12}$'),
    rank integer NOT NULL UNIQUE,
    price_monthly_cents integer,
    price_yearly_cents integer,
    -- Feature flags the instance unlocks, e.g. {youtube_import, multi_room}.
    features text[] NOT NULL DEFAULT '{}',
    -- Numeric limits; null means unlimited, e.g. {"max_songs": 25, "max_guests": 5}.
    limits jsonb NOT NULL DEFAULT '{}',
    support text NOT NULL,
    -- strict: the paid features need a valid lease; graceful: never blocks (free tier).
    enforcement text NOT NULL CHECK (enforcement IN ('strict', 'graceful')),
    -- How long a lease lets an instance run without reaching us (offline mode).
    offline_grace_seconds integer NOT NULL CHECK (offline_grace_seconds > 0),
    -- Seats: instances one license may have active at once (a license may override it).
    max_instances integer NOT NULL CHECK (max_instances > 0),
    -- Self-service deactivations (transfers to another machine) allowed per license per 30 days.
    transfers_per_30_days integer NOT NULL CHECK (transfers_per_30_days >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO tier_policies (tier, display_name, key_label, rank, price_monthly_cents, price_yearly_cents,
    features, limits, support, enforcement, offline_grace_seconds, max_instances, transfers_per_30_days) VALUES
  ('starter', 'Starter', 'STARTER', 0, 0, 0,
    '{}', '{"max_songs": 25, "max_guests": 5, "max_rooms": 1}', 'community', 'graceful',
    30 * 86400, 1, 3),
  ('party_host', 'Party Host', 'PARTY', 1, 999, 9588,
    '{unlimited_songs,youtube_import}', '{"max_songs": null, "max_guests": 50, "max_rooms": 1}', 'email',
    'strict', 7 * 86400, 2, 3),
  ('venue', 'Venue', 'VENUE', 2, 4900, 47000,
    '{unlimited_songs,youtube_import,multi_room,white_label,priority_support}',
    '{"max_songs": null, "max_guests": null, "max_rooms": null}', 'priority', 'strict', 7 * 86400, 5, 5);

-- Keys are stored hashed: license_key (the seed's column) holds the hex sha256 of the key, which has 90
-- random bits, so no salt or slow hash is needed. key_hint is what admins see (label, date, last 4).
-- (No CHECK on the column's shape: rows written by other tools, e.g. dashboard fixtures, keep working; a
-- key that is not a 64-hex hash simply never matches a lookup.)
ALTER TABLE licenses ADD CONSTRAINT licenses_tier_fk FOREIGN KEY (tier) REFERENCES tier_policies (tier);
ALTER TABLE licenses ADD COLUMN key_hint text NOT NULL DEFAULT '';
ALTER TABLE licenses ADD COLUMN max_instances integer CHECK (max_instances > 0);
ALTER TABLE licenses ADD COLUMN billing_period text CHECK (billing_period IN ('monthly', 'yearly', 'lifetime'));
ALTER TABLE licenses ADD COLUMN revoked_at timestamptz;
ALTER TABLE licenses ADD COLUMN notes text;
CREATE INDEX licenses_owner_idx ON licenses (owner_email);

-- Seats. A row is an activation of a license on an instance; it holds a seat while active (no
-- deactivated_at). Dead (no heartbeat in time), self-deactivated, replaced or admin-removed seats keep
-- their row with the reason, so the history and the transfer cap can be read from here.
ALTER TABLE license_activations ADD COLUMN last_heartbeat_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE license_activations ADD COLUMN deactivated_at timestamptz;
ALTER TABLE license_activations ADD COLUMN deactivation_reason text
    CHECK (deactivation_reason IN ('self', 'heartbeat_dead', 'replaced', 'admin', 'revoked'));
-- sha256 over the sorted components: equal digests are the same machine (clone detection).
ALTER TABLE license_activations ADD COLUMN fingerprint_digest text;
ALTER TABLE license_activations ALTER COLUMN license_id SET NOT NULL;
ALTER TABLE license_activations ALTER COLUMN instance_id SET NOT NULL;
-- One live seat per instance (a new key replaces the old one) and per license and instance.
CREATE UNIQUE INDEX license_activations_live_instance ON license_activations (instance_id)
    WHERE deactivated_at IS NULL;
CREATE INDEX license_activations_live_license ON license_activations (license_id)
    WHERE deactivated_at IS NULL;
CREATE INDEX license_activations_live_fingerprint ON license_activations (fingerprint_digest)
    WHERE deactivated_at IS NULL;
CREATE INDEX license_activations_heartbeat ON license_activations (last_heartbeat_at)
    WHERE deactivated_at IS NULL;
CREATE INDEX license_activations_deactivated ON license_activations (license_id, deactivated_at)
    WHERE deactivation_reason = 'self';

-- Fingerprint components of a seat, each a client-side hash (machine id, MACs, disk, hostname, …).
-- Matching is "most match": validation passes while at least half of the stored components match.
CREATE TABLE activation_components (
    activation_id uuid NOT NULL REFERENCES license_activations (id) ON DELETE CASCADE,
    component text NOT NULL CHECK (component ~ '^[a-z][a-z0-9_]{0,31}$'),
    value_hash text NOT NULL CHECK (length(value_hash) BETWEEN 16 AND 128),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (activation_id, component)
);

-- Leases issued (on activation, on every validation that was not answered from the cache, and on each
-- heartbeat): what the instance was told it may do, until when, signed with which key.
CREATE TABLE leases (
    id uuid PRIMARY KEY,
    instance_id uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    license_id uuid REFERENCES licenses (id),
    activation_id uuid REFERENCES license_activations (id),
    tier text NOT NULL,
    reason text NOT NULL,
    fingerprint_digest text,
    nonce text NOT NULL,
    kid text NOT NULL,
    issued_at timestamptz NOT NULL,
    not_after timestamptz NOT NULL
);
CREATE INDEX leases_instance_idx ON leases (instance_id, issued_at);

-- Bans beyond one instance row: a banned hwid cannot register again; a banned fingerprint digest cannot
-- activate under any hwid. Lifting a ban sets lifted_at; the row stays as history.
CREATE TABLE bans (
    id bigserial PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('hwid', 'fingerprint')),
    value text NOT NULL,
    reason text NOT NULL,
    actor text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    lifted_at timestamptz,
    lifted_by text
);
CREATE UNIQUE INDEX bans_live ON bans (kind, value) WHERE lifted_at IS NULL;

-- What the abuse rules flagged (cloned fingerprints, key guessing), for admins to look at.
CREATE TABLE abuse_flags (
    id bigserial PRIMARY KEY,
    rule text NOT NULL,
    subject text NOT NULL,
    details jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX abuse_flags_subject_idx ON abuse_flags (rule, subject, created_at);

-- Admin API tokens: shown once, stored as sha256, limited to scopes.
CREATE TABLE admin_tokens (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL,
    token_hash bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    scopes text[] NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    revoked_at timestamptz,
    last_used_at timestamptz
);

-- Every admin action: who, when, what, on what, and what changed. Append-only (the write role may only
-- insert and read it; see 0004).
CREATE TABLE audit_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor text NOT NULL,
    action text NOT NULL,
    target_type text NOT NULL,
    target_id text NOT NULL,
    changes jsonb NOT NULL DEFAULT '{}',
    source text NOT NULL CHECK (source IN ('cli', 'api')),
    ip inet
);
CREATE INDEX audit_log_target_idx ON audit_log (target_type, target_id, at);
CREATE INDEX audit_log_at_idx ON audit_log (at);

-- instances.tier stays free text (no foreign key): it is a denormalised copy the enrichment reads, and
-- tools and tests write other labels there; the licenses table is the truth.
ALTER TABLE instances ADD COLUMN banned_at timestamptz;
