#!/usr/bin/env bash
# Stops what scripts/slurm/start.sh started: slurmd, slurmctld, munged (in that order).
set -uo pipefail
state="${SLURM_STATE_DIR:-/var/spool/camaudit-slurm}"
stop_pidfile() {
  local f="$1" pid
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid"
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
}
stop_pidfile "$state/slurmd.pid"
stop_pidfile "$state/slurmctld.pid"
[ "${1:-}" = "--keep-munge" ] || stop_pidfile /run/munge/munged.pid
