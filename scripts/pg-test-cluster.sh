#!/usr/bin/env bash
# A private, throwaway PostgreSQL cluster for the test suite (ONECARD_TEST_BACKEND=postgresql).
#
#   scripts/pg-test-cluster.sh start   # fresh cluster; the last stdout line is its URL
#   scripts/pg-test-cluster.sh url     # postgresql://postgres@127.0.0.1:PORT/postgres
#   scripts/pg-test-cluster.sh stop    # fast stop and remove the data (never fails)
#
#   export ONECARD_TEST_POSTGRES="$(scripts/pg-test-cluster.sh start | tail -1)"
#
# Environment: ONECARD_PG_DIR (data directory, default /tmp/onecard-pg-test; removed by start
# and stop), ONECARD_PG_PORT (default 55432). The Unix socket lives next to the data directory
# (ONECARD_PG_DIR.sock), the server log in it (ONECARD_PG_DIR/postgres.log).
#
# This is a private test cluster: it listens on 127.0.0.1 only and trusts every local and
# 127.0.0.1 connection without a password. Never point it at real data. fsync stays on;
# max_connections=200, shared_buffers=256MB, locale C, encoding UTF8.
#
# Run as root (the usual case) the server runs as the user postgres (apt's postgresql package
# creates it; the script installs that package when the binaries are missing). Run as any
# other user it runs the PostgreSQL binaries directly as that user, who must own the
# directories. `start` when a server already answers on the port says so and leaves it alone.
set -euo pipefail

NAME=pg-test-cluster
. "$(dirname "$0")/pg-lib.sh"

PORT=${ONECARD_PG_PORT:-55432}
case "$PORT" in '' | *[!0-9]*) die "ONECARD_PG_PORT must be a port number, not '$PORT'" ;; esac
DIR=$(realpath -m -- "${ONECARD_PG_DIR:-/tmp/onecard-pg-test}")
[ "$DIR" != / ] || die "ONECARD_PG_DIR must not be /"
SOCK=$DIR.sock
URL="postgresql://postgres@127.0.0.1:$PORT/postgres"
# Commands run from / so that the postgres user never needs the caller's working directory.
cd /

answers() { "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -t 2 >/dev/null 2>&1; }

# serves PID DIR: whether PID is a live server process of data directory DIR (not a process
# that reused the number of a postmaster that died).
serves() { alive "$1" && [ "$(readlink "/proc/$1/cwd" 2>/dev/null)" = "$2" ]; }

# stop_dir DIR: fast stop of the server of data directory DIR, if one runs; never fails.
stop_dir() {
    local data=$1 pid=
    [ -f "$data/postmaster.pid" ] && pid=$(head -1 "$data/postmaster.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && serves "$pid" "$data"; then
        log "stopping the server of $data (pid $pid)"
        as_pg "$PGBIN/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1 || {
            log "pg_ctl stop failed; sending SIGINT (fast shutdown) to pid $pid"
            kill -INT "$pid" 2>/dev/null || true
        }
    fi
    # Whatever is left of this cluster (children of a postmaster killed with -9, or a server
    # that ignored pg_ctl) gets 30 s, then SIGKILL.
    local left i
    for i in $(seq 1 30); do
        left=$(procs_in "$data")
        [ -n "$left" ] || return 0
        sleep 1
    done
    log "killing leftover processes of $data: $(echo $left)"
    kill -KILL $left 2>/dev/null || true
    sleep 1
}

cmd_start() {
    ensure_bin
    if answers; then
        log "a PostgreSQL server already answers on 127.0.0.1:$PORT; leaving it as it is (scripts/pg-test-cluster.sh stop removes ours)"
        echo "$URL"
        return 0
    fi
    # A fresh cluster each time: whatever an earlier run left in DIR goes first.
    stop_dir "$DIR"
    rm -rf -- "$DIR" "$SOCK" || die "cannot remove the old $DIR or $SOCK; remove them by hand or set ONECARD_PG_DIR to a writable place"
    mkdir -p -- "$DIR" "$SOCK" || die "cannot create $DIR and $SOCK; set ONECARD_PG_DIR to a writable place"
    own "$DIR" "$SOCK"
    chmod 700 "$DIR"
    chmod 755 "$SOCK"
    as_pg test -w "$DIR" -a -w "$SOCK" \
        || die "the server's user ($(as_pg id -un)) cannot write $DIR (a parent directory is closed to it?); set ONECARD_PG_DIR under /tmp"

    initdb_trust "$DIR" "$DIR.initdb.log"
    # Private test cluster: trust for local sockets and 127.0.0.1, nothing else is accepted.
    as_pg tee "$DIR/pg_hba.conf" >/dev/null <<'EOF'
# scripts/pg-test-cluster.sh: a private test cluster, trust on loopback only.
local   all             all                     trust
host    all             all     127.0.0.1/32    trust
EOF
    as_pg tee -a "$DIR/postgresql.conf" >/dev/null <<EOF

# --- scripts/pg-test-cluster.sh ---
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCK'
max_connections = 200
shared_buffers = 256MB
fsync = on
EOF
    if ! as_pg "$PGBIN/pg_ctl" -D "$DIR" -l "$DIR/postgres.log" -w -t 60 start >/dev/null; then
        tail -20 "$DIR/postgres.log" >&2 || true
        die "the server did not start (log above, $DIR/postgres.log); is port $PORT taken by another program? set ONECARD_PG_PORT"
    fi
    local i
    for i in $(seq 1 60); do
        answers && break
        [ "$i" = 60 ] && die "the server started but does not answer on 127.0.0.1:$PORT after 30 s (log: $DIR/postgres.log)"
        sleep 0.5
    done
    log "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT (data $DIR, log $DIR/postgres.log)"
    echo "$URL"
}

cmd_stop() {
    find_bin
    if [ -n "$PGBIN" ] && [ -x "$PGBIN/pg_ctl" ]; then stop_dir "$DIR"; fi
    rm -rf -- "$DIR" "$SOCK" "$DIR.initdb.log" || true
    if [ -n "$PGBIN" ] && answers; then
        log "note: a server still answers on 127.0.0.1:$PORT; it does not run from $DIR and was left alone"
    fi
    return 0
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    url) echo "$URL" ;;
    *) die "usage: $0 start|stop|url (see the comment at the top of the script)" ;;
esac
