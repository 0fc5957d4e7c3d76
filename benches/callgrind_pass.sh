#!/bin/sh
# Usage: benches/callgrind_pass.sh BINARY 32x16|256x64 [N1 N2], with BINARY
# the release build of examples/bn_train_loop.rs (see BENCHMARKS.md,
# "Reliability").
# Instructions of one batch-norm training forward pass: callgrind's total
# for N2 passes minus the total for N1 passes, over N2 - N1.
set -e
bin=$1; size=$2; n1=${3:-200}; n2=${4:-1200}
ir() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$size" "$1" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'; }
a=$(ir $n1); b=$(ir $n2)
echo "$bin $size: $(( (b - a) / (n2 - n1) )) instructions per pass"
