use constnorm::{normalize, Layer};

#[normalize(layer, dims = 3)]
struct Ln;

fn main() {
    let layer = Ln::new();
    let x = [[1.0_f32, 2.0, 3.0, 4.0]];
    let mut y = [[0.0_f32; 3]];
    let _ = layer.forward_eval(&x, &mut y);
}
