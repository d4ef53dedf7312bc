-- Erasure jobs (issue 15, item 1): one row per erased instance, a durable job that any ingest process
-- (or `smstats instance erase`) claims with a lease, so a job whose process died is resumed by the next.
--
-- The row must outlive the instance (a second erasure answers "done") without keeping who it was:
-- instance_ref is sha256("erasure:" || instance id), never the id; the identifiers the job needs while
-- it runs (instance id, hwid, email, addresses: to find them in Redis, JetStream and ClickHouse) are
-- sealed with the secret box in subject_sealed and set to NULL when the job is done.
CREATE TABLE erasure_jobs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    instance_ref text NOT NULL UNIQUE CHECK (instance_ref ~ '^[0-9a-f]{64}$'),
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done')),
    -- The last step that finished: '' (none), postgres, redis, jetstream, clickhouse.
    step text NOT NULL DEFAULT '' CHECK (step IN ('', 'postgres', 'redis', 'jetstream', 'clickhouse')),
    subject_sealed bytea,
    requested_by text NOT NULL,
    requested_via text NOT NULL CHECK (requested_via IN ('instance', 'api', 'cli')),
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,
    lease_owner text,
    lease_until timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    -- Counts per store (rows, keys, messages removed), for the status endpoint.
    removed jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX erasure_jobs_due ON erasure_jobs (created_at) WHERE status <> 'done';
