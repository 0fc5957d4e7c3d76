use constnorm::{normalize, Layer};

#[normalize(batch, dims = 2, dtype = f64)]
struct Bn;

fn main() {
    let layer = Bn::new();
    let x = [[1.0_f32, 2.0], [3.0, 4.0]];
    let _ = layer.forward_eval_array(&x);
}
