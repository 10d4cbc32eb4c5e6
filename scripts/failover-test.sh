#!/usr/bin/env bash
# The failover test of the clearing store on PostgreSQL: a primary with a synchronous standby
# (scripts/pg-pair.sh) whose primary is killed with SIGKILL twice, once while terminals upload
# to a running front-end and once while a day is settled; each time the standby is promoted
# and the work resumes. What it proves:
#
#   1. no acknowledged upload is lost or doubled: every batch `onecard serve` answered 200
#      before the kill is in the database after it (and answered `replayed` when the terminal
#      sends it again), every batch file is stored exactly once after the terminals' retry, and
#      the accepted records and amounts equal those of the same day cleared on SQLite without
#      any failure; `onecard clearing check` holds;
#   2. the front-end that was connected when the primary died is not restarted: it reconnects
#      to the promoted standby by itself (time from the promotion to its next acknowledgement);
#   3. a settlement killed mid-run by the loss of its database fails with a clear message
#      ("the database server cannot be reached …"), and the settlement run again on the new
#      primary writes exactly the files of a settlement without the failure (every file byte
#      for byte, on the same database), with one set of postings and the ledger check holding;
#      against the SQLite reference, positions.csv is byte-identical, summary.json equal but for
#      its list of runs, and the clearing files and refusals.csv hold the same rows (their rows
#      are in upload order, which concurrent terminals and a retry change: docs/settlement.md).
#
# Run (PostgreSQL is installed by pg-pair.sh when missing; root or the owner of FAILOVER_DIR):
#
#   scripts/failover-test.sh                               # .build/release/onecard, else .build/debug/onecard
#   ONECARD=/tmp/onecard-debug scripts/failover-test.sh     # any binary
#
# The last lines are a PASS or FAIL summary; exit status 0 only when every check passed (1: a
# check failed, 2: the test could not run). It stops the pair and every process it started on
# exit, whatever happens. Each wait has a time limit, so a hang is reported as a failure, never
# waited for.
#
# Environment:
#   ONECARD                  the binary (default .build/release/onecard, else .build/debug/onecard)
#   FAILOVER_DIR             work directory (default /tmp/onecard-failover); the generated day is
#                            kept there and reused while the sizes below are unchanged
#   FAILOVER_CARDS (6000), FAILOVER_TAPS (120000), FAILOVER_BATCH_RECORDS (300): the day
#                            (loadgen; a few hundred batch files from the city's terminals)
#   FAILOVER_CONCURRENCY (4) uploads in flight (onecard bench-upload)
#   FAILOVER_RESUME_SECONDS (40) longest wait for the front-end's first acknowledgement after
#                            the promotion (the store retries for the URL's connect_timeout, 10 s)
#   FAILOVER_PG_DIR (FAILOVER_DIR/pair), FAILOVER_PG_PORT_A (55471), FAILOVER_PG_PORT_B (55472):
#                            the pair's place; not pg-pair.sh's defaults, so that a pair a
#                            developer runs by hand is left alone
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

NAME=failover
SECONDS=0
log() { printf '[%s %3ds] %s\n' "$NAME" "$SECONDS" "$*" >&2; }
die() { printf '[%s] cannot run: %s\n' "$NAME" "$*" >&2; exit 2; }

if [ -n "${ONECARD:-}" ]; then
    BIN=$ONECARD
elif [ -x .build/release/onecard ]; then
    BIN=.build/release/onecard
else
    BIN=.build/debug/onecard
