#!/usr/bin/env bash
# The README's test command: installs packages, starts pcscd with the virtual reader,
# runs `swift test`, and stops what it started (a pcscd that was already running is left).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
started="$(Hardware/scripts/pcscd-start.sh)"
echo "$started"
case "$started" in
    *"already running"*) ;;
    *) trap 'Hardware/scripts/pcscd-stop.sh' EXIT ;;
esac
swift test
