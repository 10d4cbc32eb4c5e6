#!/usr/bin/env bash
# The README's test command: installs packages, starts pcscd with the virtual reader, runs a
# small demo city day end to end (its totals are checked against the load generator's ground
# truth plus every real tap), then `swift test` (hardware suite last) — the clearing and
# settlement suites a second time against PostgreSQL, on a private cluster on 127.0.0.1:55432,
# and the failover test on a primary with a synchronous standby (scripts/failover-test.sh) —
# and stops what it started (a pcscd that was already running is left).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
started="$(Hardware/scripts/pcscd-start.sh)"
echo "$started"
cleanup=()
case "$started" in
    *"already running"*) ;;
    *) cleanup+=(Hardware/scripts/pcscd-stop.sh) ;;
esac
trap 'for c in "${cleanup[@]}"; do $c || true; done' EXIT
echo "== demo city day, small (DEMO_TAPS=20000 DEMO_CARDS=4)"
DEMO_TAPS=20000 DEMO_GENERATED_CARDS=2000 DEMO_CARDS=4 DEMO_BUILD=debug DEMO_OUT=.build/demo-smoke scripts/demo.sh >.build/demo-smoke.log 2>&1 \
    || { tail -40 .build/demo-smoke.log; echo "the demo city day failed (log: .build/demo-smoke.log)" >&2; exit 1; }
grep -E "accepted .* \(expected" .build/demo-smoke.log
# Two runs: the CPU-heavy suites (crash loops, kill -9 tests) would otherwise share the two
# cores with the timing-sensitive PC/SC suite, whose events must arrive within a second.
swift test --skip HardwareTests
echo "== the clearing and settlement suites on PostgreSQL"
pg_url="$(scripts/pg-test-cluster.sh start | tail -1)"
case "$pg_url" in
    postgresql://*) ;;
    *) echo "no PostgreSQL test cluster (scripts/pg-test-cluster.sh start said: $pg_url)" >&2; exit 1 ;;
esac
cleanup+=("scripts/pg-test-cluster.sh stop")
ONECARD_TEST_BACKEND=postgresql ONECARD_TEST_POSTGRES="$pg_url" swift test --filter "StorageTests|SettlementTests"
echo "== failover: the primary of a synchronous pair killed during uploads and during a settlement"
ONECARD=.build/debug/onecard scripts/failover-test.sh
swift test --filter HardwareTests
