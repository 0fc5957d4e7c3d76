use constnorm::{normalize, Layer};

// spatial = 1 leaves one value per channel in a batch of 1.
#[normalize(batch, dims = 2, spatial = 1)]
struct Bn;

fn main() {
    let mut layer = Bn::new();
    let _ = layer.forward_train_array(&[[[1.0_f32], [2.0]]]);
}
