#!/usr/bin/env bash
# Two `onecard serve` front-ends on one PostgreSQL database, each receiving every batch of a
# day from its own load client at the same time (as terminals failing over between two
# front-ends would): every batch must be cleared exactly once between them (the others are
# answered `replayed`; a front-end that lost the race five times in a row answers 503 and the
# client sends again), and the ledger must hold the ground truth. docs/performance.md, "PostgreSQL".
#
#   swift build -c release --product onecard && Benchmarks/two-frontends.sh
#
# Environment: ONECARD (binary, default .build/release/onecard), TWO_FE_DIR (default
# /tmp/onecard-two-fe), TWO_FE_TAPS (120000), TWO_FE_CARDS (6000). A private cluster on
# 127.0.0.1:55460, stopped on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${ONECARD:-$ROOT/.build/release/onecard}
C=$ROOT/config/city-xian.json
W=${TWO_FE_DIR:-/tmp/onecard-two-fe}
[ -x "$B" ] || { echo "no binary at $B: swift build -c release --product onecard" >&2; exit 1; }
mkdir -p "$W"
export ONECARD_PG_DIR=$W/cluster ONECARD_PG_PORT=55460
servers=()
trap 'for p in "${servers[@]}"; do kill "$p" 2>/dev/null || true; done; "$ROOT/scripts/pg-test-cluster.sh" stop >/dev/null 2>&1 || true' EXIT
PG=$("$ROOT/scripts/pg-test-cluster.sh" start | tail -1)
command psql -X -q -h 127.0.0.1 -p 55460 -U postgres -d postgres -c "DROP DATABASE IF EXISTS two" -c "CREATE DATABASE two" 2>/dev/null
DB=${PG%/postgres}/two
yesterday=$(date -d yesterday +%F)
[ -f "$W/keys.json" ] || "$B" keys new --out "$W/keys.json" >/dev/null
[ -d "$W/day" ] || "$B" loadgen --city "$C" --keys "$W/keys.json" --cards "${TWO_FE_CARDS:-6000}" --taps "${TWO_FE_TAPS:-120000}" --seed 5 \
    --start-date "$yesterday" --batch-records-max 300 --out "$W/day" >/dev/null
"$B" clearing terminals add --db "$DB" --city "$C" --from-city >/dev/null
for n in 1 2; do
    rm -f "$W/serve$n.out" "$W/acks$n"
    "$B" serve --db "$DB" --keys "$W/keys.json" --listen 127.0.0.1:0 >"$W/serve$n.out" 2>"$W/serve$n.log" &
    servers+=($!)
done
for n in 1 2; do
    for _ in $(seq 1 100); do grep -q listening "$W/serve$n.out" 2>/dev/null && break; sleep 0.1; done
done
start=$(date +%s.%N)
clients=()
for n in 1 2; do
    port=$(sed -n 's/^listening on 127.0.0.1://p' "$W/serve$n.out")
    "$B" bench-upload --server "http://127.0.0.1:$port" --concurrency 4 --acks "$W/acks$n" "$W/day/batches" >"$W/upload$n.json" 2>"$W/upload$n.err" &
    clients+=($!)
done
for c in "${clients[@]}"; do wait "$c" || true; done
end=$(date +%s.%N)
files=$(ls "$W/day/batches" | wc -l)
echo "batches: $files; wall $(python3 -c "print(round($end - $start, 1))") s for both clients"
echo "answers (200) by status, both front-ends: $(awk '{print $2}' "$W/acks1" "$W/acks2" | sort | uniq -c | tr -s ' ' | tr '\n' ' ')"
for n in 1 2; do python3 -c "import json;d=json.load(open('$W/upload$n.json'));print('front-end $n:', d['statuses'])"; done
cleared=$(awk '$2 == "cleared"' "$W/acks1" "$W/acks2" | wc -l)
distinct=$(awk '$2 == "cleared" {print $1}' "$W/acks1" "$W/acks2" | sort -u | wc -l)
[ "$cleared" = "$files" ] && [ "$distinct" = "$files" ] || { echo "FAIL: $cleared cleared answers for $distinct distinct batches of $files" >&2; exit 1; }
"$B" clearing check --db "$DB" | tail -1
python3 -c "import json;t=json.load(open('$W/day/ground-truth.json'));print('ground truth:', t['accepted'], 'accepted records')"
echo "PASS: each of $files batches cleared exactly once between the two front-ends"
