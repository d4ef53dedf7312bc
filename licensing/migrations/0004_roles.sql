-- Separate database roles: smstats_write for the service (reads and writes rows, no DDL, cannot change or
-- delete the audit log) and smstats_read for reports and read-only tools. Roles are per cluster, grants per
-- database: every database this migration runs in gets the same grants. The roles are created without a
-- login here; the migrate step gives them one with passwords generated into <data>/secrets (never in the
-- repository), or an operator does with passwords of their own.
DO $$
BEGIN
  BEGIN
    CREATE ROLE smstats_write NOLOGIN;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; -- another database's migration made it
  END;
  BEGIN
    CREATE ROLE smstats_read NOLOGIN;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
  END;
END
$$;

GRANT USAGE ON SCHEMA public TO smstats_write, smstats_read;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO smstats_read;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO smstats_write;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO smstats_write;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM smstats_write;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM smstats_write;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON tier_policies FROM smstats_write;
-- Tables later migrations create get the same grants (the migrating role creates them).
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO smstats_read;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO smstats_write;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO smstats_write;
