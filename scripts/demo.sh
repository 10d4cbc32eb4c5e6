#!/usr/bin/env bash
# README's first command: a demo city day through the virtual reader, on SQLite.
#
#   1. installs what is needed, builds onecard, starts pcscd with the virtual reader;
#   2. issues DEMO_CARDS cards at the service counter through pcscd and has each rider tap
#      through the day: bus, metro entry/exit (transfer discounts), taxi, gas, a top-up; each
#      fare terminal's PSAM (personalised for it) sits in the second slot for its taps;
#   3. exports every terminal's journal as an upload batch;
#   4. adds a generated full day (loadgen, DEMO_TAPS taps) on top;
#   5. has every terminal upload its batches to the front-end (onecard serve), which clears and
#      acknowledges each (the real terminals with `onecard terminal sync`, which also fetches the
#      signed hotlist and city file); checks the ledger and the totals against the ground
#      truth, settles the day, reconciles the bus company's statement, prints the report's path;
#   6. stops what it started.
#
# Sizes: DEMO_CARDS (30), DEMO_TAPS (1000000), DEMO_GENERATED_CARDS (100000); DEMO_OUT (demo-out);
# DEMO_BUILD (release or debug). CI runs it small (DEMO_TAPS=20000).
set -euo pipefail
cd "$(dirname "$0")/.."

CARDS="${DEMO_CARDS:-30}"
TAPS="${DEMO_TAPS:-1000000}"
GENERATED_CARDS="${DEMO_GENERATED_CARDS:-100000}"
OUT="${DEMO_OUT:-demo-out}"
BUILD="${DEMO_BUILD:-release}"
DAY="2026-11-29"
NEXT_DAY="2026-11-30"
CITY="config/city-xian.json"
READER="Virtual PCD 00 00"
PSAM_READER="Virtual PCD 00 01"
COUNTER="710001000001"

step() { printf '\n== %s\n' "$*"; }

scripts/install-deps.sh
step "building onecard ($BUILD; the first build takes a few minutes)"
swift build -c "$BUILD" --product onecard 2>&1 | grep -E "error|warning: .*onecard|Compiling onecard|Build complete" || true
BIN="$(swift build -c "$BUILD" --show-bin-path)/onecard"
[ -x "$BIN" ] || { echo "build failed" >&2; exit 1; }

rm -rf "$OUT"
mkdir -p "$OUT/cards" "$OUT/journals" "$OUT/batches" "$OUT/psams"
step "starting pcscd with the virtual reader"
started="$(Hardware/scripts/pcscd-start.sh)"
echo "$started"
EMULATOR=""
PSAM=""
cleanup() {
    if [ -n "$EMULATOR" ]; then kill -INT "$EMULATOR" 2>/dev/null || true; wait "$EMULATOR" 2>/dev/null || true; fi
    if [ -n "$PSAM" ]; then kill -INT "$PSAM" 2>/dev/null || true; wait "$PSAM" 2>/dev/null || true; fi
    case "$started" in *"already running"*) ;; *) Hardware/scripts/pcscd-stop.sh >/dev/null || true ;; esac
}
trap cleanup EXIT

step "keys: the issuer's master keys (personalisation makes each terminal's PSAM from them; no terminal holds a master key)"
"$BIN" keys new --out "$OUT/keys.json"
"$BIN" keys split --keys "$OUT/keys.json" --out-dir "$OUT/keys"

