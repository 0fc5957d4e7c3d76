use constnorm::{normalize, Layer};

// Without running statistics batch norm uses the batch's statistics in
// inference too, so a single row cannot be normalized there either.
#[normalize(batch, dims = 3, track_running_stats = false)]
struct Bn;

fn main() {
    let layer = Bn::new();
    let _ = layer.forward_eval_array(&[[1.0_f32, 2.0, 3.0]]);
}
