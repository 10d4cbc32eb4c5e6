#!/usr/bin/env bash
# One generated day through `clearing ingest`, end to end, checked against its ground truth:
# the 1M-tap day (200k cards) and the 10M-tap day (2M cards) of docs/performance.md, "A rollback
# journal for a batch ingest". Build first: swift build -c release --product onecard.
#
#   Benchmarks/day.sh [TAPS CARDS] [ingest options...]    # default: 1000000 200000
#   Benchmarks/day.sh 10000000 2000000
#   DAY_REPEAT=3 Benchmarks/day.sh 1000000 200000 --records-per-commit 100000000
#
# Each try: a fresh database with the city's terminals registered, the page cache dropped, the
# batch files read once (so that every try starts from the files in the cache), then
# `/usr/bin/time` of `clearing ingest --json` and the accepted records and fen against the
# ground truth. Environment: ONECARD (the binary), DAY_DIR (default /tmp/day-TAPS), DAY_REPEAT
# (tries, default 1), DAY_BATCH_RECORDS_MAX (loadgen's --batch-records-max, for a day of small files).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${ONECARD:-$ROOT/.build/release/onecard}
C=$ROOT/config/city-xian.json
TAPS=${1:-1000000}
CARDS=${2:-200000}
shift $(( $# >= 2 ? 2 : $# ))
W=${DAY_DIR:-/tmp/day-$TAPS}
mkdir -p "$W"
[ -f "$W/keys.json" ] || "$B" keys new --out "$W/keys.json" >/dev/null
if [ ! -d "$W/day" ]; then
    extra=()
    [ -n "${DAY_BATCH_RECORDS_MAX:-}" ] && extra=(--batch-records-max "$DAY_BATCH_RECORDS_MAX")
    /usr/bin/time -f "loadgen %e s" "$B" loadgen --city "$C" --keys "$W/keys.json" --cards "$CARDS" --taps "$TAPS" --seed 1 \
        --out "$W/day" "${extra[@]}" >/dev/null
fi
echo "day: $TAPS taps, $CARDS cards, $(ls "$W/day/batches" | wc -l) files"
for i in $(seq 1 "${DAY_REPEAT:-1}"); do
    rm -f "$W"/c.sqlite*
    "$B" clearing terminals add --db "$W/c.sqlite" --city "$C" --from-city >/dev/null
    sync
    echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo "(page cache not dropped: not root)"
    cat "$W"/day/batches/*.ocub > /dev/null
    /usr/bin/time -f "ingest %e s wall, %U s user, %S s system, %M KB peak" "$B" clearing ingest --db "$W/c.sqlite" \
        --keys "$W/keys.json" --received-at 2026-03-02T23:59:59 "$@" --json "$W"/day/batches/*.ocub > "$W/ingest.json"
    python3 - "$W/ingest.json" "$W/day/ground-truth.json" <<'EOF'
import json, sys
d, t = (json.load(open(p)) for p in sys.argv[1:3])
ok = d["accepted"] == t["accepted"] and d["acceptedAmountFen"] == t["acceptedAmountFen"]
print(f"  accepted {d['accepted']} records, {d['acceptedAmountFen']} fen: {'the ground truth' if ok else 'NOT the ground truth %s %s' % (t['accepted'], t['acceptedAmountFen'])}")
sys.exit(0 if ok else 1)
EOF
done
