#!/usr/bin/env bash
# Build time of a crate with 64 #[normalize] layers against the same crate
# with 64 hand-written const-generic layers (32 layer norm, 32 batch norm,
# each used in a training step so its code is instantiated). Times a release
# rebuild of that crate alone (dependencies already built), best of 3.
#
#   bash benches/compile_cost.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${TMPDIR:-/tmp}/constnorm-compile-cost
rm -rf "$work"
mkdir -p "$work/generated/src" "$work/handwritten/src"
export CARGO_TARGET_DIR="$work/target"

cat > "$work/generated/Cargo.toml" <<TOML
[package]
name = "cost-generated"
version = "0.0.0"
edition = "2024"
[dependencies]
constnorm = { path = "$root" }
TOML

cat > "$work/handwritten/Cargo.toml" <<TOML
[package]
name = "cost-handwritten"
version = "0.0.0"
edition = "2024"
[dependencies]
TOML

{
  echo 'use constnorm::{normalize, Normalization};'
  echo 'fn step<L: Normalization>(l: &mut L, x: &[L::Row]) -> usize {'
  echo '    let mut y = x.to_vec();'
  echo '    let s = l.forward_train(x, &mut y).unwrap();'
  echo '    let mut dx = y.clone();'
  echo '    let mut g = L::Grads::default();'
  echo '    l.backward(x, &s, &y, &mut dx, &mut g).unwrap();'
  echo '    dx.len()'
  echo '}'
  for i in $(seq 1 32); do
    d=$((i * 8))
    echo "#[normalize(layer, dims = $d)] pub struct Ln$i;"
    echo "#[normalize(batch, dims = $d)] pub struct Bn$i;"
  done
  echo 'pub fn run() -> usize { let mut n = 0;'
  for i in $(seq 1 32); do
    d=$((i * 8))
    echo "  n += step(&mut Ln$i::new(), &[[0.5_f32; $d]; 4]);"
    echo "  n += step(&mut Bn$i::new(), &[[0.5_f32; $d]; 4]);"
  done
  echo '  n }'
} > "$work/generated/src/lib.rs"

