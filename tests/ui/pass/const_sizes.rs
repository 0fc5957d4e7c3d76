//! Sizes may be named constants and const expressions.
use constnorm::{normalize, Layer, Normalization};

const HIDDEN: usize = 16;
const SEQ: usize = 3;
const D: usize = 4;
const C: usize = 8;
const G: usize = 2;
const H: usize = 2;
const W: usize = 3;

const fn double(n: usize) -> usize {
    2 * n
}

#[normalize(layer, dims = HIDDEN)]
struct Hidden;

#[normalize(layer, dims = [SEQ, 2 * D], bias = false)]
struct Tokens;

#[normalize(rms, dims = double(D))]
struct Rms;

#[normalize(batch, dims = C, spatial = [H, W], momentum = none)]
struct Bn2d;

#[normalize(batch, dims = C)]
struct Bn1d;

#[normalize(group, dims = C, groups = G, spatial = W)]
struct Gn;

#[normalize(instance, dims = C, spatial = [H, 2], track_running_stats = true)]
struct In2d;

fn rows<N: Normalization>() -> usize {
    <N::Row as constnorm::Row>::LEN
}

fn main() {
    let _: [f32; 16] = Hidden::new().weight;
    let _: [[f32; 8]; 3] = Tokens::new().weight;
    let _: [f32; 8] = Rms::new().weight;
    let _: [[[f32; 3]; 2]; 8] = [[[0.0; 3]; 2]; 8];
    assert_eq!(Hidden::DIMS, 16);
    assert_eq!(Tokens::DIMS, [3, 8]);
    assert_eq!(Bn2d::SPATIAL, [2, 3]);
    assert_eq!(Bn2d::SPATIAL_SIZE, 6);
    assert_eq!(Gn::GROUPS, 2);
    assert_eq!(In2d::SPATIAL_SIZE, 4);
    assert_eq!(rows::<Bn2d>(), 48);
    assert_eq!(rows::<Gn>(), 24);
    // Batch norm with 6 values per channel trains on one row; without
    // spatial dims it needs two.
    assert_eq!(<Bn2d as Layer>::MIN_TRAIN_ROWS, 1);
    assert_eq!(<Bn1d as Layer>::MIN_TRAIN_ROWS, 2);
    let mut gn = Gn::new();
    let x = [[[1.0_f32, 2.0, 4.0]; C]; 2];
    let (y, _) = gn.forward_train_array(&x);
    assert!(y[0][0][0] < 0.0 && y[0][0][2] > 0.0);
}
