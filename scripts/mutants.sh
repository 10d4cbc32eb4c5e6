#!/usr/bin/env bash
# docs/simulation.md, "The checker catches each fault class": builds onecard with one
# deliberate bug at a time (a mutant) and runs seeds until the simulation's checker fails,
# printing how many seeds it took. Restores every file and rebuilds at the end.
#   scripts/mutants.sh [SEEDS]   (default 20 seeds per mutant; a mutant no seed catches is an error)
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS="${1:-20}"
BIN=.build/debug/onecard
restore() { git checkout -- Sources; swift build --product onecard >/dev/null 2>&1 || true; }
trap restore EXIT
# name | file | exact text | replacement | fault class
mutants=(
  "tac-unchecked|Sources/Clearing/Verifier.swift|if tac != r.tac { return Verdict(.tacError) }|if tac != r.tac, false { return Verdict(.tacError) }|hostile terminals: forged records"
  "hotlist-read-once|Sources/ClearingIngest/Ingestor.swift|guard try store.hotlistStamp() != hotlistStamp else { return }|guard try store.hotlistStamp() != hotlistStamp, false else { return }|hotlist changes racing with taps"
  "torn-debit-voided|Sources/Terminal/TapTerminal+Recovery.swift|if let oldestAfter, oldestAfter > grey.counter \&+ 1 { return .beyondLog }|if let oldestAfter, oldestAfter > grey.counter \&+ 1, false { return .beyondLog }|cards torn at an APDU"
  "batches-not-stored|Sources/Storage/ClearingStore.swift|try insertBatches(db, run: run, p)|_ = (db, run)|clearing killed; uploads duplicated and replayed"
  "closed-day-reopened|Sources/Storage/SettlementStore.swift|throw StorageError.dayClosed(path: path, day: day.description)|_ = 0|a closed day never changes"
)
printf '| mutant | fault class | first failing seed | seeds run | what the checker said |\n|---|---|---|---|---|\n'
failed=0
for m in "${mutants[@]}"; do
    IFS='|' read -r name file text replacement class <<<"$m"
    python3 - "$file" "$text" "$replacement" <<'PY'
import sys
path, old, new = sys.argv[1], sys.argv[2].replace("\\&", "&"), sys.argv[3].replace("\\&", "&")
s = open(path).read()
if s.count(old) != 1:
    sys.exit(f"{path}: the mutant's text is not there exactly once: {old}")
open(path, "w").write(s.replace(old, new))
PY
    swift build --product onecard >/dev/null 2>&1 || { echo "mutant $name does not build" >&2; exit 1; }
    first="" said=""
    for seed in $(seq 1 "$SEEDS"); do
        if ! out=$("$BIN" simulate --seed "$seed" 2>&1); then
            first=$seed
            said=$(echo "$out" | sed -n '2p' | sed 's/^ *//; s/|/\\|/g' | cut -c1-140)
            break
        fi
    done
    git checkout -- "$file"
    if [ -z "$first" ]; then
        printf '| %s | %s | none | %s | NOT CAUGHT |\n' "$name" "$class" "$SEEDS"
        failed=1
    else
        printf '| %s | %s | %s | %s | %s |\n' "$name" "$class" "$first" "$first" "$said"
    fi
done
exit $failed
