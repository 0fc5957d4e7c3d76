use constnorm::{normalize, Layer};

#[normalize(batch, dims = 3)]
struct Bn;

fn main() {
    let mut layer = Bn::new();
    let x = [[1.0_f32, 2.0, 3.0]];
    let _ = layer.forward_train_array(&x);
}
