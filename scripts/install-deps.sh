#!/usr/bin/env bash
# Installs the Debian packages OneCard builds and tests with. Idempotent; quiet when all
# are present already.
set -euo pipefail
# time: /usr/bin/time, which Benchmarks/day.sh and frontend.sh report wall time and peak memory with.
packages=(libssl-dev libsqlite3-dev libpcsclite-dev pcscd vsmartcard-vpcd pkg-config openssl curl python3 postgresql time)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
