#!/usr/bin/env bash
# A PostgreSQL primary with one synchronous standby on loopback, PostgreSQL's own streaming
# replication, for failover tests of the clearing store.
#
#   scripts/pg-pair.sh start            # node a primary, node b its sync standby, database onecard;
#                                       # the last stdout line is the URL
#   scripts/pg-pair.sh status           # each node: running, port, pg_is_in_recovery(); replication
#   scripts/pg-pair.sh kill-primary     # kill -9 the primary's postmaster (a crash)
#   scripts/pg-pair.sh promote          # the standby becomes the primary; prints its port
#   scripts/pg-pair.sh rebuild-standby  # the dead old primary comes back as the new sync standby
#   scripts/pg-pair.sh url              # postgresql://postgres@127.0.0.1:PORTA,127.0.0.1:PORTB/onecard
#   scripts/pg-pair.sh stop             # fast stop of both and remove everything (never fails)
#
# A failover drill: start, kill-primary, promote, (work on the new primary), rebuild-standby.
# The URL lists both nodes; the clearing store connects to the first host that is a primary
# (not in recovery). libpq tools (psql) do that only with ?target_session_attrs=read-write
# appended; without it they take the first host that answers, which may be the standby.
#
# Environment: ONECARD_PG_PAIR_DIR (default /tmp/onecard-pg-pair; data in a/ and b/, logs
# a.log and b.log, sockets in sock/), ONECARD_PG_PAIR_PORT_A (55441), ONECARD_PG_PAIR_PORT_B
# (55442). Both listen on 127.0.0.1 only and trust every 127.0.0.1 and local connection, for
# all users and for replication, without a password: a private test pair, never real data.
#
# Replication: postgresql.conf is the same on both nodes (pg_basebackup copies it): wal_level
# replica, max_wal_senders 10, wal_keep_size 512MB, synchronous_commit on and
# synchronous_standby_names = 'FIRST 1 (onecard_a, onecard_b)', so whichever node is the
# standby is the synchronous one. What differs per node is in its onecard-node.conf (included
# last by postgresql.conf): its port, and a primary_conninfo to the other node with
# application_name=onecard_<its own name>. A standby is made with pg_basebackup -R -X stream
# (standby.signal), whose primary_conninfo in postgresql.auto.conf is then replaced by one with
# application_name=onecard_<its own name> (the backup itself connects under another name: its
# WAL stream would otherwise count as the synchronous standby); start and rebuild-standby
# return only once pg_stat_replication on the primary shows the standby with sync_state 'sync'.
#
# synchronous_commit=on means a commit returns once the standby has the WAL on disk, not once
# it has replayed it: a read on the standby right after a commit on the primary may not see it
# yet (SET synchronous_commit = remote_apply in a session that needs that). Commits that waited
# for a standby while it was being rebuilt may stay invisible on that new standby for up to
# ~15 s (until the primary logs its next running-transactions record), though they are there.
#
# Commits while no standby is attached: with synchronous_standby_names set, a commit on the
# primary waits (for ever) until a standby confirms it. After kill-primary the survivor is
# alone, so `promote` clears the setting on the new primary (ALTER SYSTEM SET
# synchronous_standby_names = '' and pg_reload_conf()): from the promotion until
# rebuild-standby, commits are acknowledged by that one node only and are lost if that node's
# disk is lost before the standby has copied them. rebuild-standby starts the rebuilt standby,
# waits until it streams, then puts the setting back (ALTER SYSTEM RESET, reload: the shared
# postgresql.conf value applies again) and waits for sync_state 'sync'; from then on every
# commit is on both nodes again (the rebuilt standby's copy of postgresql.auto.conf loses the
# '' line). No acknowledged commit is lost in a failover: each one was on the standby's disk.
#
# Run as root (the usual case) the servers run as the user postgres (installed with apt's
# postgresql package when the binaries are missing); run as another user, the PostgreSQL
# binaries run directly as that user, who must own ONECARD_PG_PAIR_DIR.
set -euo pipefail

NAME=pg-pair
. "$(dirname "$0")/pg-lib.sh"

PORT_A=${ONECARD_PG_PAIR_PORT_A:-55441}
PORT_B=${ONECARD_PG_PAIR_PORT_B:-55442}
for p in "$PORT_A" "$PORT_B"; do
    case "$p" in '' | *[!0-9]*) die "ONECARD_PG_PAIR_PORT_A and _B must be port numbers, not '$p'" ;; esac
