//! Batch norm vs layer norm vs no normalization, measured, in two studies.
//!
//! 1. An MLP (2 -> 32 -> 32 -> 2, ReLU) learns to tell two interleaved noisy
//!    spirals apart (two turns each), with a batch norm, a layer norm or
//!    nothing after each hidden `Linear`, at batch sizes 1, 2, 4, 16 and 128,
//!    five seeds each, with Adam.
//! 2. A CNN (`batch_vs_layer/cnn.rs`) learns the 1797 8x8 handwritten digits
//!    scikit-learn ships (`examples/data/`), with a batch norm, a group norm,
//!    a layer norm over (C, H, W) or nothing after each convolution, at batch
//!    sizes 2, 4, 16, 64 and 128 and two learning rates (SGD with momentum),
//!    three seeds each. `examples/batch_vs_layer_torch.py` runs the same
//!    experiment in PyTorch.
//!
//! In both, every run of a study sees the same number of examples (the same
//! epochs), so a larger batch takes fewer steps. It prints a table per study
//! (test accuracy mean and spread over the seeds, test loss, final training
//! loss, training steps per second) and draws the curves to a PNG whose path
//! it prints.
//!
//! ```text
//! cargo run --release --example batch_vs_layer
//! ```
//!
//! Batch norm is not trained at batch size 1: one example has no variance
//! per channel. Here that is a compile error (`forward_train` on a batch of
//! one checks `Network::MIN_TRAIN_ROWS` at compile time), so the table says
//! so instead.

use constnorm::nn::{Adam, Linear, Relu, cross_entropy, init_seeded};
use constnorm::{Network, network, normalize};
use indicatif::{ProgressBar, ProgressStyle};
use plotters::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[path = "batch_vs_layer/cnn.rs"]
mod cnn;
#[path = "shared/study.rs"]
mod study;

use study::{Curve, mean_curve, mean_std, row, train_epoch};

const HIDDEN: usize = 32;
const POINTS: usize = 2000;
const TEST: usize = 400;
const EPOCHS: usize = 40;
const SEEDS: [u64; 5] = [1, 2, 3, 4, 5];
const TURNS: f32 = 2.0;
const NOISE: f32 = 0.08;
const EVAL_BATCH: usize = 100;
const LEARNING_RATE: f32 = 3e-3;

#[normalize(batch, dims = HIDDEN)]
struct Bn;

#[normalize(layer, dims = HIDDEN)]
struct Ln;

#[network]
#[derive(Default)]
struct WithBatchNorm {
    fc1: Linear<2, HIDDEN>,
    norm1: Bn,
    act1: Relu<HIDDEN>,
    fc2: Linear<HIDDEN, HIDDEN>,
    norm2: Bn,
    act2: Relu<HIDDEN>,
    out: Linear<HIDDEN, 2>,
}

#[network]
#[derive(Default)]
struct WithLayerNorm {
    fc1: Linear<2, HIDDEN>,
    norm1: Ln,
    act1: Relu<HIDDEN>,
    fc2: Linear<HIDDEN, HIDDEN>,
    norm2: Ln,
    act2: Relu<HIDDEN>,
    out: Linear<HIDDEN, 2>,
}

#[network]
#[derive(Default)]
struct Plain {
    fc1: Linear<2, HIDDEN>,
    act1: Relu<HIDDEN>,
    fc2: Linear<HIDDEN, HIDDEN>,
    act2: Relu<HIDDEN>,
    out: Linear<HIDDEN, 2>,
}

/// Two interleaved spirals (`TURNS` turns each) with uniform noise, shuffled
/// with a fixed seed and split into training and test points.
struct Data {
    train: Vec<([f32; 2], usize)>,
    test: Vec<([f32; 2], usize)>,
}

fn spirals(seed: u64) -> Data {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut points: Vec<([f32; 2], usize)> = (0..POINTS)
        .map(|i| {
            let class = i % 2;
            let t: f32 = rng.random_range(0.1..1.0);
            let angle =
                t * TURNS * 2.0 * std::f32::consts::PI + class as f32 * std::f32::consts::PI;
            let noise = |rng: &mut StdRng| rng.random_range(-NOISE..NOISE);
            let x = t * angle.cos() + noise(&mut rng);
            let y = t * angle.sin() + noise(&mut rng);
            ([x, y], class)
        })
        .collect();
    points.shuffle(&mut rng);
    let test = points.split_off(POINTS - TEST);
    Data {
        train: points,
        test,
    }
}

