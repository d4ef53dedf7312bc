-- Placeholder for migration 0008, reserved for the "seal" branch (PII sealed at rest). The migration
-- runner refuses gaps, so the erasure branch (0009) carries this empty step; replace it with seal's 0008
-- when merging.
SELECT 1;
