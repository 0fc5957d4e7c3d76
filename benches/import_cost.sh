#!/usr/bin/env bash
# The importer's cost per model: the time to import (constnorm-onnx, release)
# and the time to build the generated crate in release once constnorm itself
# is built (the crate alone: its #[network] expansion and the kernels it
# instantiates). Run from the repository root; prints a Markdown table.
set -euo pipefail
out=${OUT:-/tmp/constnorm-import-cost}
export CARGO_TARGET_DIR=$out/target
cargo build -q --release -p constnorm-onnx
bin=$CARGO_TARGET_DIR/release/constnorm-onnx
models=(
  "ad benches/data/mlperf_tiny/ad.onnx"
  "kws benches/data/mlperf_tiny/kws.onnx"
  "ic benches/data/mlperf_tiny/ic.onnx"
  "vww benches/data/mlperf_tiny/vww.onnx"
  "ppocr_cls models/ppocr_cls/ch_ppocr_mobile_v2.0_cls_infer.onnx --input x=3x48x192"
)
echo "| model | layers | import | release build of the generated crate |"
echo "|---|---:|---:|---:|"
for m in "${models[@]}"; do
  set -- $m
  name=$1; file=$2; shift 2
  rm -rf "$out/$name"
  start=$(date +%s.%N)
  layers=$("$bin" import "$file" --out "$out/$name" --name "$name" --constnorm "$PWD" "$@" | sed -E 's/.*: ([0-9]+) layers.*/\1/')
  import=$(echo "$(date +%s.%N) - $start" | bc)
  # constnorm and its dependencies first, then the crate alone.
  (cd "$out/$name" && cargo build -q --release --lib 2>/dev/null || true)
  touch "$out/$name/src/lib.rs"
  start=$(date +%s.%N)
  (cd "$out/$name" && cargo build -q --release --lib)
  build=$(echo "$(date +%s.%N) - $start" | bc)
  printf "| %s | %s | %.0f ms | %.1f s |\n" "$name" "$layers" "$(echo "$import * 1000" | bc)" "$build"
done