{
  cat <<'RS'
//! Hand-written const-generic layer and batch norm, forward and backward.
pub struct LayerNorm<const D: usize> { pub weight: [f32; D], pub bias: [f32; D] }
pub struct BatchNorm<const C: usize> {
    pub weight: [f32; C], pub bias: [f32; C], pub running_mean: [f32; C], pub running_var: [f32; C],
}
fn moments(x: &[f32]) -> (f32, f32) {
    let n = x.len() as f32;
    let mean = x.iter().sum::<f32>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, 1.0 / (var + 1e-5).sqrt())
}
impl<const D: usize> LayerNorm<D> {
    pub fn new() -> Self { Self { weight: [1.0; D], bias: [0.0; D] } }
    pub fn forward(&self, x: &[[f32; D]], y: &mut [[f32; D]]) {
        for (xr, yr) in x.iter().zip(y.iter_mut()) {
            let (m, r) = moments(xr);
            for i in 0..D { yr[i] = (xr[i] - m) * r * self.weight[i] + self.bias[i]; }
        }
    }
    pub fn backward(&self, x: &[[f32; D]], dy: &[[f32; D]], dx: &mut [[f32; D]], dw: &mut [f32; D], db: &mut [f32; D]) {
        for ((xr, dyr), dxr) in x.iter().zip(dy).zip(dx.iter_mut()) {
            let (m, r) = moments(xr);
            let (mut sg, mut sgx) = (0.0, 0.0);
            for i in 0..D { let g = dyr[i] * self.weight[i]; sg += g; sgx += g * (xr[i] - m) * r; }
            for i in 0..D {
                let xh = (xr[i] - m) * r;
                dxr[i] = r * (dyr[i] * self.weight[i] - sg / D as f32 - xh * sgx / D as f32);
                dw[i] += dyr[i] * xh; db[i] += dyr[i];
            }
        }
    }
}
impl<const C: usize> BatchNorm<C> {
    pub fn new() -> Self { Self { weight: [1.0; C], bias: [0.0; C], running_mean: [0.0; C], running_var: [1.0; C] } }
    pub fn forward(&mut self, x: &[[f32; C]], y: &mut [[f32; C]]) -> ([f32; C], [f32; C]) {
        let n = x.len() as f32;
        let (mut mean, mut var, mut inv) = ([0.0; C], [0.0; C], [0.0; C]);
        for r in x { for c in 0..C { mean[c] += r[c]; } }
        for c in 0..C { mean[c] /= n; }
        for r in x { for c in 0..C { var[c] += (r[c] - mean[c]) * (r[c] - mean[c]); } }
        for c in 0..C { var[c] /= n; inv[c] = 1.0 / (var[c] + 1e-5).sqrt(); }
        for (xr, yr) in x.iter().zip(y.iter_mut()) {
            for c in 0..C { yr[c] = (xr[c] - mean[c]) * inv[c] * self.weight[c] + self.bias[c]; }
        }
        for c in 0..C {
            self.running_mean[c] = 0.9 * self.running_mean[c] + 0.1 * mean[c];
            self.running_var[c] = 0.9 * self.running_var[c] + 0.1 * var[c] * n / (n - 1.0);
        }
        (mean, inv)
    }
    pub fn backward(&self, x: &[[f32; C]], mean: &[f32; C], inv: &[f32; C], dy: &[[f32; C]], dx: &mut [[f32; C]], dw: &mut [f32; C], db: &mut [f32; C]) {
        let n = x.len() as f32;
        let (mut sdy, mut sdyx) = ([0.0; C], [0.0; C]);
        for (xr, dyr) in x.iter().zip(dy) { for c in 0..C { sdy[c] += dyr[c]; sdyx[c] += dyr[c] * (xr[c] - mean[c]) * inv[c]; } }
        for ((xr, dyr), dxr) in x.iter().zip(dy).zip(dx.iter_mut()) {
            for c in 0..C {
                let xh = (xr[c] - mean[c]) * inv[c];
                dxr[c] = self.weight[c] * inv[c] * (dyr[c] - sdy[c] / n - xh * sdyx[c] / n);
            }
        }
        for c in 0..C { dw[c] += sdyx[c]; db[c] += sdy[c]; }
    }
}
pub fn run() -> usize { let mut n = 0;
RS
  for i in $(seq 1 32); do
    d=$((i * 8))
    echo "  { let l = LayerNorm::<$d>::new(); let x = [[0.5_f32; $d]; 4]; let mut y = x; l.forward(&x, &mut y);"
    echo "    let (mut dx, mut dw, mut db) = (x, [0.0; $d], [0.0; $d]); l.backward(&x, &y, &mut dx, &mut dw, &mut db); n += dx.len(); }"
    echo "  { let mut l = BatchNorm::<$d>::new(); let x = [[0.5_f32; $d]; 4]; let mut y = x; let (m, v) = l.forward(&x, &mut y);"
    echo "    let (mut dx, mut dw, mut db) = (x, [0.0; $d], [0.0; $d]); l.backward(&x, &m, &v, &y, &mut dx, &mut dw, &mut db); n += dx.len(); }"
  done
  echo '  n }'
} > "$work/handwritten/src/lib.rs"

time_build() {
  local dir=$1 best=
  (cd "$dir" && cargo build --release -q)
  for _ in 1 2 3; do
    touch "$dir/src/lib.rs"
    local start end
    start=$(date +%s.%N)
    (cd "$dir" && cargo build --release -q)
    end=$(date +%s.%N)
    local t
    t=$(echo "$end - $start" | bc)
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; fi
  done
  echo "$best"
}

# `LLVM_LINES=1`: instead of timing, the lines of LLVM IR of each crate and
# their top contributors (cargo-llvm-lines: `cargo install cargo-llvm-lines`).
if [ "${LLVM_LINES:-0}" = 1 ]; then
  for crate in generated handwritten; do
    echo "== $crate"
    (cd "$work/$crate" && cargo llvm-lines --release --lib 2>/dev/null | head -${LLVM_LINES_TOP:-25})
  done
  exit 0
fi

gen=$(time_build "$work/generated")
hand=$(time_build "$work/handwritten")
echo "64 #[normalize] layers:             ${gen} s"
echo "64 hand-written const-generic layers: ${hand} s"
echo "ratio: $(echo "scale=2; $gen / $hand" | bc)x"
echo "generated crate: $(wc -l < "$work/generated/src/lib.rs") source lines; hand-written: $(wc -l < "$work/handwritten/src/lib.rs")"
