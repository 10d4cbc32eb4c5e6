#!/usr/bin/env bash
# docs/simulation.md, "The checker catches each fault class": builds onecard with one
# deliberate bug at a time (a mutant) and runs seeds until the simulation's checker fails,
# printing how many seeds it took. Restores every file and rebuilds at the end.
#   scripts/mutants.sh [SEEDS]   (default 20 seeds per mutant; a mutant no seed catches is an error)
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS="${1:-20}"
BIN=.build/debug/onecard
# Only committed sources are mutated: a mutant's files are restored from git afterwards.
git diff --quiet -- Sources || { echo "Sources has uncommitted changes: commit or stash them first" >&2; exit 1; }
files=()
restore() { [ ${#files[@]} -eq 0 ] || git checkout -- "${files[@]}"; swift build --product onecard >/dev/null 2>&1 || true; }
trap restore EXIT
# name | fault class | file | exact text | replacement [| file | text | replacement …]
mutants=(
  "tac-unchecked|hostile terminals: forged records|Sources/Clearing/Verifier.swift|if tac != r.tac { return Verdict(.tacError) }|if tac != r.tac, false { return Verdict(.tacError) }"
  "hotlist-read-once|hotlist changes racing with taps|Sources/ClearingIngest/Ingestor.swift|guard try store.hotlistStamp() != hotlistStamp else { return }|guard try store.hotlistStamp() != hotlistStamp, false else { return }"
  "recovered-tac-garbled|cards torn at an APDU|Sources/Terminal/TapTerminal+Recovery.swift|        done.tac = tac|        done.tac = tac ^ 1"
  "restart-forgets-uploads|terminals crashing at any point|Sources/Storage/SQLiteJournal.swift|        try self.init(path: path, identity: nil, migrations: JournalSchema.register)
    }|        try self.init(path: path, identity: nil, migrations: JournalSchema.register)
        try? queue.write { try \$0.execute(sql: \"UPDATE journal_batch SET acknowledged = 'restart' WHERE acknowledged IS NULL\") }
    }"
  "batches-not-stored|clearing killed; uploads lost, duplicated, replayed|Sources/Storage/ClearingStore.swift|try insertBatches(db, run: run, p)|_ = (db, run)"
  "closed-day-reopened|a closed day never changes|Sources/ClearingIngest/Ingestor.swift|        let businessDay = config.city.businessDay(of: received)
        var attempt = 1|        let businessDay = config.city.businessDay(of: BCDDateTime(secondsSinceEpoch: received.secondsSinceEpoch - 4 * 3600))
        var attempt = 1|Sources/Storage/ClearingStore.swift|arguments: [p.businessDay]) == true {|arguments: [p.businessDay]) == true, false {"
)
printf '| mutant | fault class | first failing seed | seeds run | what the checker said |\n|---|---|---|---|---|\n'
failed=0
for m in "${mutants[@]}"; do
    IFS='|' read -r -d '' -a f <<<"$m" || true
    f[${#f[@]}-1]="${f[${#f[@]}-1]%$'\n'}"
    name="${f[0]}" class="${f[1]}"
    files=()
    for ((i = 2; i < ${#f[@]}; i += 3)); do
        files+=("${f[i]}")
        python3 - "${f[i]}" "${f[i+1]}" "${f[i+2]}" <<'PY'
import sys
path, old, new = sys.argv[1:4]
s = open(path).read()
if s.count(old) != 1:
    sys.exit(f"{path}: the mutant's text is not there exactly once: {old}")
open(path, "w").write(s.replace(old, new))
PY
    done
    swift build --product onecard >/dev/null 2>&1 || { echo "mutant $name does not build" >&2; exit 1; }
    first="" said=""
    for seed in $(seq 1 "$SEEDS"); do
        if ! out=$("$BIN" simulate --seed "$seed" 2>&1); then
            first=$seed
            said=$(echo "$out" | sed -n '2p' | sed 's/^ *//; s/|/\\|/g' | cut -c1-140)
            break
        fi
    done
    git checkout -- "${files[@]}"
    if [ -z "$first" ]; then
        printf '| %s | %s | none | %s | NOT CAUGHT |\n' "$name" "$class" "$SEEDS"
        failed=1
    else
        printf '| %s | %s | %s | %s | %s |\n' "$name" "$class" "$first" "$first" "$said"
    fi
done
exit $failed
