#!/usr/bin/env bash
# docs/performance.md, "Parameters": a 500,000-card hotlist at the clearing centre, served by
# onecard serve (release build) as a signed full list and as a delta after 1,000 changes.
#   Benchmarks/parameters.sh [CARDS] [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
CARDS="${1:-500000}"
DIR="${2:-$(mktemp -d /tmp/onecard-parameters.XXXXXX)}"
BIN=.build/release/onecard
[ -x "$BIN" ] || swift build -c release --product onecard
mkdir -p "$DIR"
rm -f "$DIR/c.sqlite"*
python3 - "$CARDS" "$DIR/hotlist.json" <<'PY'
import json, sys
n, out = int(sys.argv[1]), sys.argv[2]
cards = [{"card": "%016X" % (0x7100000000000000 + i * 7919), "since": "2026-11-01T00:00:00"} for i in range(n)]
json.dump({"format": "onecard-hotlist/1", "cards": cards}, open(out, "w"))
PY
"$BIN" clearing terminals add --db "$DIR/c.sqlite" --city config/city-xian.json --from-city >/dev/null
"$BIN" keys new --out "$DIR/keys.json" >/dev/null
openssl genpkey -algorithm ed25519 -out "$DIR/param.pem" 2>/dev/null
t0=$(date +%s.%N)
"$BIN" clearing hotlist import --db "$DIR/c.sqlite" --file "$DIR/hotlist.json" >/dev/null
t1=$(date +%s.%N)
echo "import of $CARDS cards: $(echo "$t1 - $t0" | bc) s"
"$BIN" serve --db "$DIR/c.sqlite" --keys "$DIR/keys.json" --listen 127.0.0.1:0 --parameter-key "$DIR/param.pem" >"$DIR/serve.out" 2>/dev/null &
SERVER=$!
trap 'kill -9 $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q listening "$DIR/serve.out" 2>/dev/null && break; sleep 0.1; done
URL="http://$(sed -n 's/listening on //p' "$DIR/serve.out")"
get() { curl -s -o "$DIR/body" -w '%{http_code} %{size_download} bytes %{time_total} s' "$URL$1"; echo "  GET $1"; }
get /v1/parameters
get /v1/parameters/hotlist
get /v1/parameters/hotlist
curl -s "$URL/v1/parameters" -o "$DIR/index.json"
VERSION=$(python3 -c "import json;print(json.load(open('$DIR/index.json'))['hotlist']['version'])")
# 1,000 changes: 500 removed, 500 added.
python3 - "$DIR/changes.json" <<'PY'
import json, sys
cards = [{"card": "%016X" % (0x7200000000000000 + i), "since": "2026-11-02T00:00:00"} for i in range(500)]
json.dump({"format": "onecard-hotlist/1", "cards": cards}, open(sys.argv[1], "w"))
PY
"$BIN" clearing hotlist import --db "$DIR/c.sqlite" --file "$DIR/changes.json" >/dev/null
for i in $(seq 0 499); do printf '%016X\n' $((0x7100000000000000 + i * 7919)); done | head -500 >"$DIR/remove.txt"
python3 - "$DIR/c.sqlite" "$DIR/remove.txt" <<'PY'
import subprocess, sys
db, path = sys.argv[1], sys.argv[2]
for card in open(path).read().split():
    subprocess.run([".build/release/onecard", "clearing", "hotlist", "remove", "--db", db, "--card", card], check=True, stdout=subprocess.DEVNULL)
PY
get "/v1/parameters/hotlist?since=$VERSION"
get "/v1/parameters/hotlist?since=$VERSION"
echo "server peak memory: $(grep VmHWM /proc/$SERVER/status | awk '{print $2, $3}')"
