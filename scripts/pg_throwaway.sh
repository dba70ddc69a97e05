#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for one test run (issue #12): the host's tests run on it and on SQLite.
#
#   scripts/pg_throwaway.sh start DIR   initdb in DIR/data, start postgres on 127.0.0.1 and a free port with its
#                                       socket in DIR, wait until it accepts connections; print the DSN
#                                       (postgresql://healthcard@127.0.0.1:PORT/postgres) on stdout.
#   scripts/pg_throwaway.sh stop DIR    stop that server (fast shutdown, then immediate) and remove DIR.
#
# PostgreSQL refuses to run as root: as root (CI) the cluster belongs to the system user `nobody` (runuser); as
# anyone else, to that user. The binaries come from Debian's `postgresql` package (scripts/setup.sh installs it);
# PG_BIN overrides where they are. Trust authentication on loopback only: nothing but this run can reach it, and
# the cluster is deleted at stop. fsync=off: a test cluster never has to survive a power cut.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
  echo "pg_throwaway: PostgreSQL server binaries not found (install Debian's postgresql package)" >&2
  exit 1
fi

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown nobody "$dir"; fi
    chmod 700 "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_owner "$PG_BIN/initdb" -D "$dir/data" -U healthcard --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { echo "pg_throwaway: initdb failed; see $dir/initdb.log" >&2; cat "$dir/initdb.log" >&2; exit 1; }
    as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null \
      || { echo "pg_throwaway: postgres did not start; see $dir/postgres.log" >&2; cat "$dir/postgres.log" >&2; exit 1; }
    echo "$port" > "$dir/port"
    echo "postgresql://healthcard@127.0.0.1:$port/postgres"
    ;;
  stop)
    if [ -d "$dir/data" ]; then
      as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 20 stop >/dev/null 2>&1 \
        || as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
