#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server for the service tests (service.md §3:
# Debian's postgresql package, initdb as the postgres user, loopback only,
# fsync off) and prints its URL. Stop it with: pg-test-server.sh stop DIR
#   usage: scripts/pg-test-server.sh start DIR PORT   -> postgres://postgres@127.0.0.1:PORT/postgres
#          scripts/pg-test-server.sh stop DIR
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
case "$cmd" in
  start)
    port=${3:?PORT}
    mkdir -p "$dir"; chown postgres: "$dir"
    runuser -u postgres -- "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-sync >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w start \
      -o "-k $dir -p $port -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" >/dev/null \
      || { cat "$dir/log" >&2; exit 1; }
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
esac
