# Shared settings for pcscd-start.sh and pcscd-stop.sh (sourced, not run).
HARDWARE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Our own state: PID file and log. Override with ONECARD_PCSCD_STATE.
PCSCD_STATE="${ONECARD_PCSCD_STATE:-/tmp/onecard-pcscd}"
PCSCD_PIDFILE="$PCSCD_STATE/pcscd.pid"
PCSCD_LOG="$PCSCD_STATE/pcscd.log"
PCSCD_CONFIG="${ONECARD_PCSCD_CONFIG:-$HARDWARE_DIR/reader.conf.d}"
# pcscd's own files.
PCSCD_RUN=/run/pcscd
PCSCD_SOCKET="$PCSCD_RUN/pcscd.comm"
# Named limits: how long to wait for the socket (tenths of a second) and for a stop.
SOCKET_WAIT_TENTHS_MAX=50
STOP_WAIT_STEPS_MAX=100  # steps of 0.05 s: 5 s, then SIGKILL

# Whether a PID is a live process. A zombie is not: in containers whose init reaps
# slowly, an exited pcscd stays a zombie for a second or more and `kill -0` still succeeds.
alive() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [ "${stat%% *}" != "Z" ]
}

# Prints the PIDs of live pcscd processes.
live_pcscd_pids() {
    local pid
    for pid in $(pgrep -x pcscd || true); do
        if alive "$pid"; then echo "$pid"; fi
    done
}

# Prints the PID of the pcscd we started, if it is still running.
our_pcscd_pid() {
    [ -f "$PCSCD_PIDFILE" ] || return 0
    local pid
    pid="$(cat "$PCSCD_PIDFILE")"
    if [ -n "$pid" ] && alive "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "pcscd" ]; then
        echo "$pid"
    fi
}

# Sends SIGTERM to one PID and waits for it to exit; SIGKILL after the limit.
stop_pid() {
    local pid="$1" i=0
    kill -TERM "$pid" 2>/dev/null || return 0
    while alive "$pid" && [ "$i" -lt "$STOP_WAIT_STEPS_MAX" ]; do
        sleep 0.05
        i=$((i + 1))
    done
    if alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.1
    fi
}