done
[ "$PORT_A" != "$PORT_B" ] || die "ONECARD_PG_PAIR_PORT_A and ONECARD_PG_PAIR_PORT_B must differ"
DIR=$(realpath -m -- "${ONECARD_PG_PAIR_DIR:-/tmp/onecard-pg-pair}")
[ "$DIR" != / ] || die "ONECARD_PG_PAIR_DIR must not be /"
SOCK=$DIR/sock
DB=onecard
URL="postgresql://postgres@127.0.0.1:$PORT_A,127.0.0.1:$PORT_B/$DB"
SYNC_NAMES="FIRST 1 (onecard_a, onecard_b)"
# Commands run from / so that the postgres user never needs the caller's working directory.
cd /

port_of() { if [ "$1" = a ]; then echo "$PORT_A"; else echo "$PORT_B"; fi; }
other() { if [ "$1" = a ]; then echo b; else echo a; fi; }
data_of() { echo "$DIR/$1"; }

# --- asking the nodes --------------------------------------------------------------------------
answers() { "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$(port_of "$1")" -U postgres -d postgres -t 2 >/dev/null 2>&1; }
# sql NODE DATABASE QUERY: the rows, unaligned, fields separated by |.
sql() {
    PGCONNECT_TIMEOUT=3 "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(port_of "$1")" -U postgres -d "$2" -c "$3"
}
# role NODE: down, primary or standby.
role() {
    local r
    if ! answers "$1"; then echo down; return; fi
    r=$(sql "$1" postgres "SELECT pg_is_in_recovery()" 2>/dev/null || true)
    case "$r" in t) echo standby ;; f) echo primary ;; *) echo down ;; esac
}
# sync_state PRIMARY STANDBY: the standby's sync_state in the primary's pg_stat_replication.
sync_state() {
    sql "$1" postgres "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'onecard_$2' AND state = 'streaming' ORDER BY sync_state = 'sync' DESC LIMIT 1" 2>/dev/null || true
}
# wait_replication PRIMARY STANDBY STATE SECONDS: until the standby streams to the primary
# (STATE any) or is its synchronous standby (STATE sync).
wait_replication() {
    local primary=$1 standby=$2 want=$3 limit=$4 s
    SECONDS=0
    while :; do
        s=$(sync_state "$primary" "$standby")
        if [ "$want" = sync ] && [ "$s" = sync ]; then return 0; fi
        if [ "$want" = any ] && [ -n "$s" ]; then return 0; fi
        [ "$SECONDS" -lt "$limit" ] || die "node $standby is not the $( [ "$want" = sync ] && echo synchronous || echo streaming) standby of node $primary after $limit s (sync_state now '${s:-not connected}'; logs $DIR/$standby.log and $DIR/$primary.log)"
        sleep 0.5
    done
}

# --- processes -----------------------------------------------------------------------------------
# postmaster NODE: the pid of the node's live postmaster, or nothing. The pid comes from the
# first line of postmaster.pid and must be a live process working in the data directory (not a
# process that reused the number of a postmaster that died).
postmaster() {
    local data pid
    data=$(data_of "$1")
    [ -f "$data/postmaster.pid" ] || return 0
    pid=$(head -1 "$data/postmaster.pid" 2>/dev/null || true)
    case "$pid" in '' | *[!0-9]*) return 0 ;; esac
    if alive "$pid" && [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$data" ]; then echo "$pid"; fi
}
# wait_procs_gone NODE SECONDS: until no process works in the node's data directory; then
# SIGKILL for what is left (children of a postmaster killed with -9 exit by themselves).
wait_procs_gone() {
    local data left
    data=$(data_of "$1")
    SECONDS=0
    while :; do
        left=$(procs_in "$data")
        [ -n "$left" ] || return 0
        if [ "$SECONDS" -ge "$2" ]; then
            log "killing leftover processes of node $1: $(echo $left)"
            kill -KILL $left 2>/dev/null || true
            sleep 1
            return 0
        fi
        sleep 0.5
    done
}
# stop_node NODE: fast stop, if it runs; never fails.
stop_node() {
    local data pid
    data=$(data_of "$1")
    pid=$(postmaster "$1")
    if [ -n "$pid" ]; then
        log "stopping node $1 (port $(port_of "$1"), pid $pid)"
        as_pg "$PGBIN/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1 || {
            log "pg_ctl stop of node $1 failed; sending SIGINT (fast shutdown) to pid $pid"
            kill -INT "$pid" 2>/dev/null || true
        }
    fi
    wait_procs_gone "$1" 30
}
start_node() {
    local data
    data=$(data_of "$1")
    if ! as_pg "$PGBIN/pg_ctl" -D "$data" -l "$DIR/$1.log" -w -t 120 start >/dev/null; then
        tail -20 "$DIR/$1.log" >&2 || true
        die "node $1 did not start (log above, $DIR/$1.log); is port $(port_of "$1") taken by another program? set ONECARD_PG_PAIR_PORT_${1^^}"
    fi
    SECONDS=0
    until answers "$1"; do
        [ "$SECONDS" -lt 30 ] || die "node $1 started but does not answer on 127.0.0.1:$(port_of "$1") (log $DIR/$1.log)"
        sleep 0.5
    done
}

