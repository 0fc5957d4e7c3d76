//! What the studies' examples (`batch_vs_layer`, `sequence`) share: an
//! epoch of training, the mean and spread over seeds, and the plot rows of
//! curves, one panel per batch size.

use constnorm::nn::cross_entropy;
use constnorm::{Gradients, Network, Row};
use plotters::prelude::*;
use std::path::PathBuf;

/// One curve: its legend, its color and its points (epoch, value).
pub type Curve = (&'static str, RGBColor, Vec<(usize, f64)>);

/// The mean and the sample standard deviation.
pub fn mean_std(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let values: Vec<f64> = values.collect();
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

/// The mean over seeds of `value(run, epoch)`, per epoch from 1.
pub fn mean_curve<R>(
    runs: &[R],
    epochs: usize,
    value: impl Fn(&R, usize) -> f64,
) -> Vec<(usize, f64)> {
    (0..epochs)
        .map(|e| (e + 1, mean_std(runs.iter().map(|r| value(r, e))).0))
        .collect()
}

/// A titled row of panels, one per batch size, each with the curves
/// `curves(batch)` over `epochs` and the given y range.
pub fn row(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    title: &str,
    batches: &[usize],
    (epochs, y_range, y_desc): (usize, std::ops::Range<f64>, &str),
    curves: impl Fn(usize) -> Vec<Curve>,
) -> Result<(), Box<dyn std::error::Error>> {
    let (title_area, panels) = area.split_vertically(40);
    title_area.titled(title, ("sans-serif", 22))?;
    for (panel, &batch) in panels.split_evenly((1, batches.len())).iter().zip(batches) {
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("batch size {batch}"), ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(45)
            .build_cartesian_2d(1..epochs, y_range.clone())?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(y_desc)
            .label_style(("sans-serif", 13))
            .draw()?;
        for (norm, color, curve) in curves(batch) {
            chart
                .draw_series(LineSeries::new(curve, color.stroke_width(2)))?
                .label(norm)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        if batch != batches[0] {
            continue;
        }
        // One legend per row, in the first panel's corner its curves leave
        // free: accuracy rises and loss falls fast at the smallest batch.
        chart
            .configure_series_labels()
            .position(if y_desc == "loss" {
                SeriesLabelPosition::UpperRight
            } else {
                SeriesLabelPosition::LowerRight
            })
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()?;
    }
    Ok(())
}

/// One epoch: a training step (forward, cross-entropy, backward, then
/// `step`, the optimizer) on each batch of `B` examples of `train`, taken in
/// `order`; returns the summed loss and the number of steps. Every study
/// trains with it.
pub fn train_epoch<N, const B: usize, const C: usize>(
    net: &mut N,
    workspace: &mut N::Workspace<B>,
    grads: &mut N::Grads,
    train: &[(N::Input, usize)],
    order: &[usize],
    mut step: impl FnMut(&mut N, &N::Grads),
) -> (f64, usize)
where
    N: Network<Scalar = f32, Output = [f32; C]>,
{
    let mut x = [<N::Input as Row>::ZERO; B];
    let (mut targets, mut dlogits) = ([0; B], [[0.0; C]; B]);
    let (mut total, mut batches) = (0.0, 0);
    for chunk in order.chunks_exact(B) {
        for ((x, t), &i) in x.iter_mut().zip(&mut targets).zip(chunk) {
            (*x, *t) = train[i];
        }
        let logits = net.forward_train(&x, workspace).expect("constant sizes");
        let loss = cross_entropy(logits, &targets, &mut dlogits).expect("valid targets");
        grads.set_zero();
        net.backward(&x, workspace, &dlogits, grads)
            .expect("after a forward pass");
        step(net, grads);
        total += f64::from(loss);
        batches += 1;
    }
    (total, batches)
}

/// Where a study draws its picture, `target/<name>`, with the folder made
/// and the bundled font registered for plotters.
pub fn picture(name: &str) -> Result<PathBuf, Box<dyn std::error::Error>> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
        .map_err(|_| "the bundled DejaVu Sans font did not load")?;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&dir)?;
    Ok(dir.join(name))
}
