#!/usr/bin/env bash
# A single-node Slurm (controller + compute node on this machine) from Debian's packages, started
# without systemd. Idempotent: installs the packages when missing (as root), writes
# /etc/slurm/slurm.conf for this host, starts munged, slurmctld and slurmd unless they already run,
# and waits until `sinfo` shows the node idle. A slurm.conf that start.sh did not write (a real
# cluster's) is never replaced: then it only checks that `sinfo` answers.
#
# Environment: SLURM_STATE_DIR (default /var/spool/camaudit-slurm), SLURM_WAIT_SECONDS (default 60).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
state="${SLURM_STATE_DIR:-/var/spool/camaudit-slurm}"
wait_seconds="${SLURM_WAIT_SECONDS:-60}"
conf=/etc/slurm/slurm.conf
marker="# camaudit-single-node-slurm"
packages=(munge slurmctld slurmd slurm-client)

say() { echo "slurm: $*" >&2; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if [ -f "$conf" ] && ! head -n1 "$conf" | grep -q "^$marker"; then
  say "$conf was not written by this script: using the existing cluster"
  exec sinfo
fi

if [ "$(id -u)" != 0 ]; then
  if sinfo -h -o '%t' 2>/dev/null | grep -q idle; then exit 0; fi
  say "not root: cannot install or start Slurm (run: sudo $0)"; exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  (apt-get update -qq || true)
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# munge: the package creates the key; without systemd nobody creates the runtime directory.
[ -s /etc/munge/munge.key ] || { mungekey --create --force; chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
if ! alive /run/munge/munged.pid; then
  say "starting munged"
  runuser -u munge -- /usr/sbin/munged
fi
for _ in $(seq 50); do munge -n </dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.2; done
munge -n </dev/null | unmunge >/dev/null || { say "munged does not answer (see /var/log/munge/munged.log)"; exit 1; }

# slurm.conf for this host: its short name, its cores and memory as slurmd itself detects them.
host="$(hostname -s)"
hw="$(slurmd -C | head -n1)"
cpus="$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$hw")"
mem="$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")"
mkdir -p "$state/ctld" "$state/d"
new="$(sed -e "s|@HOST@|$host|g" -e "s|@STATE@|$state|g" -e "s|@CPUS@|$cpus|g" -e "s|@MEM@|$mem|g" \
           -e "s|@CTLD_PORT@|${SLURMCTLD_PORT:-6817}|g" -e "s|@D_PORT@|${SLURMD_PORT:-6818}|g" \
           "$here/slurm.conf.in")"
if [ ! -f "$conf" ] || [ "$new" != "$(cat "$conf")" ]; then
  if alive "$state/slurmctld.pid" || alive "$state/slurmd.pid"; then
    say "configuration changed: restarting"; "$here/stop.sh" --keep-munge
  fi
  mkdir -p /etc/slurm
  printf '%s\n' "$new" > "$conf"
fi

if ! alive "$state/slurmctld.pid"; then say "starting slurmctld"; /usr/sbin/slurmctld; fi
if ! alive "$state/slurmd.pid"; then say "starting slurmd"; /usr/sbin/slurmd; fi

for _ in $(seq $((wait_seconds * 2))); do
  st="$(sinfo -h -n "$host" -o '%t' 2>/dev/null || true)"
  case "$st" in
    idle|mix|alloc) say "node $host is $st"; exit 0 ;;
    down*|drain*|fail*) scontrol update NodeName="$host" State=RESUME 2>/dev/null || true ;;
  esac
  sleep 0.5
done
say "node $host not idle after ${wait_seconds}s (state: ${st:-no answer}); logs: $state/slurmctld.log $state/slurmd.log"
exit 1
