#!/bin/sh
# Writes the three env files compose.yaml reads, with fresh random secrets, unless they exist (never overwrites:
# the codec keys decrypt every workflow history, and a new secret key could not read saved connections).
set -eu
cd "$(dirname "$0")"
umask 077
if [ -e migrayt.env ] || [ -e postgres.env ] || [ -e temporal.env ]; then
  echo "migrayt.env, postgres.env or temporal.env exists already: nothing written" >&2
  exit 1
fi
rand() { python3 -c 'import secrets; print(secrets.token_urlsafe(32))'; }
PG_SUPER=$(rand)
PG_MIGRAYT=$(rand)
CODEC_KEY=$(python3 -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())')
FERNET=$(python3 -c 'import base64, secrets; print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())')
printf 'POSTGRES_PASSWORD=%s\nMIGRAYT_DB_PASSWORD=%s\n' "$PG_SUPER" "$PG_MIGRAYT" > postgres.env
printf 'POSTGRES_PWD=%s\n' "$PG_SUPER" > temporal.env
{
  printf 'MIGRAYT_DATABASE_URL=postgresql+asyncpg://migrayt:%s@postgresql:5432/migrayt\n' "$PG_MIGRAYT"
  printf 'MIGRAYT_CODEC_KEYS=k%s:%s\n' "$(date +%Y%m%d)" "$CODEC_KEY"
  printf 'MIGRAYT_SECRET_KEY=%s\n' "$FERNET"
  printf 'MIGRAYT_ADMIN_TOKEN=%s\n' "$(rand)"
} > migrayt.env
echo "wrote postgres.env, temporal.env, migrayt.env (mode 0600); keep a copy of migrayt.env's keys in your vault"
