#!/usr/bin/env bash
# Shared by scripts/pg-test-cluster.sh and scripts/pg-pair.sh (sourced, never run): messages,
# the PostgreSQL binaries and the user that runs them, and the server processes of a data
# directory. The sourcing script sets NAME (its message prefix) first.

log() { printf '[%s] %s\n' "$NAME" "$*" >&2; }
die() { printf '[%s] error: %s\n' "$NAME" "$*" >&2; exit 1; }

# --- PostgreSQL binaries and the user that runs them -----------------------------------------
find_bin() { PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true); }
have_bin() { [ -n "${PGBIN:-}" ] && [ -x "$PGBIN/pg_ctl" ]; }
ensure_bin() {
    find_bin
    if ! have_bin || [ ! -x "$PGBIN/initdb" ]; then
        [ "$(id -u)" = 0 ] || die "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); as root run: apt-get install -y postgresql"
        log "installing postgresql (apt)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >/dev/null \
            || die "apt-get install -y postgresql failed; install PostgreSQL by hand and run again"
        find_bin
        have_bin && [ -x "$PGBIN/initdb" ] || die "postgresql is installed but /usr/lib/postgresql/*/bin/initdb is still missing"
    fi
    if [ "$(id -u)" = 0 ]; then
        id -u postgres >/dev/null 2>&1 || die "there is no user postgres to run the server (apt-get install postgresql creates it)"
    fi
}

# as_pg CMD...: CMD as the user that runs the server (postgres under root, else the caller).
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
# own PATH...: hands PATH to the server's user (only needed under root).
own() { if [ "$(id -u)" = 0 ]; then chown postgres: "$@"; fi; }

# initdb_trust DATA LOG: a new cluster in DATA (locale C, UTF8, superuser postgres trusted); on
# failure, initdb's output (kept in LOG until then) and an error naming DATA.
initdb_trust() {
    as_pg "$PGBIN/initdb" -D "$1" -U postgres --auth=trust -E UTF8 --locale=C >"$2" 2>&1 || {
        tail -20 "$2" >&2
        die "initdb into $1 failed (output above)"
    }
    rm -f "$2"
}

# --- processes -----------------------------------------------------------------------------
# procs_in DIR: pids of the processes whose working directory is DIR (every PostgreSQL server
# process works in its data directory), including ones whose directory was already removed.
procs_in() {
    local p c
    for p in /proc/[0-9]*; do
        c=$(readlink "$p/cwd" 2>/dev/null) || continue
        if [ "$c" = "$1" ] || [ "$c" = "$1 (deleted)" ]; then echo "${p#/proc/}"; fi
    done
}
# alive PID: whether PID is a live process (a zombie, dead but not yet reaped, is not).
alive() {
    local st
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "${st%% *}" != Z ]
}
