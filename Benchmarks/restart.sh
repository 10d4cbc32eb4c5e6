#!/usr/bin/env bash
# Restart after a month: 30 days of 1M taps each (200k cards), uploaded and received day by day,
# then the time to open the store and load the clearing state (docs/performance.md, "Restart
# after a month"). Build first: swift build -c release --product onecard.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${ONECARD:-$ROOT/.build/release/onecard}
C=$ROOT/config/city-xian.json
W=${RESTART_DIR:-/tmp/p30}
DAYS=${DAYS:-30}
TAPS_PER_DAY=${TAPS_PER_DAY:-1000000}
CARDS=${CARDS:-200000}
mkdir -p "$W"
[ -f "$W/keys.json" ] || $B keys new --out "$W/keys.json" >/dev/null
if [ ! -d "$W/month" ]; then
  /usr/bin/time -f "loadgen %e s wall, %M KB peak" $B loadgen --city "$C" --keys "$W/keys.json" --cards "$CARDS" \
    --taps $((TAPS_PER_DAY * DAYS)) --days "$DAYS" --uploads daily --seed 1 --out "$W/month" >/dev/null
fi
rm -f "$W"/c.sqlite*
$B clearing terminals add --db "$W/c.sqlite" --city "$C" --from-city >/dev/null
last=""
for day in $(ls "$W/month/batches"); do
  /usr/bin/time -f "ingest $day: %e s wall, %M KB peak" $B clearing ingest --db "$W/c.sqlite" --keys "$W/keys.json" \
    --received-at "${day}T23:59:59" --json "$W/month/batches/$day/"*.ocub > "$W/ingest-$day.json"
  last=$day
done
python3 - "$W" <<'PY'
import json, glob, sys
w = sys.argv[1]
t = json.load(open(w + "/month/ground-truth.json"))
acc = sum(json.load(open(f))["accepted"] for f in glob.glob(w + "/ingest-*.json"))
fen = sum(json.load(open(f))["acceptedAmountFen"] for f in glob.glob(w + "/ingest-*.json"))
print(f"accepted {acc} ({fen} fen); ground truth {t['accepted']} ({t['acceptedAmountFen']} fen)")
PY
ls -l "$W/c.sqlite" | awk '{printf "database: %.2f GB\n", $5 / 1e9}'
# Restart: a process opens the store and loads the state (no files: nothing to post).
for i in 1 2 3; do
  /usr/bin/time -f "restart $i: %e s wall, %M KB peak" $B clearing ingest --db "$W/c.sqlite" --keys "$W/keys.json" \
    --received-at "${last}T23:59:59" --verbose 2>&1 | grep -E "load state|restart"
done