fi
[ -x "$BIN" ] || die "no onecard binary at $BIN: build it (swift build -c release --product onecard) or set ONECARD"
BIN=$(realpath "$BIN")
W=$(realpath -m -- "${FAILOVER_DIR:-/tmp/onecard-failover}")
[ "$W" != / ] || die "FAILOVER_DIR must not be /"
CARDS=${FAILOVER_CARDS:-6000}
TAPS=${FAILOVER_TAPS:-120000}
BATCH_RECORDS=${FAILOVER_BATCH_RECORDS:-300}
CONCURRENCY=${FAILOVER_CONCURRENCY:-4}
RESUME_SECONDS=${FAILOVER_RESUME_SECONDS:-40}
for v in CARDS TAPS BATCH_RECORDS CONCURRENCY RESUME_SECONDS; do
    case "${!v}" in '' | *[!0-9]*) die "FAILOVER_$v must be a number, not '${!v}'" ;; esac
done
export ONECARD_PG_PAIR_DIR=${FAILOVER_PG_DIR:-$W/pair}
export ONECARD_PG_PAIR_PORT_A=${FAILOVER_PG_PORT_A:-55471}
export ONECARD_PG_PAIR_PORT_B=${FAILOVER_PG_PORT_B:-55472}
PAIR=$ROOT/scripts/pg-pair.sh
CITY=$ROOT/config/city-xian.json
DAY=2026-03-02
# Received after midnight, before the 02:00 cut-off: business day $DAY, after every header.
RECEIVED=2026-03-03T01:00:00
command -v python3 >/dev/null || die "python3 is needed for the JSON checks"

# --- bookkeeping -------------------------------------------------------------------------------
FAILS=()
fail() { FAILS+=("$*"); printf '[%s %3ds] FAIL: %s\n' "$NAME" "$SECONDS" "$*" >&2; }
ok() { printf '[%s %3ds] ok: %s\n' "$NAME" "$SECONDS" "$*" >&2; }
now_ms() { date +%s%3N; }
secs() { awk -v ms="$1" 'BEGIN { printf "%.1f", ms / 1000 }'; }
count_lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# Every process this script starts in the background is in PIDS; the trap ends what is left.
PIDS=()
alive() { kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != Z ]; }
# stop_pid PID SECONDS: SIGTERM, then SIGKILL after SECONDS; returns 1 when SIGKILL was needed.
stop_pid() {
    local pid=$1 i
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < $2 * 10; i++)); do alive "$pid" || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    return 1
}
# wait_exit PID SECONDS: waits for PID to exit; sets RC to its status, or returns 1 if it still
# runs after SECONDS.
wait_exit() {
    local pid=$1 i
    for ((i = 0; i < $2 * 20; i++)); do
        if ! alive "$pid"; then RC=0; wait "$pid" || RC=$?; return 0; fi
        sleep 0.05
    done
    return 1
}
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid" 3 >/dev/null 2>&1 || true; done
    "$PAIR" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# psql on the pair's current primary.
PSQL_URL="postgresql://postgres@127.0.0.1:$ONECARD_PG_PAIR_PORT_A,127.0.0.1:$ONECARD_PG_PAIR_PORT_B/onecard?target_session_attrs=read-write&connect_timeout=3"
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$PSQL_URL" -c "$1"; }
# evidence PID WHAT: what a process that should have ended or resumed is doing (for the report):
# its state, its connections to the pair, its threads waiting in the store (gdb, if installed).
evidence() {
    echo "== $2, pid $1: $(ps -o stat=,time= -p "$1" 2>/dev/null || echo gone) (state, CPU time)"
    echo "== its TCP connections to the pair:"
    ss -tnp 2>/dev/null | grep "pid=$1," | grep -E ":($ONECARD_PG_PAIR_PORT_A|$ONECARD_PG_PAIR_PORT_B)\b" || echo "(none)"
    if command -v gdb >/dev/null; then
        echo "== its threads in the store, innermost first (gdb):"
        timeout 60 gdb -p "$1" -batch -ex "thread apply all bt 40" 2>/dev/null \
            | grep -E "^Thread|PostgresStorage|Storage13ClearingStore|ClearingService|EventLoopFuture.*wait" \
            | sed -E 's/^(#[0-9]+) +0x[0-9a-f]+ in /\1 /; s/ \(.*\) at / at /' | cut -c1-220 || true
    fi
}

