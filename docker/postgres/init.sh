#!/usr/bin/env bash
# One database per service, each owned by a role of its own that can connect to nothing else
# (run once, when the volume is empty). Passwords come from the environment (scripts/secrets).
set -euo pipefail
for service in users products recommender analytics; do
  variable="${service^^}_DB_PASSWORD"
  password="${!variable:?$variable is not set}"
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v role="$service" -v password="$password" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"role" OWNER :"role";
REVOKE ALL ON DATABASE :"role" FROM PUBLIC;
SQL
done
# No role but the owners (and the superuser) may connect to a service's database.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -c "REVOKE ALL ON DATABASE postgres FROM PUBLIC"
