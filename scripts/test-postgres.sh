#!/usr/bin/env bash
# A throwaway PostgreSQL server for the distributed-mode tests.
#   eval "$(scripts/test-postgres.sh start)"   starts one, prints the exports to use it
#   scripts/test-postgres.sh stop DIR          stops it and removes its files
# It listens on 127.0.0.1 only, on a non-default port, with its data in a temp folder.
# PostgreSQL comes from Debian's packages (installed here when missing; needs root).
set -euo pipefail
port="${AUTOML_PG_PORT:-55432}"

pg_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

case "${1:-}" in
  start)
    if [[ -z "$(pg_bin)" || ! -x "$(pg_bin)/initdb" ]]; then
      echo "installing PostgreSQL from Debian's packages" >&2
      apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    fi
    bin="$(pg_bin)"
    dir="$(mktemp -d /tmp/automl-pg.XXXXXX)"
    run=()
    if [[ "$(id -u)" == 0 ]]; then
      chown postgres "$dir"
      run=(runuser -u postgres --)
    fi
    "${run[@]}" "$bin/initdb" -D "$dir/data" -A trust -U postgres >"$dir/initdb.log" 2>&1
    "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off" \
      start >&2
    "${run[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres automl_test
    echo "export AUTOML_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:$port/automl_test"
    echo "export AUTOML_TEST_POSTGRES_DIR=$dir"
    ;;
  stop)
    dir="${2:?the folder printed by start}"
    bin="$(pg_bin)"
    run=()
    [[ "$(id -u)" == 0 ]] && run=(runuser -u postgres --)
    "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start | stop DIR" >&2
    exit 2
    ;;
esac
