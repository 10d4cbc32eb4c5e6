#!/usr/bin/env bash
# Clearing in runs: the 1M-tap day ingested in one run, in default runs (262,144 records), in 1,048,576-record runs and one file a run
# (docs/performance.md, "Clearing in runs"). Build first: swift build -c release --product onecard.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${ONECARD:-$ROOT/.build/release/onecard}
C=$ROOT/config/city-xian.json
W=${RUNS_DIR:-/tmp/p1}
mkdir -p $W
[ -f $W/keys.json ] || $B keys new --out $W/keys.json >/dev/null
[ -d $W/day ] || $B loadgen --city $C --keys $W/keys.json --cards 200000 --taps 1000000 --seed 1 --out $W/day >/dev/null
[ -d $W/day1k ] || $B loadgen --city $C --keys $W/keys.json --cards 200000 --taps 1000000 --seed 1 --out $W/day1k --batch-records-max 1150 >/dev/null
echo "files: $(ls $W/day/batches | wc -l) and $(ls $W/day1k/batches | wc -l)"
run() {
  local name=$1 dir=$2; shift 2
  rm -f $W/$name.sqlite*
  $B clearing terminals add --db $W/$name.sqlite --city $C --from-city >/dev/null
  /usr/bin/time -f "$name %e s wall, %M KB peak" $B clearing ingest --db $W/$name.sqlite --keys $W/keys.json --received-at 2026-03-02T23:59:59 "$@" --json $W/$dir/batches/*.ocub > $W/$name.json
  python3 -c "import json;d=json.load(open('$W/$name.json'));t=json.load(open('$W/$dir/ground-truth.json'));print('  accepted',d['accepted'],d['acceptedAmountFen'],'truth',t['accepted'],t['acceptedAmountFen'])"
}
for i in ${RUNS_REPEAT:-1 2}; do
run one day --records-per-commit 100000000
run default day
run mega day --records-per-commit 1048576
run thousand day1k --records-per-commit 1150
done
