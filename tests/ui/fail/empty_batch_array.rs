use constnorm::{normalize, Layer};

#[normalize(layer, dims = 3)]
struct Ln;

fn main() {
    let layer = Ln::new();
    let x: [[f32; 3]; 0] = [];
    let _ = layer.forward_eval_array(&x);
}