# --- configuration -------------------------------------------------------------------------------
# write_node_conf NODE: the node's own settings (port, primary_conninfo with its own
# application_name), included last by the shared postgresql.conf.
write_node_conf() {
    local o
    o=$(other "$1")
    as_pg tee "$(data_of "$1")/onecard-node.conf" >/dev/null <<EOF
# scripts/pg-pair.sh: the settings of node $1 only (rewritten after every pg_basebackup,
# which copies the other node's file).
port = $(port_of "$1")
primary_conninfo = 'host=127.0.0.1 port=$(port_of "$o") user=postgres application_name=onecard_$1'
EOF
}

# init_primary NODE: initdb, the shared configuration, start.
init_primary() {
    local data
    data=$(data_of "$1")
    as_pg mkdir -m 700 "$data"
    initdb_trust "$data" "$DIR/$1.initdb.log"
    as_pg tee "$data/pg_hba.conf" >/dev/null <<'EOF'
# scripts/pg-pair.sh: a private test pair, trust on loopback only (copied to the standby).
local   all             all                     trust
host    all             all     127.0.0.1/32    trust
local   replication     all                     trust
host    replication     all     127.0.0.1/32    trust
EOF
    as_pg tee -a "$data/postgresql.conf" >/dev/null <<EOF

# --- scripts/pg-pair.sh: the same on both nodes (pg_basebackup copies this file) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$SOCK'
wal_level = replica
max_wal_senders = 10
wal_keep_size = 512MB
hot_standby = on
synchronous_commit = on
synchronous_standby_names = '$SYNC_NAMES'
# port and primary_conninfo, per node:
include_if_exists = 'onecard-node.conf'
EOF
    write_node_conf "$1"
    start_node "$1"
}

# build_standby NODE PRIMARY: a fresh data directory for NODE, copied from PRIMARY with
# pg_basebackup -R -X stream; NODE is started and streams when this returns.
build_standby() {
    local node=$1 primary=$2 data auto
    data=$(data_of "$node")
    rm -rf -- "$data"
    as_pg mkdir -m 700 "$data"
    log "pg_basebackup of node $node from node $primary (port $(port_of "$primary"))"
    # Not onecard_NODE: pg_basebackup's WAL stream (on a temporary slot) reports flushes, so
    # under that name it would be taken for the synchronous standby and release commits.
    as_pg "$PGBIN/pg_basebackup" -D "$data" -R -X stream -c fast -w \
        -d "host=127.0.0.1 port=$(port_of "$primary") user=postgres application_name=pg_basebackup_onecard_$node" \
        >"$DIR/$node.basebackup.log" 2>&1 || {
        tail -20 "$DIR/$node.basebackup.log" >&2
        die "pg_basebackup of node $node from node $primary failed (output above)"
    }
    rm -f "$DIR/$node.basebackup.log"
    write_node_conf "$node"
    auto=$data/postgresql.auto.conf
    # The copy of the primary's ALTER SYSTEM settings must not turn synchronous replication off
    # on this node (promote clears it on a lone primary); the shared postgresql.conf decides.
    as_pg sed -i '/^[[:space:]]*synchronous_standby_names[[:space:]]*=/d' "$auto"
    # -R appended a primary_conninfo with the backup's application_name (and a copy from a
    # node that was a standby itself has an old one, to itself): one line, this node's name.
    as_pg sed -i '/^[[:space:]]*primary_conninfo[[:space:]]*=/d' "$auto"
    printf "primary_conninfo = 'host=127.0.0.1 port=%s user=postgres application_name=onecard_%s'\n" \
        "$(port_of "$primary")" "$node" | as_pg tee -a "$auto" >/dev/null
    [ -f "$data/standby.signal" ] || die "pg_basebackup -R wrote no standby.signal in $data"
    start_node "$node"
    wait_replication "$primary" "$node" any 60
}

