//! The shortest forms, with every default.
use constnorm::{normalize, Layer as _};

#[normalize(layer, dims = 3)]
struct Ln;

#[normalize(batch, dims = 2)]
struct Bn;

fn main() {
    assert_eq!(Ln::DIMS, 3);
    assert_eq!(Ln::EPS, 1e-5);
    assert_eq!(Bn::MOMENTUM, Some(0.1));
    let _: [f32; 3] = Ln::new().weight;
    let _: u64 = Bn::new().num_batches_tracked;
    let (y, _) = Ln::new().forward_eval_array(&[[1.0, 2.0, 3.0]]);
    assert_eq!(y.len(), 1);
}