# --- the pair (started in the background while the day is generated and cleared on SQLite) ----
for port in "$ONECARD_PG_PAIR_PORT_A" "$ONECARD_PG_PAIR_PORT_B"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "something already listens on 127.0.0.1:$port (another pair?): stop it, or set FAILOVER_PG_PORT_A and FAILOVER_PG_PORT_B"
    fi
done
mkdir -p "$W"
rm -rf "$W/run"
mkdir -p "$W/run"
R=$W/run
log "binary $BIN; work directory $W; pair on 127.0.0.1:$ONECARD_PG_PAIR_PORT_A,$ONECARD_PG_PAIR_PORT_B ($ONECARD_PG_PAIR_DIR)"
"$PAIR" start >"$R/pair.url" 2>"$R/pair.log" &
PAIR_START=$!
PIDS+=("$PAIR_START")

# --- the day -----------------------------------------------------------------------------------
T0=$(now_ms)
REUSED=
PARAMS="cards=$CARDS taps=$TAPS batch=$BATCH_RECORDS seed=11 day=$DAY faults=forged-tac:0.001,grey:0.001"
G=$W/day
if [ "$(cat "$G/params" 2>/dev/null || true)" != "$PARAMS" ] || [ ! -f "$G/keys.json" ] || [ ! -f "$G/out/ground-truth.json" ]; then
    log "generating the day: $CARDS cards, $TAPS taps, at most $BATCH_RECORDS records a batch (loadgen)"
    rm -rf "$G"
    mkdir -p "$G"
    "$BIN" keys new --out "$G/keys.json" >/dev/null
    # Forged TACs and grey records: refusals whose outcome does not depend on the upload order
    # (duplicates would: which copy is refused depends on which came first).
    "$BIN" loadgen --city "$CITY" --keys "$G/keys.json" --cards "$CARDS" --taps "$TAPS" --seed 11 --start-date "$DAY" \
        --batch-records-max "$BATCH_RECORDS" --forged-tac 0.001 --grey 0.001 --out "$G/out" --json >"$G/loadgen.json"
    echo "$PARAMS" >"$G/params"
else
    log "reusing the generated day in $G ($PARAMS)"
    REUSED=" (reused)"
fi
KEYS=$G/keys.json
BATCHES=$G/out/batches
FILES=$(find "$BATCHES" -name '*.ocub' | wc -l)
[ "$FILES" -gt 50 ] || die "the day has only $FILES batch files: raise FAILOVER_TAPS or lower FAILOVER_BATCH_RECORDS"
T_GEN=$(($(now_ms) - T0))

