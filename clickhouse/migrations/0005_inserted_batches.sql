-- The processors' record of which batches are stored: one row per (instance_id, batch_id), written
-- after every raw table of a flush took the batch's rows. Every flush looks up the keys of its buffer
-- here and skips batches already present, so a batch is stored once whatever NATS does: a first
-- delivery after a nats-server kill -9 (its ack was lost), a redelivery, or a client retry after a
-- NATS restart (the work-queue stream deleted the acknowledged message, so its duplicate window no
-- longer knows the id). The lookup uses the primary key (instance_id, batch_id).
-- Partitioned by week of inserted_at; retention drops a week once it is older than 14 days, which
-- bounds the de-duplication window at 14 to 21 days (the README promises 15 minutes).
CREATE TABLE IF NOT EXISTS inserted_batches (
    inserted_at DateTime('UTC'),
    instance_id String,
    batch_id String
) ENGINE = MergeTree
PARTITION BY toMonday(inserted_at)
ORDER BY (instance_id, batch_id);
