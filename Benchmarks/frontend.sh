#!/usr/bin/env bash
# The front-end under load (docs/performance.md, "The front-end"): a 1M-tap day from 5,000
# terminals uploaded to `onecard serve` over loopback by the load client (`onecard bench-upload`),
# with bounded concurrency; the server's peak memory from /usr/bin/time. Build first:
# swift build -c release --product onecard.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${ONECARD:-$ROOT/.build/release/onecard}
W=${FRONTEND_DIR:-/tmp/pfe}
TERMINALS=${TERMINALS:-5000}
TAPS=${TAPS:-1000000}
CARDS=${CARDS:-200000}
CONCURRENCY=${CONCURRENCY:-64}
mkdir -p "$W"
C=$W/city.json
[ -f "$C" ] || python3 "$ROOT/Benchmarks/city-terminals.py" "$ROOT/config/city-xian.json" "$TERMINALS" "$C"
[ -f "$W/keys.json" ] || $B keys new --out "$W/keys.json" >/dev/null
# Yesterday's day, so that it is inside the upload window of the server's clock and every header
# (yesterday 23:59:59) is behind it.
DAY=$(date -d yesterday +%F)
if [ ! -d "$W/day-$DAY" ]; then
  $B loadgen --city "$C" --keys "$W/keys.json" --cards "$CARDS" --taps "$TAPS" --seed 1 --start-date "$DAY" \
    --batch-records-max 1000 --out "$W/day-$DAY" >/dev/null
fi
echo "files: $(ls "$W/day-$DAY/batches" | wc -l)"
rm -f "$W"/c.sqlite*
$B clearing terminals add --db "$W/c.sqlite" --city "$C" --from-city >/dev/null
rm -f "$W/serve.out"
/usr/bin/time -f "server: %e s wall, %U s user, %S s sys, %M KB peak" -o "$W/serve.time" \
  $B serve --db "$W/c.sqlite" --keys "$W/keys.json" --listen 127.0.0.1:0 > "$W/serve.out" 2>/dev/null &
SERVER=$!
for _ in $(seq 1 100); do grep -q listening "$W/serve.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/listening on 127.0.0.1://p' "$W/serve.out")
$B bench-upload --server "http://127.0.0.1:$PORT" --concurrency "$CONCURRENCY" "$W/day-$DAY/batches" | tee "$W/client.json"
# SIGTERM to the server itself (a background job of a script ignores SIGINT); /usr/bin/time
# then reports its peak memory.
kill -TERM "$(pgrep -P $SERVER)"
wait $SERVER || true
cat "$W/serve.time"
python3 - "$W" "$DAY" <<'PY'
import json, sys
w, day = sys.argv[1], sys.argv[2]
t = json.load(open(f"{w}/day-{day}/ground-truth.json"))
c = json.load(open(f"{w}/client.json"))
print(f"accepted {c['accepted']} acknowledged; ground truth {t['accepted']}")
PY
