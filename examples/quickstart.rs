//! Both kinds of normalization on one small batch: outputs, gradients, and
//! what batch norm keeps for inference.
//!
//! Run with `cargo run --release --example quickstart`.

use constnorm::{AffineGrads, Layer as _, normalize};

/// Layer norm: each example normalized over its own 4 features.
#[normalize(layer, dims = 4)]
struct FeatureNorm;

/// Batch norm: each feature normalized over the batch.
#[normalize(batch, dims = 4, momentum = 0.1)]
struct FeatureBn;

fn show(title: &str, rows: &[[f32; 4]]) {
    println!("{title}");
    for row in rows {
        let cells: Vec<String> = row.iter().map(|v| format!("{v:>8.4}")).collect();
        println!("  [{}]", cells.join(", "));
    }
}

fn main() -> Result<(), constnorm::NormError> {
    // A batch of 3 examples with 4 features on very different scales.
    let x = [
        [1.0, 200.0, -3.0, 0.5],
        [2.0, 180.0, -1.0, 0.7],
        [4.0, 260.0, -2.0, 0.6],
    ];
    // The upstream gradient: here, the loss is y[0][0] + y[1][1] + y[2][2].
    let dy = [
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
    ];
    show("input x (3 examples x 4 features)", &x);

    println!("\n== layer norm: every row gets mean 0 and variance 1 on its own");
    let ln = FeatureNorm::new();
    let (y, saved) = ln.forward_eval_array(&x);
    show("y", &y);
    let mut grads = AffineGrads::default();
    let dx = ln.backward_array(&x, &saved, &dy, &mut grads)?;
    show("dx", &dx);
    println!("  dweight {:?}\n  dbias   {:?}", grads.weight, grads.bias);

    println!("\n== batch norm: every feature (column) gets mean 0 and variance 1 over the batch");
    let mut bn = FeatureBn::new();
    let (y, saved) = bn.forward_train_array(&x);
    show("y (training)", &y);
    let mut grads = AffineGrads::default();
    let dx = bn.backward_array(&x, &saved, &dy, &mut grads)?;
    show("dx", &dx);
    println!("  dweight {:?}\n  dbias   {:?}", grads.weight, grads.bias);
    println!(
        "  running_mean {:?}\n  running_var  {:?}\n  num_batches_tracked {}",
        bn.running_mean, bn.running_var, bn.num_batches_tracked
    );

    println!("\n== inference on a single example");
    let one = [[3.0, 220.0, -2.0, 0.6]];
    let (y_ln, _) = ln.forward_eval_array(&one);
    let (y_bn, _) = bn.forward_eval_array(&one);
    show("layer norm (uses the example's own statistics)", &y_ln);
    show("batch norm (uses the running statistics)", &y_bn);
    println!(
        "  after one batch at momentum 0.1 the running statistics are still mostly their\n  \
         initial values (mean 0, variance 1), so batch norm's inference output is not yet\n  \
         normalized: it needs many training batches before inference is calibrated."
    );

    let mut y1 = [[0.0; 4]];
    match bn.forward_train(&one, &mut y1) {
        Err(e) => println!("\nbatch norm refuses to train on one example: {e}"),
        Ok(_) => unreachable!("batch norm cannot train on one example"),
    }
    Ok(())
}