# roles: RA and RB, the roles of node a and node b.
roles() { RA=$(role a); RB=$(role b); }
role_var() { if [ "$1" = a ]; then echo "$RA"; else echo "$RB"; fi; }
# the NODE-ROLE: the node that has ROLE (of RA, RB), or nothing; dies when both have it.
the() {
    if [ "$RA" = "$1" ] && [ "$RB" = "$1" ]; then
        [ "$1" = primary ] && die "both nodes are primaries (a split brain: a node came back on its own); run stop and start"
        echo both
    elif [ "$RA" = "$1" ]; then echo a
    elif [ "$RB" = "$1" ]; then echo b
    fi
}

# --- commands --------------------------------------------------------------------------------------
cmd_start() {
    ensure_bin
    roles
    if [ "$RA" != down ] || [ "$RB" != down ]; then
        local p s
        p=$(the primary)
        if [ -n "$p" ] && [ "$(role_var "$(other "$p")")" = standby ]; then
            s=$(sync_state "$p" "$(other "$p")")
            if [ "$s" = sync ]; then
                log "the pair already runs: node $p is the primary (port $(port_of "$p")), node $(other "$p") its synchronous standby; left as it is"
                echo "$URL"
                return 0
            fi
        fi
        die "the pair runs only in part (node a: $RA, node b: $RB); see scripts/pg-pair.sh status, then rebuild-standby (after a failover) or stop and start"
    fi
    # A fresh pair each time: whatever an earlier run left goes first.
    stop_node a
    stop_node b
    rm -rf -- "$DIR" || die "cannot remove the old $DIR; remove it by hand or set ONECARD_PG_PAIR_DIR"
    mkdir -p -- "$DIR" || die "cannot create $DIR; set ONECARD_PG_PAIR_DIR to a writable place"
    own "$DIR"
    chmod 755 "$DIR"
    as_pg mkdir -m 755 "$SOCK" 2>/dev/null \
        || die "the servers' user ($(as_pg id -un)) cannot write $DIR (a parent directory is closed to it?); set ONECARD_PG_PAIR_DIR under /tmp"

    log "node a: initdb, primary on port $PORT_A"
    init_primary a
    build_standby b a
    wait_replication a b sync 60
    # After the standby: with synchronous replication on, this commit needs it.
    sql a postgres "CREATE DATABASE $DB" >/dev/null
    SECONDS=0
    until [ "$(sql b postgres "SELECT count(*) FROM pg_database WHERE datname = '$DB'" 2>/dev/null || true)" = 1 ]; do
        [ "$SECONDS" -lt 30 ] || die "database $DB did not reach node b within 30 s (log $DIR/b.log)"
        sleep 0.2
    done
    log "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}'): node a primary on 127.0.0.1:$PORT_A, node b synchronous standby on 127.0.0.1:$PORT_B; database $DB (dir $DIR, logs $DIR/a.log, $DIR/b.log)"
    echo "$URL"
}

cmd_status() {
    ensure_bin
    local n r p pid
    roles
    for n in a b; do
        r=$(role_var "$n")
        pid=$(postmaster "$n")
        case "$r" in
            down)
                if [ -n "$pid" ]; then
                    echo "node $n  port $(port_of "$n")  not answering (postmaster pid $pid still alive)"
                else
                    echo "node $n  port $(port_of "$n")  not running"
                fi ;;
            primary) echo "node $n  port $(port_of "$n")  running (pid ${pid:-?})  pg_is_in_recovery=f  primary" ;;
            standby) echo "node $n  port $(port_of "$n")  running (pid ${pid:-?})  pg_is_in_recovery=t  standby" ;;
        esac
    done
    for p in a b; do
        [ "$(role_var "$p")" = primary ] || continue
        echo "primary node $p: synchronous_standby_names = '$(sql "$p" postgres "SHOW synchronous_standby_names")'"
        echo "pg_stat_replication on node $p (application_name|state|sync_state|replay_lsn):"
        sql "$p" postgres "SELECT application_name, state, sync_state, replay_lsn FROM pg_stat_replication ORDER BY application_name" \
            | sed 's/^/  /'
        [ -n "$(sql "$p" postgres "SELECT 1 FROM pg_stat_replication LIMIT 1")" ] || echo "  (no standby attached)"
    done
    [ "$RA" != down ] || [ "$RB" != down ] || echo "(the pair is not running; scripts/pg-pair.sh start)"
}

