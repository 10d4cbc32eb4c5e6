#!/usr/bin/env bash
# The README's test command: installs packages, starts pcscd with the virtual reader,
# runs `swift test`, and stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
Hardware/scripts/pcscd-start.sh
trap 'Hardware/scripts/pcscd-stop.sh' EXIT
swift test
