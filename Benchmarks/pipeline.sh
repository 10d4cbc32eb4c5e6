#!/usr/bin/env bash
# The OneCard pipeline (loadgen → clearing ingest → settle) against conventional baselines on
# the same batch files: PostgreSQL row at a time (pg-rows), PostgreSQL set-based per batch
# (pg-set), PostgreSQL's set-based ceiling — the whole day in one transaction with no checks in
# the database (pg-ceiling, and pg-ceiling-pk with a primary key on the transfers) — and SQLite
# row at a time (sqlite-rows). See docs/performance.md, "Pipeline and baselines".
#
#   Benchmarks/pipeline.sh [TAPS...]          # default: 1000000 10000000
#   PIPELINE_TAPS=200000 Benchmarks/pipeline.sh
#
# Environment: PG_ROWS_SAMPLE (default 50000): pg-rows runs on the first this many records (in
# file order) when the day is larger — it posts a few hundred records a second. PIPELINE_FAULTS: extra loadgen fault options (default
# a few duplicates, forged TACs and grey records so the checks have something to refuse).
# PIPELINE_DATE: loadgen start date (default 2026-03-02). PIPELINE_RESULTS: where the table
# is also written (default /tmp/onecard-pipeline-results.md).
#
# PostgreSQL: a private cluster (initdb in a temp directory, run as the postgres user) on
# 127.0.0.1:54329 with trust auth for 127.0.0.1 only, fsync and synchronous_commit on. It is
# stopped and its data removed on exit. Nothing but 127.0.0.1 is ever contacted.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PORT=54329
SOCK=/tmp/onecard-pg
DATE=${PIPELINE_DATE:-2026-03-02}
SAMPLE=${PG_ROWS_SAMPLE:-50000}
FAULTS=${PIPELINE_FAULTS:---duplicates 0.001 --forged-tac 0.001 --grey 0.001}
RESULTS=${PIPELINE_RESULTS:-/tmp/onecard-pipeline-results.md}
if [ $# -gt 0 ]; then SIZES=("$@"); elif [ -n "${PIPELINE_TAPS:-}" ]; then SIZES=($PIPELINE_TAPS); else SIZES=(1000000 10000000); fi

log() { printf '[pipeline %s] %s\n' "$(date +%T)" "$*" >&2; }

# --- PostgreSQL -------------------------------------------------------------------------
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
    log "installing postgresql (apt)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >/dev/null
    PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
WORK=$(mktemp -d /tmp/onecard-pipeline.XXXXXX)
PGDATA=$WORK/pgdata
STARTED=0
cleanup() {
    if [ "$STARTED" = 1 ]; then runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true; fi
    rm -rf "$WORK" "$SOCK"
}
trap cleanup EXIT INT TERM

pg() { runuser -u postgres -- "$@"; }
start_postgres() {
    mkdir -p "$PGDATA" "$SOCK"
    chown postgres: "$WORK" "$PGDATA" "$SOCK"
    chmod 700 "$PGDATA"
    pg "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 >/dev/null
    printf 'local all postgres trust\nhost all postgres 127.0.0.1/32 trust\n' >"$PGDATA/pg_hba.conf"
    # shared_buffers and max_wal_size as a production server would have them on 24 GB;
    # durability stays on.
    pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$WORK/postgres.log" -w -o "-p $PORT -k $SOCK -c listen_addresses=127.0.0.1 \
-c fsync=on -c synchronous_commit=on -c shared_buffers=1GB -c max_wal_size=8GB" start >/dev/null
    STARTED=1
    pg "$PGBIN/createdb" -h 127.0.0.1 -p "$PORT" onecard_baseline
    log "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT ($PGDATA)"
}

# --- builds -----------------------------------------------------------------------------
build() {
    log "building onecard and PipelineBaseline (release)"
    (cd "$ROOT" && swift build -c release --product onecard >&2)
    (cd "$ROOT/Benchmarks" && swift build -c release --product PipelineBaseline >&2)
    ONECARD=$(cd "$ROOT" && swift build -c release --show-bin-path)/onecard
    BASELINE=$(cd "$ROOT/Benchmarks" && swift build -c release --show-bin-path)/PipelineBaseline
}

# timed NAME CMD...: runs CMD under /usr/bin/time, stdout to $DIR/NAME.out; sets WALL, RSS_MB.
timed() {
    local name=$1; shift
    /usr/bin/time -f "%e %M" -o "$DIR/$name.time" "$@" >"$DIR/$name.out"
    read -r WALL RSS_KB <"$DIR/$name.time"
    RSS_MB=$((RSS_KB / 1024))
}

# json FILE KEY: a top-level number from a JSON file.
json() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# row STAGE RECORDS WALL RSS_MB NOTE: one line of the results TSV.
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$TAPS" "$1" "$2" "$3" "$4" "$5" >>"$WORK/results.tsv"; }

# run_size TAPS: the OneCard pipeline, then the three baselines, on one generated day.
run_size() {
    TAPS=$1
    DIR=$WORK/day-$TAPS
    mkdir -p "$DIR"
    local cards=$((TAPS / 5))
    log "$TAPS taps, $cards cards: loadgen"
    timed loadgen "$ONECARD" loadgen --city "$ROOT/config/city-xian.json" --keys "$KEYS" --cards "$cards" --taps "$TAPS" \
        --seed 1 --start-date "$DATE" $FAULTS --out "$DIR" --json
    local records accepted amount
    records=$(json "$DIR/ground-truth.json" records)
    accepted=$(json "$DIR/ground-truth.json" accepted)
    amount=$(json "$DIR/ground-truth.json" acceptedAmountFen)
    row "onecard loadgen" "$records" "$WALL" "$RSS_MB" "$(ls "$DIR"/batches/*.ocub | wc -l) files"

    log "$TAPS taps: clearing ingest"
    "$ONECARD" clearing terminals add --db "$DIR/clearing.sqlite" --city "$ROOT/config/city-xian.json" --from-city >/dev/null
    timed ingest "$ONECARD" clearing ingest --db "$DIR/clearing.sqlite" --city "$ROOT/config/city-xian.json" --keys "$KEYS" \
        --received-at "${DATE}T23:59:59" "$DIR"/batches/*.ocub --verbose --json
    [ "$(json "$DIR/ingest.out" accepted)" = "$accepted" ] && [ "$(json "$DIR/ingest.out" acceptedAmountFen)" = "$amount" ] \
        || { log "FAIL: ingest totals differ from the ground truth"; exit 1; }
    row "onecard clearing ingest" "$records" "$WALL" "$RSS_MB" "accepted $accepted = truth"

    log "$TAPS taps: settle"
    timed settle "$ONECARD" settle --db "$DIR/clearing.sqlite" --date "$DATE" --out "$DIR/settle" --json
    row "onecard settle" "$records" "$WALL" "$RSS_MB" ""

    # pg-ceiling: the whole day's checked rows in one transaction (COPY, one INSERT … SELECT, two
    # grouped balance updates), transfers without any constraint; pg-ceiling-pk: with only its
    # primary key. Their "database only" rows are PostgreSQL's set-based ceiling.
    for mode in sqlite-rows pg-set pg-ceiling pg-ceiling-pk pg-rows; do
        local limit=0 note="totals = truth" args=(--mode "$mode")
        case $mode in pg-ceiling-pk) args=(--mode pg-ceiling --primary-key) ;; esac
        if [ "$mode" = pg-rows ] && [ "$records" -gt "$SAMPLE" ]; then limit=$SAMPLE; fi
        if [ "$limit" -gt 0 ]; then log "$TAPS taps: baseline $mode (sample: the first $limit records)"
        else log "$TAPS taps: baseline $mode"; fi
        timed "$mode" "$BASELINE" "${args[@]}" --dir "$DIR" --keys "$KEYS" --pg-port "$PORT" \
            --sqlite "$DIR/baseline.sqlite" --limit-records "$limit"
        local done
        done=$(json "$DIR/$mode.out" records)
        [ "$limit" -gt 0 ] && note="sample: first $done records; totals = in-app expectation"
        row "baseline $mode" "$done" "$WALL" "$RSS_MB" "$note"
        case $mode in pg-ceiling*)
            row "baseline $mode (database only)" "$done" "$(json "$DIR/$mode.out" dbSeconds)" "$RSS_MB" \
                "COPY + INSERT … SELECT + 2 grouped updates, one transaction, no checks" ;;
        esac
    done
    rm -rf "$DIR"
}

# table: the results TSV as a Markdown table, with OneCard ingest's ratio to each baseline.
table() {
    python3 - "$WORK/results.tsv" <<'PY'
import sys, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
by = collections.defaultdict(dict)
print("| taps | stage | records | wall s | records/s | taps/s | peak RSS MB | ingest ÷ this | note |")
print("|---|---|---|---|---|---|---|---|---|")
for taps, stage, recs, wall, rss, note in rows:
    by[taps][stage] = int(recs) / max(float(wall), 1e-9)
for taps, stage, recs, wall, rss, note in rows:
    rate = int(recs) / max(float(wall), 1e-9)
    tapsrate = f"{int(taps) / float(wall):,.0f}" if stage.startswith("onecard") else ""
    ratio = f"{by[taps]['onecard clearing ingest'] / rate:.1f}×" if stage.startswith("baseline") else ""
    print(f"| {int(taps):,} | {stage} | {int(recs):,} | {float(wall):.2f} | {rate:,.0f} | {tapsrate} | {rss} | {ratio} | {note} |")
PY
}

build
start_postgres
KEYS=$WORK/keys.json
"$ONECARD" keys new --out "$KEYS" >/dev/null
: >"$WORK/results.tsv"
for t in "${SIZES[@]}"; do run_size "$t"; done
table | tee "$RESULTS"
log "table also in $RESULTS"
