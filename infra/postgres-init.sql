-- Run once by the Postgres image when it creates its data volume (/docker-entrypoint-initdb.d),
-- as the superuser, in the trendmine database. trendmine's own role is not a superuser: it owns
-- the database and its public schema (migrations), may create the read-only BI role
-- (`trendmine bi-role create`: CREATEROLE), and finds pgvector already installed.
-- Its password comes from the secret file, never from the environment.
\set password `cat /run/secrets/trendmine_db_password`
CREATE ROLE trendmine LOGIN NOSUPERUSER CREATEROLE NOCREATEDB PASSWORD :'password';
ALTER DATABASE trendmine OWNER TO trendmine;
ALTER SCHEMA public OWNER TO trendmine;
CREATE EXTENSION IF NOT EXISTS vector;
