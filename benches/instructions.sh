#!/usr/bin/env bash
# Instructions per call of the tiny norm workloads (benches/instructions.rs),
# generated and hand-written, under callgrind: (count at 2000 calls - count
# at 1000 calls) / 1000.
#
#   bash benches/instructions.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(cargo bench --bench instructions --no-run --message-format=json 2>/dev/null \
  | grep -o '"executable":"[^"]*instructions[^"]*"' | cut -d'"' -f4 | tail -1)
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 \
    | awk '/Collected/ {print $4}'
}
printf '%-34s %10s %10s %7s\n' workload generated hand ratio
for w in layernorm_fwd_1x3 layernorm_fwd_bwd_1x3 layernorm_fwd_32x16 layernorm_fwd_bwd_32x16 \
  batchnorm_train_fwd_2x16 batchnorm_train_fwd_bwd_2x16 batchnorm_train_fwd_32x16 \
  batchnorm_train_fwd_bwd_32x16; do
  g=$(( ($(count "$w/generated" 2000) - $(count "$w/generated" 1000)) / 1000 ))
  h=$(( ($(count "$w/hand" 2000) - $(count "$w/hand" 1000)) / 1000 ))
  printf '%-34s %10d %10d %6.2fx\n' "$w" "$g" "$h" "$(echo "$g / $h" | bc -l)"
done
