#!/usr/bin/env bash
# The README's test command: set up, make sure pcscd serves the vpcd readers, then ruff (lint and format --check),
# mypy, lint-imports (the architecture contracts of pyproject.toml), buf lint, pytest.
#
# pcscd: if nothing listens on the vpcd ports (35963/35964), start `pcscd -f` for this run and stop it at exit.
# A pcscd started by anything else (the system, a person) is used as is and never stopped. Concurrent runs share
# one test pcscd (the protocol of tests/e2e/conftest.py): each user holds a shared flock on
# /tmp/healthcard-pcscd.lock while it needs pcscd; check-and-start runs under an exclusive flock on
# /tmp/healthcard-pcscd.start.lock; a pcscd started this way has its pid in /tmp/healthcard-pcscd.pid; a user
# leaving stops it only if it gets the users lock exclusively without waiting (no one else uses it).
#
# PostgreSQL (issue #12): a throwaway cluster (scripts/pg_throwaway.sh: initdb in a temp dir as a non-root user,
# a free port) serves the host's tests on PostgreSQL for this run; its DSN is exported as HEALTHCARD_TEST_PG_DSN
# and it is stopped and removed at exit, even on failure. If it cannot start, the run fails (unless
# HEALTHCARD_SKIP_PG=1, which also makes the host's PostgreSQL tests skip).
#
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k channel`). Exit status is non-zero if any step
# fails; pytest finding no tests (exit 5) is a failure.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh || { echo "test: setup failed" >&2; exit 1; }

BIN=.venv/bin
LOCK=/tmp/healthcard-pcscd.lock
START_LOCK=/tmp/healthcard-pcscd.start.lock
PIDFILE=/tmp/healthcard-pcscd.pid
LOG=/tmp/healthcard-pcscd.log
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

vpcd_listening() {  # both vpcd ports in LISTEN state (no connection attempt: vpcd would take it for a card)
  local port
  for port in 8C7B 8C7C; do
    grep -qiE "^ *[0-9]+: [0-9A-F]+:${port} [0-9A-F]+:0000 0A " /proc/net/tcp /proc/net/tcp6 2>/dev/null || return 1
  done
}

is_pcscd() {  # a live pcscd (not a zombie waiting to be reaped)
  local stat
  [ -n "${1:-}" ] || return 1
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ "$stat" == *"(pcscd) "[!ZX]* ]]
}

start_pcscd() {
  local pcscd i pid
  pcscd="$(command -v pcscd || echo /usr/sbin/pcscd)"
  echo "test: starting $pcscd -f (log: $LOG)"
  $SUDO "$pcscd" -f >>"$LOG" 2>&1 8>&- 9>&- &
  for i in $(seq 1 150); do
    pid="$(tr -dc '0-9' 2>/dev/null </run/pcscd/pcscd.pid || true)"
    vpcd_listening && is_pcscd "$pid" && break
    sleep 0.1
  done
  if ! vpcd_listening || ! is_pcscd "$pid"; then
    echo "test: pcscd did not bring up the vpcd reader (ports 35963/35964); see $LOG" >&2
    return 1
  fi
  echo "$pid" > "$PIDFILE"
}

stop_test_pcscd() {
  local pid i
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  if is_pcscd "$pid"; then
    echo "test: stopping the pcscd this test run started (pid $pid)"
    $SUDO kill "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do is_pcscd "$pid" || break; sleep 0.05; done
  fi
  rm -f "$PIDFILE"
}

exec 9>>"$LOCK"
flock -s 9   # one user among possibly several; blocks only while a leaving run stops its pcscd
exec 8>>"$START_LOCK"
flock -x 8
pcscd_ok=1
if ! vpcd_listening; then
  start_pcscd || pcscd_ok=0
else
  echo "test: using the pcscd already serving the vpcd readers"
fi
flock -u 8
exec 8>&-

PGDIR=""
cleanup() {
  if [ -n "$PGDIR" ]; then bash scripts/pg_throwaway.sh stop "$PGDIR" 9>&- || true; fi
  if flock -x -n 9; then stop_test_pcscd; fi
  flock -u 9
}
trap cleanup EXIT
trap 'exit 130' INT TERM

status=0
step() {
  echo "==> $*"
  "$@" 9>&-
  local rc=$?
  if [ $rc -ne 0 ]; then echo "FAILED ($rc): $*" >&2; status=1; fi
  return 0
}

if [ $pcscd_ok -ne 1 ]; then status=1; fi
if [ "${HEALTHCARD_SKIP_PG:-}" != "1" ]; then
  PGDIR="$(mktemp -d /tmp/healthcard-pg.XXXXXX)"
  if dsn="$(bash scripts/pg_throwaway.sh start "$PGDIR" 9>&-)"; then
    export HEALTHCARD_TEST_PG_DSN="$dsn"
    echo "test: throwaway PostgreSQL at $dsn"
  else
    echo "test: the throwaway PostgreSQL cluster did not start (set HEALTHCARD_SKIP_PG=1 to skip its tests)" >&2
    status=1
  fi
fi
step "$BIN/ruff" check .
step "$BIN/ruff" format --check .
step "$BIN/mypy"
step "$BIN/lint-imports"
if [ -d protos ] && find protos -name "*.proto" -print -quit | grep -q .; then
  step "$BIN/buf" lint protos
fi
step "$BIN/pytest" "$@"

if [ $status -eq 0 ]; then echo "test: all steps passed"; else echo "test: FAILED" >&2; fi
exit $status
