#!/usr/bin/env bash
# Start a local PostgreSQL for the test suite (installing it if missing) and print its URL.
# Needs root (apt-get, pg_ctlcluster). Used by .ci/run; developers may run it too.
set -euo pipefail
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-contrib >&2
fi
version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^$version main$"; then
  pg_createcluster "$version" main >&2
fi
pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 2>/dev/null || true
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 && break
  sleep 1
done
pg_isready -h 127.0.0.1 >&2
port=$(pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $3}')
su postgres -c "psql -q -p $port" >&2 <<SQL
do \$\$ begin
  if not exists (select from pg_roles where rolname = 'genome') then
    create role genome login createdb password 'genome';
  else
    alter role genome login createdb password 'genome';
  end if;
end \$\$;
SQL
if ! su postgres -c "psql -p $port -tAc \"select 1 from pg_database where datname = 'genome'\"" | grep -q 1; then
  su postgres -c "createdb -p $port -O genome genome" >&2
fi
echo "postgresql+psycopg://genome:genome@127.0.0.1:$port/genome"
