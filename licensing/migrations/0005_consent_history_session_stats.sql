-- What the Go SDK needs beside the seed's routes: a history of consent changes (PUT
-- /v1/instances/{id}/consent records each change with its time, so "when did this venue withdraw
-- playback data" has an answer) and the session figures heartbeats carry (session_stats).

-- One row per family whose value changed; the current value stays in instance_consent.
CREATE TABLE instance_consent_changes (
    id bigserial PRIMARY KEY,
    instance_id uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    family text NOT NULL CHECK (family IN ('quality', 'playback', 'session', 'library')),
    granted boolean NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX instance_consent_changes_instance_idx ON instance_consent_changes (instance_id, changed_at);

-- The latest session figures an instance reported with its heartbeat (one row per instance; the
-- heartbeat is hourly, the telemetry stream carries the detail).
CREATE TABLE instance_session_stats (
    instance_id uuid PRIMARY KEY REFERENCES instances (id) ON DELETE CASCADE,
    stats jsonb NOT NULL,
    reported_at timestamptz NOT NULL DEFAULT now()
);
