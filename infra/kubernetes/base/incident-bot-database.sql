-- incident-bot's own database on a PostgreSQL server: the role incident_bot owns the database
-- incident_bot and has no rights anywhere else. It is not the platform's application role,
-- not a superuser, and may not create roles or databases; the bot's migrations create its
-- tables in its own database. Run as the server's superuser, on every deploy: by the Job
-- incident-bot-db (Kubernetes) and the one-shot service incident-bot-db (Compose). Every
-- statement is idempotent, so a second run changes nothing but the password.
--
-- Environment, read with \getenv so that no value is on a command line:
--   INCIDENT_BOT_DB_PASSWORD  the role's password (set on every run: the Secret decides it)
--   POSTGRES_DB               the platform's database (default postgres)
\set ON_ERROR_STOP on
\set QUIET on
\getenv bot_password INCIDENT_BOT_DB_PASSWORD
\getenv platform_db POSTGRES_DB
\if :{?platform_db}
\else
\set platform_db postgres
\endif

\if :{?bot_password}
\else
\set bot_password ''
\endif
SELECT length(:'bot_password') > 0 AS have_password \gset
\if :have_password
\else
\warn 'incident-bot-database.sql: INCIDENT_BOT_DB_PASSWORD is empty or not set'
DO $$ BEGIN RAISE EXCEPTION 'no password for the role incident_bot'; END $$;
\endif

-- A role named incident_bot that this script did not create (say, a read-only role made for
-- the pg.* playbook steps) is left alone: the run fails and names it.
SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = 'incident_bot') AS role_exists,
       coalesce(shobj_description(
           (SELECT oid FROM pg_roles WHERE rolname = 'incident_bot'), 'pg_authid'), '')
       = 'incident-bot store' AS role_is_ours \gset
\if :role_exists
\if :role_is_ours
\else
\warn 'incident-bot-database.sql: a role incident_bot exists that is not the bot store''s (no comment ''incident-bot store''); rename it (ALTER ROLE incident_bot RENAME TO ...) and run again'
DO $$ BEGIN RAISE EXCEPTION 'role incident_bot exists and is not the bot store''s'; END $$;
\endif
\else
BEGIN;
CREATE ROLE incident_bot LOGIN;
COMMENT ON ROLE incident_bot IS 'incident-bot store';
COMMIT;
\endif

-- Pool of 10 per replica: 2 replicas, 1 more during a rolling update, and the CLI.
ALTER ROLE incident_bot WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
    NOBYPASSRLS INHERIT CONNECTION LIMIT 50 PASSWORD :'bot_password';
-- A member of no other role (pg_read_all_data and the like would reach other databases).
SELECT format('REVOKE %I FROM incident_bot', r.rolname)
  FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
 WHERE m.member = 'incident_bot'::regrole \gexec

SELECT 'CREATE DATABASE incident_bot OWNER incident_bot'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'incident_bot') \gexec
ALTER DATABASE incident_bot OWNER TO incident_bot;
-- Only its owner connects to the bot's database.
REVOKE ALL ON DATABASE incident_bot FROM PUBLIC;

-- Every role may connect to every database unless PUBLIC's CONNECT is revoked: the bot's role
-- may not connect to the platform's database or the maintenance ones. The platform's own role
-- is the server's superuser; a read-only role for the pg.* steps is granted CONNECT by name
-- (README, "Platform database access for playbooks").
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC, incident_bot', datname)
  FROM pg_database
 WHERE datname IN (:'platform_db', 'postgres', 'template1') AND datname <> 'incident_bot'
\gexec

\echo 'incident-bot-database.sql: role incident_bot and database incident_bot are ready'
