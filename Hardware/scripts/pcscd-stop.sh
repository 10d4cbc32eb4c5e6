#!/usr/bin/env bash
# Stops the pcscd that pcscd-start.sh started, by the PID in its PID file. Idempotent:
# does nothing when it is not running. Never touches a pcscd it did not start.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/pcscd-env.sh"

pid="$(our_pcscd_pid)"
if [ -z "$pid" ]; then
    rm -f "$PCSCD_PIDFILE"
    echo "pcscd not running (nothing to stop)"
    exit 0
fi
stop_pid "$pid"
rm -f "$PCSCD_PIDFILE"
# SIGTERM removes the socket; SIGKILL (after the wait limit) would leave it behind.
if [ -z "$(live_pcscd_pids)" ]; then rm -f "$PCSCD_SOCKET" "$PCSCD_RUN/pcscd.pid"; fi
echo "pcscd stopped (pid $pid)"
