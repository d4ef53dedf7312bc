-- 0001's metrics_quality is partitioned by week alone and has no tier, so per-tier retention is
-- impossible there, and a partition key cannot be changed in place. It is renamed metrics_quality_v1
-- (its rows stay readable there and age out by dropping its weekly partitions), and 0003 creates the
-- new metrics_quality with the columns every raw table shares. One statement on purpose: it either
-- happened and is recorded, or it did not, so a re-run never meets a half-renamed table.
RENAME TABLE metrics_quality TO metrics_quality_v1;