# Waits until a reader (default: the card's) reports a card (present=true) or none (false).
wait_card() {
    local reader="${2:-$READER}"
    for _ in $(seq 50); do
        if "$BIN" readers --json | grep -q "\"card\":$1,\"reader\":\"$reader\""; then return 0; fi
        sleep 0.1
    done
    echo "$reader did not report card=$1 within 5 s" >&2
    return 1
}
insert() {
    "$BIN" card emulate --card "$1" >>"$OUT/emulator.log" 2>&1 &
    EMULATOR=$!
    wait_card true
}
remove() {
    kill -INT "$EMULATOR"
    wait "$EMULATOR" || true
    EMULATOR=""
    wait_card false
}
psam_in() {  # terminal: its PSAM (personalised on first use) into the second slot
    [ -f "$OUT/psams/$1.json" ] || "$BIN" psam new --keys "$OUT/keys/psam.json" --terminal "$1" --out "$OUT/psams/$1.json" >/dev/null
    "$BIN" psam emulate --psam "$OUT/psams/$1.json" >>"$OUT/emulator.log" 2>&1 &
    PSAM=$!
    wait_card true "$PSAM_READER"
}
psam_out() {
    kill -INT "$PSAM"
    wait "$PSAM" || true
    PSAM=""
    wait_card false "$PSAM_READER"
}
tap() {  # terminal time [extra flags]: the terminal's PSAM sits in the second slot for the tap
    local terminal="$1" time="$2"
    shift 2
    psam_in "$terminal"
    "$BIN" tap --reader "$READER" --psam-reader "$PSAM_READER" --city "$CITY" --terminal "$terminal" \
        --journal "$OUT/journals/$terminal.sqlite" --once --json --at "${DAY}T$time" "$@" >>"$OUT/taps.jsonl"
    psam_out
}
counter() {  # command time [flags]
    local command="$1" time="$2"
    shift 2
    "$BIN" "$command" --reader "$READER" --keys "$OUT/keys/issuer.json" --db "$OUT/issuer.sqlite" \
        --journal "$OUT/journals/$COUNTER.sqlite" --city "$CITY" \
        --at "${DAY}T$time" --json "$@" >>"$OUT/counter.jsonl"
}

BUSES=(710002000501 710002001101 710002021502 710002060001 710002060801)
GATES=(710003010101 710003010501 710003011001 710003011601 710003020101 710003021101 710003021501 710003021701)
TYPES=(adult adult adult student senior adult staff adult)
RANDOM=20261129
pick() { local a=("$@"); echo "${a[$((RANDOM % ${#a[@]}))]}"; }
hhmm() { printf '%02d:%02d:%02d' "$1" "$2" "$((RANDOM % 60))"; }

step "issuing $CARDS cards and riding them through pcscd + vpcd"
for i in $(seq "$CARDS"); do
    serial="$(printf '71000000%08d' "$i")"
    type="${TYPES[$((i % ${#TYPES[@]}))]}"
    card="$OUT/cards/$serial.json"
    "$BIN" card new --keys "$OUT/keys.json" --serial "$serial" --type adult --start "$DAY" --out "$card" >/dev/null
    insert "$card"
    counter issue "$(hhmm 6 $((i % 60)))" --type "$type" --load-fen $((3000 + 1000 * (i % 5)))
    h=$((7 + i % 2))
    tap "$(pick "${BUSES[@]}")" "$(hhmm $h 5)"
    entry="$(pick "${GATES[@]}")"
    exit_gate="$(pick "${GATES[@]}")"
    tap "$entry" "$(hhmm $h 20)" --gate entry
    tap "$exit_gate" "$(hhmm $h 50)" --gate exit
    if [ $((i % 3)) -eq 0 ]; then tap "$(pick 710004000001 710004000002 710004000003)" "$(hhmm 12 $((i % 60)))" --amount-fen $((1000 + 37 * i)); fi
    if [ $((i % 4)) -eq 0 ]; then counter load "$(hhmm 14 10)" --amount-fen 5000; fi
    if [ $((i % 5)) -eq 0 ]; then tap "$(pick 710005000001 710005000002)" "$(hhmm 15 30)" --amount-fen $((2000 + 11 * i)); fi
    tap "$exit_gate" "$(hhmm 18 $((i % 40)))" --gate entry
    tap "$entry" "$(hhmm 18 $((40 + i % 15)))" --gate exit
    tap "$(pick "${BUSES[@]}")" "$(hhmm 19 $((i % 30)))"
    remove
    printf '.'
done
echo
taps_real="$(wc -l <"$OUT/taps.jsonl")"
approved="$(grep -c '"result":"approved"' "$OUT/taps.jsonl" || true)"
echo "$taps_real taps through pcscd ($approved approved), $(wc -l <"$OUT/counter.jsonl") counter records"
"$BIN" card show "$OUT/cards/7100000000000001.json" | head -12

