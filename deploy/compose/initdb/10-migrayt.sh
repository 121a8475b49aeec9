#!/bin/sh
# First start of the PostgreSQL volume only: Migrayt's own role and database (Temporal uses the superuser
# to create its two databases). The password comes from postgres.env, never from this file.
set -eu
: "${MIGRAYT_DB_PASSWORD:?set MIGRAYT_DB_PASSWORD in postgres.env (make-secrets.sh writes it)}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres --set pw="$MIGRAYT_DB_PASSWORD" <<'SQL'
CREATE ROLE migrayt LOGIN PASSWORD :'pw';
CREATE DATABASE migrayt OWNER migrayt;
REVOKE ALL ON DATABASE migrayt FROM PUBLIC;
SQL