# --- the reference: the same day on SQLite, no failure -----------------------------------------
T0=$(now_ms)
log "reference: clearing the $FILES batch files into a fresh SQLite file and settling $DAY"
REF_DB=$R/reference.sqlite
"$BIN" clearing terminals add --db "$REF_DB" --city "$CITY" --from-city >/dev/null
"$BIN" clearing ingest --db "$REF_DB" --keys "$KEYS" --received-at "$RECEIVED" --json "$BATCHES"/*.ocub >"$R/reference-ingest.json"
"$BIN" settle --db "$REF_DB" --date "$DAY" --out "$R/reference-settlement" --json >/dev/null
REF_ACCEPTED=$(field "$R/reference-ingest.json" accepted)
REF_FEN=$(field "$R/reference-ingest.json" acceptedAmountFen)
[ "$(field "$R/reference-ingest.json" batches)" = "$FILES" ] || die "the reference ingest took $(field "$R/reference-ingest.json" batches) of $FILES files"
T_REF=$(($(now_ms) - T0))

wait_exit "$PAIR_START" 180 || die "scripts/pg-pair.sh start did not finish in 180 s (log $R/pair.log)"
[ "$RC" = 0 ] || { tail -20 "$R/pair.log" >&2; die "scripts/pg-pair.sh start failed (above)"; }
URL=$(tail -1 "$R/pair.url")
log "pair: $URL"

# --- phase A: kill -9 of the primary while terminals upload to a running front-end -------------
log "phase A: onecard serve on the pair; the terminals upload with concurrency $CONCURRENCY"
"$BIN" clearing terminals add --db "$URL" --city "$CITY" --from-city >/dev/null
"$BIN" serve --db "$URL" --keys "$KEYS" --listen 127.0.0.1:0 --received-at "$RECEIVED" >"$R/serve.out" 2>"$R/serve.log" &
SERVE=$!
PIDS+=("$SERVE")
for _ in $(seq 1 300); do grep -q listening "$R/serve.out" 2>/dev/null && break; alive "$SERVE" || break; sleep 0.1; done
PORT=$(sed -n 's/^listening on 127.0.0.1://p' "$R/serve.out")
[ -n "$PORT" ] || { tail -5 "$R/serve.log" >&2; die "onecard serve did not start (log $R/serve.log)"; }
SERVER=http://127.0.0.1:$PORT

T0=$(now_ms)
"$BIN" bench-upload --server "$SERVER" --concurrency "$CONCURRENCY" --acks "$R/acks-1" "$BATCHES" >"$R/upload-1.json" 2>"$R/upload-1.err" &
UP1=$!
PIDS+=("$UP1")
KILL_AT=$((FILES / 3))
for ((i = 0; i < 1200; i++)); do
    [ "$(count_lines "$R/acks-1")" -lt "$KILL_AT" ] || break
    alive "$UP1" || break
    sleep 0.1
done
[ "$(count_lines "$R/acks-1")" -ge "$KILL_AT" ] || die "the first $KILL_AT uploads were not acknowledged within 120 s (serve log $R/serve.log, client $R/upload-1.err)"
T_KILL_A=$(now_ms)
ACKS_AT_KILL=$(count_lines "$R/acks-1")
"$PAIR" kill-primary >>"$R/pair.log" 2>&1 || die "kill-primary failed (log $R/pair.log)"
"$PAIR" promote >>"$R/pair.log" 2>&1 || die "promote failed (log $R/pair.log)"
T_PROMOTED_A=$(now_ms)
ACKS_AT_PROMOTE=$(count_lines "$R/acks-1")
log "phase A: primary killed after $ACKS_AT_KILL acknowledgements; standby promoted in $(secs $((T_PROMOTED_A - T_KILL_A))) s"

# The front-end must take uploads again by itself: its next acknowledgement.
RESUMED=no
for ((i = 0; i < RESUME_SECONDS * 20; i++)); do
    if [ "$(count_lines "$R/acks-1")" -gt "$ACKS_AT_PROMOTE" ]; then RESUMED=yes; break; fi
    alive "$UP1" || break
    sleep 0.05
done
T_RESUMED_A=$(now_ms)
if [ "$RESUMED" = yes ]; then
    RECONNECT_A="$(secs $((T_RESUMED_A - T_PROMOTED_A))) s after the promotion ($(secs $((T_RESUMED_A - T_KILL_A))) s after the kill)"
    ok "serve (pid $SERVE, not restarted) acknowledged uploads again $RECONNECT_A"
    if ! wait_exit "$UP1" 300; then
        fail "the first upload pass did not finish within 300 s of the front-end's recovery"
        stop_pid "$UP1" 2 || true
    fi
elif ! alive "$UP1" && [ "$(count_lines "$R/acks-1")" -ge "$FILES" ]; then
    RECONNECT_A="n/a (every upload was acknowledged before the promotion)"
    wait_exit "$UP1" 5 || true
else
    RECONNECT_A="never (no acknowledgement for $RESUME_SECONDS s after the promotion)"
    { evidence "$SERVE" serve; echo "== its last log lines:"; tail -3 "$R/serve.log"; } >"$R/serve-stuck.txt" 2>&1
    fail "serve did not resume after the failover: no acknowledgement for $RESUME_SECONDS s after the promotion, $(grep -c 'status=503' "$R/serve.log" || true) uploads answered 503; evidence in $R/serve-stuck.txt"
    sed 's/^/    /' "$R/serve-stuck.txt" >&2
    stop_pid "$UP1" 2 || true
    if stop_pid "$SERVE" 10; then
        log "serve stopped on SIGTERM"
    else
        fail "serve did not stop within 10 s of SIGTERM (killed with SIGKILL): a request in flight never ended"
    fi
    log "starting a new serve on the new primary, so that the remaining checks can run"
    : >"$R/serve.out"
    "$BIN" serve --db "$URL" --keys "$KEYS" --listen 127.0.0.1:0 --received-at "$RECEIVED" >"$R/serve.out" 2>>"$R/serve.log" &
    SERVE=$!
    PIDS+=("$SERVE")
    for _ in $(seq 1 300); do grep -q listening "$R/serve.out" 2>/dev/null && break; alive "$SERVE" || break; sleep 0.1; done
    PORT=$(sed -n 's/^listening on 127.0.0.1://p' "$R/serve.out")
    [ -n "$PORT" ] || die "the new onecard serve did not start (log $R/serve.log)"
    SERVER=http://127.0.0.1:$PORT
fi
T_PASS1=$(($(now_ms) - T0))
ACKED_1=$(count_lines "$R/acks-1")
STATUSES_1=$(python3 -c 'import json,sys
try: print(json.load(open(sys.argv[1]))["statuses"])
except Exception: print("(no summary: the client was stopped)")' "$R/upload-1.json")

# What the database holds after the first pass: every acknowledged upload must be there.
q "SELECT lpad(to_hex(terminal), 12, '0') || '/' || sequence FROM clearing_batch ORDER BY 1" >"$R/stored-after-1"
STORED_1=$(count_lines "$R/stored-after-1")
cut -d' ' -f1 "$R/acks-1" | sort >"$R/acked-1"
MISSING_1=$(comm -23 "$R/acked-1" <(sort "$R/stored-after-1") | wc -l)
if [ "$MISSING_1" = 0 ]; then
    ok "all $ACKED_1 uploads acknowledged in the first pass are stored ($STORED_1 batches stored; $((STORED_1 - ACKED_1)) committed without an answer)"
else
    fail "$MISSING_1 of the $ACKED_1 uploads acknowledged in the first pass are not in the database, e.g. $(comm -23 "$R/acked-1" <(sort "$R/stored-after-1") | head -3 | tr '\n' ' ')"
fi

# The terminals send everything again: replays must be recognised and change nothing.
T0=$(now_ms)
RC=0
"$BIN" bench-upload --server "$SERVER" --concurrency "$CONCURRENCY" --acks "$R/acks-2" "$BATCHES" >"$R/upload-2.json" 2>"$R/upload-2.err" &
UP2=$!
PIDS+=("$UP2")
if ! wait_exit "$UP2" 300; then
    fail "the second upload pass did not finish within 300 s"
    stop_pid "$UP2" 2 || true
    RC=124
fi
T_PASS2=$(($(now_ms) - T0))
if [ "$RC" = 0 ]; then
    UP2_ACCEPTED=$(field "$R/upload-2.json" accepted)
    UP2_FEN=$(field "$R/upload-2.json" acceptedAmountFen)
    ok "second pass: all $FILES uploads answered 200 ($(grep -c ' replayed$' "$R/acks-2" || true) replayed, $(grep -c ' cleared$' "$R/acks-2" || true) cleared)"
    [ "$UP2_ACCEPTED" = "$REF_ACCEPTED" ] && [ "$UP2_FEN" = "$REF_FEN" ] \
        && ok "the acknowledgements of the second pass total $UP2_ACCEPTED accepted records, $UP2_FEN fen: as the reference" \
        || fail "the acknowledgements of the second pass total $UP2_ACCEPTED accepted records, $UP2_FEN fen; the reference $REF_ACCEPTED, $REF_FEN fen"
else
    UP2_ACCEPTED=?
    UP2_FEN=?
    [ "$RC" = 124 ] || fail "the second upload pass did not get 200 for every upload: $(cat "$R/upload-2.json" "$R/upload-2.err" 2>/dev/null | head -3)"
fi
sort -k1,1 "$R/acks-2" >"$R/acks-2.sorted"
NOT_REPLAYED=$(join -a 1 -e none -o 1.1,2.2 "$R/acked-1" "$R/acks-2.sorted" | awk '$2 != "replayed"' | wc -l)
[ "$NOT_REPLAYED" = 0 ] && ok "every upload acknowledged in the first pass was answered 'replayed' in the second" \
    || fail "$NOT_REPLAYED uploads acknowledged in the first pass were not answered 'replayed' in the second (cleared again, or not answered)"
if alive "$SERVE"; then
    if stop_pid "$SERVE" 15; then ok "serve stopped on SIGTERM"; else fail "serve did not stop within 15 s of SIGTERM"; fi
fi

STORED=$(q "SELECT count(*) FROM clearing_batch")
DUPLICATES=$(q "SELECT count(*) FROM (SELECT terminal, sequence FROM clearing_batch GROUP BY 1, 2 HAVING count(*) > 1) d")
[ "$STORED" = "$FILES" ] && [ "$DUPLICATES" = 0 ] && ok "$STORED batches stored for $FILES files, none twice" \
    || fail "$STORED batches stored for $FILES files ($DUPLICATES stored twice)"
if "$BIN" clearing check --db "$URL" >"$R/check-a.out" 2>&1; then ok "clearing check after phase A"; else fail "clearing check after phase A: $(head -3 "$R/check-a.out")"; fi

# --- phase B: kill -9 of the primary while the day is settled ----------------------------------
log "phase B: rebuilding the standby"
T0=$(now_ms)
"$PAIR" rebuild-standby >>"$R/pair.log" 2>&1 || die "rebuild-standby failed (log $R/pair.log)"
T_REBUILD=$(($(now_ms) - T0))
# The settlement without the failure, on the same database: what the failed one must end as.
T0=$(now_ms)
if ! "$BIN" settle --db "$URL" --date "$DAY" --out "$R/settlement-clean" --json >/dev/null 2>"$R/settle-clean.err"; then
    die "the settlement without failure failed: $(head -3 "$R/settle-clean.err")"
fi
T_SETTLE=$(($(now_ms) - T0))
POSTINGS_CLEAN=$(q "SELECT count(*) || ' rows, ' || coalesce(sum(length(data)), 0) || ' bytes' FROM settlement_transfer WHERE day = '$DAY' AND kind = 'settlement'")
log "phase B: settlement without failure took $(secs "$T_SETTLE") s; settling again and killing the primary mid-run"
OUT=$R/settlement-failover
rm -rf "$OUT"
mkdir -p "$OUT"
T_START_B=$(now_ms)
"$BIN" settle --db "$URL" --date "$DAY" --out "$OUT" --json >"$R/settle-killed.out" 2>"$R/settle-killed.err" &
SETTLE=$!
PIDS+=("$SETTLE")
# Mid-run: once it has read the first pages (the clearing files are open under their
# temporary names).
for ((i = 0; i < 3000; i++)); do
    compgen -G "$OUT/.clearing-operator-*.tmp" >/dev/null && break
    alive "$SETTLE" || break
    sleep 0.02
done
T_KILL_B=$(now_ms)
SETTLE_WAS_RUNNING=no
alive "$SETTLE" && SETTLE_WAS_RUNNING=yes
"$PAIR" kill-primary >>"$R/pair.log" 2>&1 || die "kill-primary failed (log $R/pair.log)"
SETTLE_MESSAGE=
if [ "$SETTLE_WAS_RUNNING" = no ]; then
    wait_exit "$SETTLE" 1 || true
    fail "the settlement finished in $(secs $((T_KILL_B - T_START_B))) s, before the kill: raise FAILOVER_TAPS"
elif wait_exit "$SETTLE" 30; then
    SETTLE_FAILED_AFTER=$(secs $(($(now_ms) - T_KILL_B)))
    SETTLE_MESSAGE=$(grep -m1 . "$R/settle-killed.err" || true)
    if [ "$RC" = 0 ]; then
        fail "the settlement killed mid-run $(secs $((T_KILL_B - T_START_B))) s in still exited 0"
    elif grep -q "the database server cannot be reached" "$R/settle-killed.err"; then
        ok "the settlement cut off from its database failed $SETTLE_FAILED_AFTER s after the kill (exit $RC): $SETTLE_MESSAGE"
    else
        fail "the settlement cut off from its database failed (exit $RC) without saying the server cannot be reached: $SETTLE_MESSAGE"
    fi
else
    SETTLE_MESSAGE="(none: it hung, no exit within 30 s of the kill)"
    evidence "$SETTLE" settle >"$R/settle-stuck.txt" 2>&1
    fail "the settlement did not end within 30 s of the kill of its database (a hang; killed; stderr: '$(head -2 "$R/settle-killed.err")'); evidence in $R/settle-stuck.txt"
    sed 's/^/    /' "$R/settle-stuck.txt" >&2
    stop_pid "$SETTLE" 1 || true
fi
"$PAIR" promote >>"$R/pair.log" 2>&1 || die "promote failed (log $R/pair.log)"
T_PROMOTED_B=$(now_ms)
log "phase B: primary killed $(secs $((T_KILL_B - T_START_B))) s into the settlement; standby promoted in $(secs $((T_PROMOTED_B - T_KILL_B))) s; settling again"
if timeout 300 "$BIN" settle --db "$URL" --date "$DAY" --out "$OUT" --json >/dev/null 2>"$R/settle-again.err"; then
    ok "the settlement run again on the new primary succeeded"
else
    fail "the settlement run again on the new primary failed: $(head -3 "$R/settle-again.err")"
fi
POSTINGS_AFTER=$(q "SELECT count(*) || ' rows, ' || coalesce(sum(length(data)), 0) || ' bytes' FROM settlement_transfer WHERE day = '$DAY' AND kind = 'settlement'")
[ "$POSTINGS_AFTER" = "$POSTINGS_CLEAN" ] && ok "one set of settlement postings ($POSTINGS_AFTER)" \
    || fail "settlement postings after the failover: $POSTINGS_AFTER; without failure: $POSTINGS_CLEAN"
if "$BIN" clearing check --db "$URL" >"$R/check-b.out" 2>&1; then ok "clearing check after phase B"; else fail "clearing check after phase B: $(head -3 "$R/check-b.out")"; fi

# --- the settlement files ----------------------------------------------------------------------
names() { (cd "$1" && ls -A); }
if [ "$(names "$OUT")" = "$(names "$R/settlement-clean")" ]; then
    SAME=0
    DIFFER=()
    for f in $(names "$OUT"); do
        if cmp -s "$OUT/$f" "$R/settlement-clean/$f"; then SAME=$((SAME + 1)); else DIFFER+=("$f"); fi
    done
    [ "${#DIFFER[@]}" = 0 ] && ok "all $SAME settlement files byte-identical to the settlement of the same database without failure" \
        || fail "settlement files that differ from the settlement without failure: ${DIFFER[*]}"
else
    fail "the files after the failover ($(names "$OUT" | tr '\n' ' ')) are not those of the settlement without failure ($(names "$R/settlement-clean" | tr '\n' ' '))"
fi
REF_OUT=$R/reference-settlement
if [ "$(names "$OUT")" = "$(names "$REF_OUT")" ]; then
    BYTE_SAME=()
    ROW_SAME=()
    for f in $(names "$REF_OUT"); do
        case "$f" in
            summary.json | report.html) continue ;;
        esac
        if cmp -s "$OUT/$f" "$REF_OUT/$f"; then
            BYTE_SAME+=("$f")
        elif [ "$f" != positions.csv ] && [ "$(head -1 "$OUT/$f")" = "$(head -1 "$REF_OUT/$f")" ] \
            && cmp -s <(tail -n +2 "$OUT/$f" | LC_ALL=C sort) <(tail -n +2 "$REF_OUT/$f" | LC_ALL=C sort); then
            ROW_SAME+=("$f")
        else
            fail "$f differs from the SQLite reference's$( [ "$f" = positions.csv ] || echo ' (not only in the order of its rows)')"
        fi
    done
    ok "against the SQLite reference: byte-identical ${BYTE_SAME[*]:-(none)}; same rows in another (upload) order ${ROW_SAME[*]:-(none)}"
    if python3 - "$OUT/summary.json" "$REF_OUT/summary.json" <<'PY'; then
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for d in (a, b):
    d.pop("runs", None)
sys.exit(0 if a == b else 1)
PY
        ok "summary.json equal to the reference's but for its list of runs"
    else
        fail "summary.json differs from the reference's beyond its list of runs"
    fi
else
    fail "the files after the failover ($(names "$OUT" | tr '\n' ' ')) are not the reference's ($(names "$REF_OUT" | tr '\n' ' '))"
fi
SETTLED_ACCEPTED=$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["totals"]; print(t["acceptedRecords"], t["grossFen"])' "$OUT/summary.json" 2>/dev/null || echo "? ?")
REF_SETTLED=$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["totals"]; print(t["acceptedRecords"], t["grossFen"])' "$REF_OUT/summary.json")

# --- summary -----------------------------------------------------------------------------------
cat >&2 <<EOF

== failover test: $FILES batch files, $REF_ACCEPTED accepted records ($REF_FEN fen) in the reference
   phase A (ingest): primary killed after $ACKS_AT_KILL acknowledgements; standby promoted in $(secs $((T_PROMOTED_A - T_KILL_A))) s
     first pass: $ACKED_1 acknowledged, statuses $STATUSES_1; $STORED_1 batches stored after it
     serve reconnected: $RECONNECT_A
     second pass: $(count_lines "$R/acks-2") answered 200, accepted $UP2_ACCEPTED records / $UP2_FEN fen (reference $REF_ACCEPTED / $REF_FEN)
     stored: $STORED batches for $FILES files
   phase B (settle): primary killed $(secs $((T_KILL_B - T_START_B))) s into a settlement that takes $(secs "$T_SETTLE") s without failure
     killed settlement: ${SETTLE_MESSAGE:-(no message)}
     settled: accepted records and gross fen $SETTLED_ACCEPTED (reference $REF_SETTLED); postings $POSTINGS_AFTER
   times: generate $(secs "$T_GEN") s$REUSED, reference $(secs "$T_REF") s, first pass $(secs "$T_PASS1") s, second pass $(secs "$T_PASS2") s, rebuild-standby $(secs "$T_REBUILD") s; total ${SECONDS} s
   work directory: $R
EOF
if [ "${#FAILS[@]}" = 0 ]; then
    echo "PASS: failover test ($FILES uploads, $ACKED_1 acknowledged before and after the kill, $STORED stored once each; settlement identical after the kill)"
    exit 0
fi
echo "FAIL: failover test, ${#FAILS[@]} check(s) failed:"
printf '  - %s\n' "${FAILS[@]}"
exit 1
