#!/usr/bin/env bash
# Clearing on PostgreSQL beside SQLite, end to end (files on disk → durable commit, TAC
# verified, deduplicated, posted double-entry): the same 1M-tap day ingested into a SQLite file,
# into PostgreSQL (a private cluster, fsync and synchronous_commit on), into the primary of a
# pair with a synchronous standby (scripts/pg-pair.sh), and by two workers at once into one
# PostgreSQL database (each takes half the files; they share the card state through the
# database and take turns per run). docs/performance.md, "PostgreSQL".
#
#   swift build -c release --product onecard && Benchmarks/postgres.sh
#
# Environment: ONECARD (binary, default .build/release/onecard), PG_BENCH_DIR (work folder,
# default /tmp/onecard-pg-bench), PG_BENCH_TAPS (default 1000000), PG_BENCH_CARDS (200000).
# Nothing but 127.0.0.1 is contacted; the clusters are stopped and removed on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${ONECARD:-$ROOT/.build/release/onecard}
C=$ROOT/config/city-xian.json
W=${PG_BENCH_DIR:-/tmp/onecard-pg-bench}
TAPS=${PG_BENCH_TAPS:-1000000}
CARDS=${PG_BENCH_CARDS:-200000}
[ -x "$B" ] || { echo "no binary at $B: swift build -c release --product onecard" >&2; exit 1; }
mkdir -p "$W"
# Clusters of its own (ports 55450-55452), apart from the test cluster and the failover test's pair.
export ONECARD_PG_DIR=$W/cluster ONECARD_PG_PORT=55450
export ONECARD_PG_PAIR_DIR=$W/pair ONECARD_PG_PAIR_PORT_A=55451 ONECARD_PG_PAIR_PORT_B=55452
trap '"$ROOT/scripts/pg-test-cluster.sh" stop >/dev/null 2>&1 || true; "$ROOT/scripts/pg-pair.sh" stop >/dev/null 2>&1 || true' EXIT
PG=$("$ROOT/scripts/pg-test-cluster.sh" start | tail -1)
PG=${PG%/postgres}
PAIR=$("$ROOT/scripts/pg-pair.sh" start | tail -1)
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }

[ -f "$W/keys.json" ] || "$B" keys new --out "$W/keys.json" >/dev/null
[ -d "$W/day" ] || "$B" loadgen --city "$C" --keys "$W/keys.json" --cards "$CARDS" --taps "$TAPS" --seed 1 --out "$W/day" >/dev/null
FILES=("$W"/day/batches/*.ocub)
echo "day: ${#FILES[@]} files, $(python3 -c "import json;print(json.load(open('$W/day/ground-truth.json'))['accepted'])") accepted records in the ground truth"
fresh_pg() { psql "$PG/postgres" -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"; echo "$PG/$1"; }
run() {
  local name=$1 db=$2; shift 2
  "$B" clearing terminals add --db "$db" --city "$C" --from-city >/dev/null
  /usr/bin/time -f "%e %M" -o "$W/$name.time" "$B" clearing ingest --db "$db" --keys "$W/keys.json" --received-at 2026-03-02T23:59:59 --json "$@" > "$W/$name.json" 2>"$W/$name.err" \
    || { tail -3 "$W/$name.err" >&2; exit 1; }
  python3 - "$W/$name.json" "$W/$name.time" "$W/day/ground-truth.json" "$name" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); secs, kb = open(sys.argv[2]).read().split(); t = json.load(open(sys.argv[3]))
records = d.get("records", d["accepted"])
print(f"{sys.argv[4]:<22} {float(secs):7.1f} s  {records/float(secs)/1000:7.0f}k records/s  peak {int(kb)//1024} MB  accepted {d['accepted']} (truth {t['accepted']})")
PY
}
rm -f "$W"/sqlite.sqlite*
run sqlite "$W/sqlite.sqlite" "${FILES[@]}"
run postgresql "$(fresh_pg bench_one)" "${FILES[@]}"
run "postgresql+standby" "$PAIR" "${FILES[@]}"

# Two workers, one database: each ingests half the files, at the same time.
two=$(fresh_pg bench_two)
"$B" clearing terminals add --db "$two" --city "$C" --from-city >/dev/null
half=$(( ${#FILES[@]} / 2 ))
start=$(date +%s.%N)
"$B" clearing ingest --db "$two" --keys "$W/keys.json" --received-at 2026-03-02T23:59:59 --json "${FILES[@]:0:$half}" > "$W/two-a.json" 2>"$W/two-a.err" &
a=$!
"$B" clearing ingest --db "$two" --keys "$W/keys.json" --received-at 2026-03-02T23:59:59 --json "${FILES[@]:$half}" > "$W/two-b.json" 2>"$W/two-b.err" &
b=$!
wait $a; wait $b
end=$(date +%s.%N)
python3 - "$W/two-a.json" "$W/two-b.json" "$start" "$end" "$W/day/ground-truth.json" <<'PY'
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])); secs = float(sys.argv[4]) - float(sys.argv[3]); t = json.load(open(sys.argv[5]))
records = a.get("records", a["accepted"]) + b.get("records", b["accepted"])
print(f"{'two workers':<22} {secs:7.1f} s  {records/secs/1000:7.0f}k records/s  accepted {a['accepted'] + b['accepted']} (truth {t['accepted']})")
PY
"$B" clearing check --db "$two" >/dev/null && echo "two workers: clearing check holds"