step "at the counter: card 1 is refunded, card 2 replaced by a new card (two readers)"
insert "$OUT/cards/7100000000000001.json"
counter refund "20:00:00"
remove
NEW_CARD="$OUT/cards/7100000000009999.json"
"$BIN" card new --keys "$OUT/keys.json" --serial 7100000000009999 --type adult --start "$DAY" --out "$NEW_CARD" >/dev/null
insert "$NEW_CARD"
counter issue "20:05:00" --type adult
remove
insert "$OUT/cards/7100000000000002.json"
"$BIN" card emulate --card "$NEW_CARD" --connect 127.0.0.1:35964 >>"$OUT/emulator.log" 2>&1 &
NEW_EMULATOR=$!
wait_card true "$PSAM_READER"
counter replace "20:10:00" --new-reader "$PSAM_READER"
kill -INT "$NEW_EMULATOR"; wait "$NEW_EMULATOR" || true
wait_card false "$PSAM_READER"
remove
tail -2 "$OUT/counter.jsonl"

step "exporting every terminal's journal as an upload batch, signed by the terminal's own PSAM"
for journal in "$OUT"/journals/*.sqlite; do
    name="$(basename "$journal" .sqlite)"
    terminal="$name"
    psam_in "$terminal"
    "$BIN" terminal export --journal "$journal" --psam-reader "$PSAM_READER" --city "$CITY" --out "$OUT/batches/$name.ocub" \
        --at "${DAY}T23:00:00" --json >>"$OUT/exports.jsonl"
    psam_out
done
echo "$(ls "$OUT/batches" | wc -l) batch files"

step "generating a full day of traffic: $TAPS taps by $GENERATED_CARDS cards (loadgen)"
"$BIN" loadgen --city "$CITY" --keys "$OUT/keys.json" --cards "$GENERATED_CARDS" --taps "$TAPS" --seed 7 \
    --start-date "$DAY" --out "$OUT/generated"

step "clearing: every terminal uploads its batches to the front-end (onecard serve), which clears and acknowledges each"
# Received after midnight, before the 02:00 cut-off: still business day $DAY, after every header
# time. The server's clearing clock is fixed there (--received-at), as for a replay of the day.
# The parameters it serves (hotlist, city file) are signed with the centre's Ed25519 key.
"$BIN" clearing terminals add --db "$OUT/clearing.sqlite" --city "$CITY" --from-city
mkdir -p "$OUT/keys" "$OUT/terminals"
[ -f "$OUT/keys/parameters.pem" ] || openssl genpkey -algorithm ed25519 -out "$OUT/keys/parameters.pem" 2>/dev/null
openssl pkey -in "$OUT/keys/parameters.pem" -pubout -out "$OUT/keys/parameters.pub" 2>/dev/null
rm -f "$OUT/serve.out" "$OUT/syncs.jsonl"
"$BIN" serve --db "$OUT/clearing.sqlite" --keys "$OUT/keys/clearing.json" --listen 127.0.0.1:0 \
    --parameter-key "$OUT/keys/parameters.pem" --received-at "$NEXT_DAY""T01:00:00" >"$OUT/serve.out" 2>"$OUT/serve.log" &
SERVER=$!
for _ in $(seq 1 100); do grep -q listening "$OUT/serve.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/listening on 127.0.0.1://p' "$OUT/serve.out")
[ -n "$PORT" ] || { cat "$OUT/serve.log" >&2; echo "onecard serve did not start" >&2; exit 1; }
sync_terminal() {  # journal: the terminal's own PSAM signs; acknowledged batches are marked uploaded
    local journal="$1" terminal
    terminal="$(basename "$journal" .sqlite)"
    psam_in "$terminal"
    "$BIN" terminal sync --journal "$journal" --psam-reader "$PSAM_READER" --server "http://127.0.0.1:$PORT" \
        --parameter-key "$OUT/keys/parameters.pub" --hotlist "$OUT/terminals/$terminal.ochl" --city-out "$OUT/terminals/$terminal-city.json" \
        --at "${DAY}T23:00:00" --json >>"$OUT/syncs.jsonl"
    psam_out
}
# The real fare terminals sync (their exported batch goes up again, byte-identical, and is
# acknowledged), each generated terminal sends its batches in sequence order, the next after the
# acknowledgement; the service counter syncs at closing time, after the fare terminals: its
# refund and replacement are judged against the card's cleared fares (docs/architecture.md,
# "Clearing streams").
for journal in "$OUT"/journals/*.sqlite; do
    [ "$(basename "$journal" .sqlite)" = "$COUNTER" ] || sync_terminal "$journal"
done
"$BIN" bench-upload --server "http://127.0.0.1:$PORT" --concurrency 16 "$OUT"/generated/batches | tee "$OUT/upload-fares.json"
sync_terminal "$OUT/journals/$COUNTER.sqlite"
echo "$(wc -l <"$OUT/syncs.jsonl") terminals synced; hotlist and city file in $OUT/terminals/"
kill -TERM "$SERVER"; wait "$SERVER" || true
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
generated = json.load(open(f"{out}/upload-fares.json"))
batches = [b for line in open(f"{out}/syncs.jsonl") for b in json.loads(line)["batches"]]
total = {k: generated[k] for k in ("uploads", "records", "accepted", "acceptedAmountFen")}
total["uploads"] += len(batches)
for k in ("records", "accepted", "acceptedAmountFen"):
    total[k] += sum(b[k] for b in batches)
json.dump(total, open(f"{out}/ingest.json", "w"), separators=(",", ":"))
PY
step "clearing: checking the ledger"
"$BIN" clearing check --db "$OUT/clearing.sqlite"

step "checking clearing against the ground truth: loadgen's expectations plus every real record"
field() { sed -n "s/^ *\"$1\" *: *\([0-9]*\).*/\1/p" "$2" | head -1; }
real_records=$(( $(grep -o '"records":[0-9]*' "$OUT/exports.jsonl" | cut -d: -f2 | paste -sd+) ))
real_amount=$(( $(grep -o '"amountFen":[0-9]*' "$OUT/exports.jsonl" | cut -d: -f2 | paste -sd+) ))
expected_accepted=$(( $(field accepted "$OUT/generated/ground-truth.json") + real_records ))
expected_amount=$(( $(field acceptedAmountFen "$OUT/generated/ground-truth.json") + real_amount ))
got_accepted=$(grep -o '"accepted":[0-9]*' "$OUT/ingest.json" | cut -d: -f2)
got_amount=$(grep -o '"acceptedAmountFen":[0-9]*' "$OUT/ingest.json" | cut -d: -f2)
echo "accepted $got_accepted (expected $expected_accepted), amount $got_amount fen (expected $expected_amount fen)"
if [ "$got_accepted" != "$expected_accepted" ] || [ "$got_amount" != "$expected_amount" ]; then
    echo "MISMATCH between clearing and the ground truth" >&2
    exit 1
fi

step "settling the day $DAY"
"$BIN" settle --db "$OUT/clearing.sqlite" --date "$DAY" --out "$OUT/settlement" --json >"$OUT/settlement.json"
"$BIN" clearing check --db "$OUT/clearing.sqlite"
cat "$OUT/settlement/positions.csv"

step "reconciling the bus company's own statement (per terminal: count and amount)"
# The bus company's statement, from its own terminal counts (here: what its terminals uploaded).
{
    echo "terminal,count,amount_fen"
    awk -F, 'NR > 1 { n[$5]++; a[$5] += $7 } END { for (t in n) print t "," n[t] "," a[t] }' \
        "$OUT/settlement/clearing-operator-2.csv" | sort
} >"$OUT/bus-statement.csv"
"$BIN" reconcile --db "$OUT/clearing.sqlite" --date "$DAY" --statement "$OUT/bus-statement.csv"

step "done"
echo "outputs in $OUT/: taps.jsonl, counter.jsonl, batches/, generated/, ingest.json (the acknowledgements' totals), clearing.sqlite, settlement/"
echo "the settlement report: $(cd "$OUT/settlement" && pwd)/report.html"