/// One training run's results.
struct Run {
    /// Mean training loss of each epoch (training mode: batch norm uses each
    /// batch's statistics).
    epoch_losses: Vec<f64>,
    test_accuracy: f64,
    /// Cross-entropy on the test points in inference mode.
    test_loss: f64,
    steps: usize,
    train_time: Duration,
}

/// Trains a fresh `N` from `seed` for `EPOCHS` epochs of batches of `B`.
fn run<N, const B: usize>(seed: u64, data: &Data, progress: &ProgressBar) -> Run
where
    N: Network<Scalar = f32, Input = [f32; 2], Output = [f32; 2]> + Default,
{
    let mut net = N::default();
    init_seeded(&mut net, seed);
    let mut workspace: Box<N::Workspace<B>> = Box::default();
    let mut grads = N::Grads::default();
    let mut adam = Adam::new(LEARNING_RATE);
    let mut order: Vec<usize> = (0..data.train.len()).collect();
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let mut epoch_losses = Vec::with_capacity(EPOCHS);
    let mut steps = 0;
    let mut train_time = Duration::ZERO;
    for _ in 0..EPOCHS {
        order.shuffle(&mut rng);
        let start = Instant::now();
        let (total, batches) = train_epoch::<N, B, 2>(
            &mut net,
            &mut workspace,
            &mut grads,
            &data.train,
            &order,
            |net, grads| adam.step(net, grads),
        );
        train_time += start.elapsed();
        steps += batches;
        epoch_losses.push(total / batches as f64);
        progress.inc(1);
    }
    let (test_accuracy, test_loss) = evaluate(&net, &data.test);
    Run {
        epoch_losses,
        test_accuracy,
        test_loss,
        steps,
        train_time,
    }
}

/// Share of `points` classified right and the mean cross-entropy, in
/// inference mode (batch norm uses its running statistics).
fn evaluate<N: Network<Scalar = f32, Input = [f32; 2], Output = [f32; 2]>>(
    net: &N,
    points: &[([f32; 2], usize)],
) -> (f64, f64) {
    let mut workspace: Box<N::Workspace<EVAL_BATCH>> = Box::default();
    let (mut right, mut loss) = (0, 0.0);
    let mut grad = [[0.0; 2]; EVAL_BATCH];
    for chunk in points.chunks_exact(EVAL_BATCH) {
        let x: [[f32; 2]; EVAL_BATCH] = std::array::from_fn(|i| chunk[i].0);
        let targets: [usize; EVAL_BATCH] = std::array::from_fn(|i| chunk[i].1);
        let y = net
            .forward_eval(&x, &mut workspace)
            .expect("constant sizes");
        loss += f64::from(cross_entropy(y, &targets, &mut grad).expect("valid targets"));
        right += y
            .iter()
            .zip(chunk)
            .filter(|(logits, (_, class))| usize::from(logits[1] > logits[0]) == *class)
            .count();
    }
    let batches = (points.len() / EVAL_BATCH) as f64;
    (right as f64 / points.len() as f64, loss / batches)
}

/// One row of the table: a normalization at a batch size, over the seeds.
struct Config {
    norm: &'static str,
    batch: usize,
    runs: Vec<Run>,
}

