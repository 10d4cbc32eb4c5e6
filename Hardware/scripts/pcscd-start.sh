#!/usr/bin/env bash
# Starts pcscd without systemd, with OneCard's private reader config (the vpcd virtual
# reader, slots "Virtual PCD 00 00" and "Virtual PCD 00 01"). Idempotent: does nothing when
# our pcscd is already running. Only one pcscd can run per host, so a pcscd that is not
# ours is stopped first, and files left by a crashed pcscd are removed.
# Needs root (pcscd's socket lives in /run/pcscd). Usage: Hardware/scripts/pcscd-start.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/pcscd-env.sh"

pid="$(our_pcscd_pid)"
if [ -n "$pid" ] && [ -S "$PCSCD_SOCKET" ]; then
    echo "pcscd already running (pid $pid)"
    exit 0
fi
[ -n "$pid" ] && stop_pid "$pid"

for other in $(live_pcscd_pids); do
    echo "stopping a pcscd that is not ours (pid $other)"
    stop_pid "$other"
done
# A crashed pcscd leaves its socket and PID file; a new one refuses to start over them.
rm -f "$PCSCD_SOCKET" "$PCSCD_RUN/pcscd.pid"

mkdir -p "$PCSCD_STATE"
command -v pcscd >/dev/null || { echo "pcscd not installed: run scripts/install-deps.sh" >&2; exit 1; }
# ONECARD_PCSCD_DEBUG=1 logs everything pcscd does (-d) to the log file.
nohup pcscd -f ${ONECARD_PCSCD_DEBUG:+-d} -c "$PCSCD_CONFIG" >"$PCSCD_LOG" 2>&1 </dev/null &
echo $! >"$PCSCD_PIDFILE"

for _ in $(seq "$SOCKET_WAIT_TENTHS_MAX"); do
    if [ -S "$PCSCD_SOCKET" ]; then
        echo "pcscd started (pid $(cat "$PCSCD_PIDFILE"), config $PCSCD_CONFIG, log $PCSCD_LOG)"
        exit 0
    fi
    if ! alive "$(cat "$PCSCD_PIDFILE")"; then break; fi
    sleep 0.1
done
echo "pcscd did not start; its log ($PCSCD_LOG):" >&2
cat "$PCSCD_LOG" >&2 || true
exit 1