cmd_kill_primary() {
    ensure_bin
    local p pid
    roles
    p=$(the primary)
    [ -n "$p" ] || die "no node is a primary (node a: $RA, node b: $RB); nothing killed"
    pid=$(postmaster "$p")
    [ -n "$pid" ] || die "node $p answers as the primary on port $(port_of "$p") but $(data_of "$p")/postmaster.pid names no live postmaster of it; nothing killed"
    kill -9 "$pid"
    SECONDS=0
    while answers "$p"; do
        [ "$SECONDS" -lt 10 ] || die "killed the postmaster of node $p (pid $pid), but port $(port_of "$p") still answers after 10 s"
        sleep 0.2
    done
    log "node $p: postmaster pid $pid killed with SIGKILL; port $(port_of "$p") no longer answers (its children exit by themselves)"
    echo "killed node $p (the primary, port $(port_of "$p"), postmaster pid $pid)"
}

cmd_promote() {
    ensure_bin
    local p s
    roles
    p=$(the primary)
    if [ -n "$p" ] && [ "$(role_var "$(other "$p")")" = down ]; then
        log "node $p already is the primary (port $(port_of "$p")) and node $(other "$p") is down; nothing to promote (rebuild-standby makes node $(other "$p") its standby)"
        port_of "$p"
        return 0
    fi
    [ -z "$p" ] || die "node $p is the primary and alive (port $(port_of "$p")); promote the standby only once the primary is gone (scripts/pg-pair.sh kill-primary)"
    s=$(the standby)
    [ -n "$s" ] || die "no node is a standby to promote (node a: $RA, node b: $RB)"
    [ "$s" != both ] || die "both nodes are standbys and no primary runs; run stop and start"
    log "promoting node $s (port $(port_of "$s"))"
    as_pg "$PGBIN/pg_ctl" -D "$(data_of "$s")" -w -t 60 promote >/dev/null \
        || die "pg_ctl promote of node $s failed (log $DIR/$s.log)"
    SECONDS=0
    until [ "$(sql "$s" postgres "SELECT pg_is_in_recovery()" 2>/dev/null || true)" = f ]; do
        [ "$SECONDS" -lt 60 ] || die "node $s is still in recovery 60 s after pg_ctl promote (log $DIR/$s.log)"
        sleep 0.2
    done
    # Alone now: commits would wait for a standby that is not there (see the header).
    sql "$s" postgres "ALTER SYSTEM SET synchronous_standby_names = ''" >/dev/null
    sql "$s" postgres "SELECT pg_reload_conf()" >/dev/null
    SECONDS=0
    until [ -z "$(sql "$s" postgres "SHOW synchronous_standby_names")" ]; do
        [ "$SECONDS" -lt 10 ] || die "node $s did not take synchronous_standby_names = '' on reload (log $DIR/$s.log)"
        sleep 0.2
    done
    log "node $s is the primary on 127.0.0.1:$(port_of "$s"); synchronous replication is off until scripts/pg-pair.sh rebuild-standby"
    port_of "$s"
}

cmd_rebuild_standby() {
    ensure_bin
    local p n
    roles
    p=$(the primary)
    [ -n "$p" ] || die "no node is a primary (node a: $RA, node b: $RB); after kill-primary run promote first"
    n=$(other "$p")
    case "$(role_var "$n"):$(sync_state "$p" "$n")" in
        standby:sync)
            log "the pair is whole: node $n already is the synchronous standby of node $p; nothing rebuilt"
            return 0 ;;
        standby:?*)
            # Streams already (an earlier rebuild-standby stopped before the end): no new copy.
            log "node $n already streams from node $p; turning synchronous replication back on" ;;
        *)
            log "rebuilding node $n as the standby of node $p (port $(port_of "$p"))"
            stop_node "$n"
            build_standby "$n" "$p" ;;
    esac
    # The standby streams: synchronous replication back on (the shared postgresql.conf value).
    sql "$p" postgres "ALTER SYSTEM RESET synchronous_standby_names" >/dev/null
    sql "$p" postgres "SELECT pg_reload_conf()" >/dev/null
    wait_replication "$p" "$n" sync 60
    log "the pair is whole: node $p primary on 127.0.0.1:$(port_of "$p"), node $n its synchronous standby on 127.0.0.1:$(port_of "$n")"
}

cmd_stop() {
    find_bin
    if have_bin; then
        stop_node a
        stop_node b
    fi
    rm -rf -- "$DIR" || true
    if have_bin; then
        local n
        for n in a b; do
            if answers "$n"; then log "note: a server still answers on 127.0.0.1:$(port_of "$n"); it does not run from $DIR and was left alone"; fi
        done
    fi
    return 0
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    kill-primary) cmd_kill_primary ;;
    promote) cmd_promote ;;
    rebuild-standby) cmd_rebuild_standby ;;
    url) echo "$URL" ;;
    *) die "usage: $0 start|stop|status|kill-primary|promote|url|rebuild-standby (see the comment at the top of the script)" ;;
esac