/// Runs every seed of one configuration.
fn config<N, const B: usize>(norm: &'static str, data: &Data, progress: &ProgressBar) -> Config
where
    N: Network<Scalar = f32, Input = [f32; 2], Output = [f32; 2]> + Default,
{
    progress.set_message(format!("{norm}, batch {B}"));
    let runs = SEEDS
        .iter()
        .map(|&seed| run::<N, B>(seed, data, progress))
        .collect();
    Config {
        norm,
        batch: B,
        runs,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = spirals(2026);
    println!(
        "Two spirals: {} training and {} test points; MLP 2-{HIDDEN}-{HIDDEN}-2 with ReLU; \
         Adam (lr {LEARNING_RATE}), {EPOCHS} epochs, seeds {SEEDS:?}.\n",
        data.train.len(),
        data.test.len()
    );
    const CONFIGS: u64 = 14;
    let progress = ProgressBar::new(CONFIGS * SEEDS.len() as u64 * EPOCHS as u64);
    progress.set_style(ProgressStyle::with_template(
        "{bar:40} {pos}/{len} epochs, {elapsed} [{msg}]",
    )?);
    let started = Instant::now();
    let configs = vec![
        config::<WithLayerNorm, 1>("layer norm", &data, &progress),
        config::<Plain, 1>("none", &data, &progress),
        config::<WithBatchNorm, 2>("batch norm", &data, &progress),
        config::<WithLayerNorm, 2>("layer norm", &data, &progress),
        config::<Plain, 2>("none", &data, &progress),
        config::<WithBatchNorm, 4>("batch norm", &data, &progress),
        config::<WithLayerNorm, 4>("layer norm", &data, &progress),
        config::<Plain, 4>("none", &data, &progress),
        config::<WithBatchNorm, 16>("batch norm", &data, &progress),
        config::<WithLayerNorm, 16>("layer norm", &data, &progress),
        config::<Plain, 16>("none", &data, &progress),
        config::<WithBatchNorm, 128>("batch norm", &data, &progress),
        config::<WithLayerNorm, 128>("layer norm", &data, &progress),
        config::<Plain, 128>("none", &data, &progress),
    ];
    progress.finish_and_clear();
    assert_eq!(configs.len() as u64, CONFIGS);

    println!(
        "| normalization | batch | test accuracy (mean ± sd) | test loss | final train loss | steps/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    println!(
        "| batch norm | 1 | not trained: one example has no variance per channel (a compile error) | | | |"
    );
    for c in &configs {
        let (acc, acc_sd) = mean_std(c.runs.iter().map(|r| r.test_accuracy * 100.0));
        let (loss, _) = mean_std(c.runs.iter().map(|r| r.epoch_losses[EPOCHS - 1]));
        let (test_loss, _) = mean_std(c.runs.iter().map(|r| r.test_loss));
        let steps: usize = c.runs.iter().map(|r| r.steps).sum();
        let time: f64 = c.runs.iter().map(|r| r.train_time.as_secs_f64()).sum();
        println!(
            "| {} | {} | {acc:.1}% ± {acc_sd:.1} | {test_loss:.3} | {loss:.3} | {:.0} |",
            c.norm,
            c.batch,
            steps as f64 / time
        );
    }
    let cnn_configs = cnn_study()?;
    let path = plot(&configs, &cnn_configs)?;
    println!("\nCurves (mean over seeds): {}", path.display());
    println!("Total time: {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Draws the MLP's training-loss curves and the CNN's test-accuracy and
/// training-loss curves, one panel per batch size, to
/// `target/batch_vs_layer.png`.
fn plot(mlp: &[Config], cnn: &[cnn::Config]) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let path = study::picture("batch_vs_layer.png")?;
    draw(mlp, cnn, &path)?;
    Ok(path)
}

const COLORS: [(&str, RGBColor); 4] = [
    ("batch norm", RED),
    ("group norm", GREEN),
    ("layer norm", BLUE),
    ("none", BLACK),
];

fn draw(
    mlp: &[Config],
    cnn: &[cnn::Config],
    path: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::new(path, (1500, 2150)).into_drawing_area();
    root.fill(&WHITE)?;
    let rows = root.split_evenly((5, 1));
    let mlp_batches = [1, 2, 4, 16, 128];
    let max_loss = mlp
        .iter()
        .flat_map(|c| c.runs.iter().flat_map(|r| r.epoch_losses.iter().copied()))
        .fold(0.0, f64::max)
        .min(1.0);
    row(
        &rows[0],
        &format!(
            "MLP on two spirals: training loss per epoch (Adam, training mode, mean of {} seeds)",
            SEEDS.len()
        ),
        &mlp_batches,
        (EPOCHS, 0.0..max_loss, "loss"),
        |batch| {
            COLORS
                .iter()
                .filter_map(|&(norm, color)| {
                    let c = mlp.iter().find(|c| c.norm == norm && c.batch == batch)?;
                    let curve = mean_curve(&c.runs, EPOCHS, |r, e| r.epoch_losses[e]);
                    Some((norm, color, curve))
                })
                .collect()
        },
    )?;
    for (i, lr) in [cnn::LEARNING_RATE, cnn::HIGH_LEARNING_RATE]
        .into_iter()
        .enumerate()
    {
        let curves = |batch: usize, value: fn(&cnn::Run, usize) -> f64| -> Vec<Curve> {
            COLORS
                .iter()
                .filter_map(|&(norm, color)| {
                    let c = cnn
                        .iter()
                        .find(|c| c.norm == norm && c.batch == batch && c.lr == lr)?;
                    Some((norm, color, mean_curve(&c.runs, cnn::EPOCHS, value)))
                })
                .collect()
        };
        let seeds = cnn::SEEDS.len();
        row(
            &rows[1 + 2 * i],
            &format!(
                "CNN on 8x8 digits, SGD lr {lr}: test accuracy after each epoch (inference mode, mean of {seeds} seeds)"
            ),
            &cnn::BATCHES,
            (cnn::EPOCHS, 0.0..1.0, "test accuracy"),
            |batch| curves(batch, |r, e| r.epoch_accuracy[e]),
        )?;
        row(
            &rows[2 + 2 * i],
            &format!(
                "CNN on 8x8 digits, SGD lr {lr}: training loss per epoch (training mode, mean of {seeds} seeds)"
            ),
            &cnn::BATCHES,
            (cnn::EPOCHS, 0.0..2.4, "loss"),
            |batch| curves(batch, |r, e| r.epoch_losses[e]),
        )?;
    }
    root.present()?;
    Ok(())
}

/// Runs the CNN study on the digits and prints its table.
fn cnn_study() -> Result<Vec<cnn::Config>, Box<dyn std::error::Error>> {
    let digits = cnn::digits()?;
    println!(
        "\nDigits (8x8, scikit-learn): {} training and {} test images; CNN conv(1->{c1}, 3x3) - norm - ReLU - max pool 2 - \
         conv({c1}->{c2}, 3x3) - norm - ReLU - global average pool - linear({c2}->10); \
         SGD (momentum {m}) at lr {lr} and {hi}, {e} epochs, seeds {s:?}.\n",
        digits.train.len(),
        digits.test.len(),
        c1 = cnn::C1,
        c2 = cnn::C2,
        m = cnn::MOMENTUM,
        lr = cnn::LEARNING_RATE,
        hi = cnn::HIGH_LEARNING_RATE,
        e = cnn::EPOCHS,
        s = cnn::SEEDS,
    );
    let progress = ProgressBar::new((cnn::CONFIGS * cnn::SEEDS.len() * cnn::EPOCHS) as u64);
    progress.set_style(ProgressStyle::with_template(
        "{bar:40} {pos}/{len} epochs, {elapsed} [{msg}]",
    )?);
    let configs = cnn::study(&digits, &progress);
    progress.finish_and_clear();
    println!(
        "| normalization | batch | lr | test accuracy (mean ± sd) | test loss | final train loss | steps/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for c in &configs {
        let (acc, acc_sd) = mean_std(
            c.runs
                .iter()
                .map(|r| r.epoch_accuracy[cnn::EPOCHS - 1] * 100.0),
        );
        let (loss, _) = mean_std(c.runs.iter().map(|r| r.epoch_losses[cnn::EPOCHS - 1]));
        let (test_loss, _) = mean_std(c.runs.iter().map(|r| r.test_loss));
        let steps: usize = c.runs.iter().map(|r| r.steps).sum();
        let time: f64 = c.runs.iter().map(|r| r.train_time.as_secs_f64()).sum();
        println!(
            "| {} | {} | {} | {acc:.1}% ± {acc_sd:.1} | {test_loss:.3} | {loss:.3} | {:.0} |",
            c.norm,
            c.batch,
            c.lr,
            steps as f64 / time
        );
    }
    Ok(configs)
}
