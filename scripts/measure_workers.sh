#!/usr/bin/env bash
# Two processes × 1 thread against one process × 2 threads, on this machine, for training and for a
# sweep (the choice `paper --workers 2` makes). Interleaved rounds (processes, threads, processes, …)
# so both sides see the same load; prints each round and the median ratio with its range.
#   scripts/measure_workers.sh [ROUNDS] [CAMAUDIT]
set -euo pipefail
rounds=${1:-3}
exe=${2:-.build/release/camaudit}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$exe" synth --out "$tmp/d" --count 150 --size 64 --seed 1 >/dev/null 2>&1
data="$tmp/d/manifest.csv"
train() {  # ARCH THREADS OUT
  "$exe" train --model "$1" --data "$data" --out "$3" --image-size 64 --epochs 1 --batch-size 8 --threads "$2" --quiet --overwrite >/dev/null 2>&1
}
sweep() {  # WORKERS THREADS OUT
  "$exe" evaluate --model resnet50,efficientnet_b0 --data "$data" --methods gradcam --metrics locacc,faith \
    --image-size 64 --workers "$1" --threads "$2" --out "$3" >/dev/null 2>&1
}
now() { date +%s.%N; }
: > "$tmp/times"
for r in $(seq 1 "$rounds"); do
  t0=$(now); train resnet50 1 "$tmp/p/a$r.safetensors" & train efficientnet_b0 1 "$tmp/p/b$r.safetensors" & wait; t1=$(now)
  train resnet50 2 "$tmp/t/a$r.safetensors"; train efficientnet_b0 2 "$tmp/t/b$r.safetensors"; t2=$(now)
  sweep 2 1 "$tmp/sp$r"; t3=$(now)
  sweep 1 2 "$tmp/st$r"; t4=$(now)
  echo "$r $t0 $t1 $t2 $t3 $t4" >> "$tmp/times"
done
python3 - "$tmp/times" <<'EOF'
import sys, statistics
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
# Columns: round, then the clock before and after each of the four timed steps.
for name, a, b in (("training (resnet50 + efficientnet_b0, 64 px, 1 epoch of 90 images)", 2, 3),
                   ("sweep (2 architectures × 30 test images, Grad-CAM, LocAcc and Faith)", 4, 5)):
    ratios = []
    print(name)
    for r in rows:
        procs, threads = r[a] - r[a - 1], r[b] - r[b - 1]
        ratios.append(threads / procs)
        print(f"  round {int(r[0])}: 2 processes × 1 thread {procs:6.1f} s   1 process × 2 threads {threads:6.1f} s   ratio {threads / procs:.2f}")
    print(f"  median (1×2 time) / (2×1 time) = {statistics.median(ratios):.2f}  (range {min(ratios):.2f}–{max(ratios):.2f}; > 1: processes are faster)")
EOF
