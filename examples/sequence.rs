//! Batch norm vs layer norm in a recurrent network, on real recordings.
//!
//! JapaneseVowels (UCI, via the UEA archive; `examples/data/`): nine
//! speakers say the vowel /ae/; each recording is 25 frames of 12 LPC
//! cepstrum coefficients, and the task is who speaks (270 training and 370
//! test recordings). A GRU with 32 hidden units reads the 25 frames and a
//! `Linear` classifies its last hidden state, with
//!
//! - no normalization,
//! - layer norm inside the cell (`LnGru`: every gate's input normalized per
//!   example and step, after Ba, Kiros and Hinton 2016),
//! - layer norm on the GRU's outputs (`LayerNorm(32)` on the last state),
//! - batch norm at every time step (`PerStep<BatchNorm1d(32)>` on the GRU's
//!   outputs: PyTorch's "sequence-wise" batch norm, statistics over batch and
//!   time; running averages at inference),
//!
//! at batch sizes 1, 4, 16 and 64, three seeds each, with Adam; every run
//! sees the same number of examples (the same epochs). It prints a table
//! (test accuracy mean and spread, test loss, final training loss, training
//! steps per second), the streaming latency of one recurrent step at batch
//! size 1 (a recording fed frame by frame, state kept by the caller, checked
//! to give the whole-sequence pass's predictions), and draws the curves to a
//! PNG whose path it prints. `examples/sequence_torch.py` runs the same
//! experiment in PyTorch.
//!
//! ```text
//! cargo run --release --example sequence
//! ```

use constnorm::nn::{
    Adam, Cell, Gru, GruCell, LastStep, Linear, LnGru, LnGruCell, PerStep, Recurrent, init_seeded,
};
use constnorm::{Layer, Network, network, normalize};
use flate2::read::GzDecoder;
use indicatif::{ProgressBar, ProgressStyle};
use plotters::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[path = "shared/study.rs"]
mod study;

use study::{Curve, mean_curve, mean_std, row, train_epoch};

const CHANNELS: usize = 12;
const STEPS: usize = 25;
const CLASSES: usize = 9;
const HIDDEN: usize = 32;
const EPOCHS: usize = 25;
const SEEDS: [u64; 3] = [1, 2, 3];
const BATCHES: [usize; 4] = [1, 4, 16, 64];
const LEARNING_RATE: f32 = 5e-3;
/// 370 test recordings in inference batches of 10.
const EVAL_BATCH: usize = 10;

/// One recording: 25 frames of 12 coefficients.
type Recording = [[f32; CHANNELS]; STEPS];

#[normalize(layer, dims = HIDDEN)]
struct Ln;

#[normalize(batch, dims = HIDDEN)]
struct Bn;

#[network]
#[derive(Default)]
struct Plain {
    gru: Gru<CHANNELS, HIDDEN, STEPS>,
    last: LastStep<[f32; HIDDEN], STEPS>,
    fc: Linear<HIDDEN, CLASSES>,
}

#[network]
#[derive(Default)]
struct LnCell {
    gru: LnGru<CHANNELS, HIDDEN, STEPS>,
    last: LastStep<[f32; HIDDEN], STEPS>,
    fc: Linear<HIDDEN, CLASSES>,
}

#[network]
#[derive(Default)]
struct LnOutput {
    gru: Gru<CHANNELS, HIDDEN, STEPS>,
    last: LastStep<[f32; HIDDEN], STEPS>,
    ln: Ln,
    fc: Linear<HIDDEN, CLASSES>,
}

#[network]
#[derive(Default)]
struct BnPerStep {
    gru: Gru<CHANNELS, HIDDEN, STEPS>,
    bn: PerStep<Bn, STEPS>,
    last: LastStep<[f32; HIDDEN], STEPS>,
    fc: Linear<HIDDEN, CLASSES>,
}

/// A model of the study: its network, and how to classify a recording fed
/// one frame at a time (the recurrent layer's streaming step, then the
/// layers after it on the last state).
trait Model: Network<Scalar = f32, Input = Recording, Output = [f32; CLASSES]> + Default {
    const NAME: &'static str;
    /// The recurrent cell.
    type Cell: Cell<Input = [f32; CHANNELS], Hidden = [f32; HIDDEN]>;
    fn recurrent(&self) -> &Recurrent<Self::Cell, STEPS>;
    /// The logits from the last hidden state, in inference mode.
    fn head(&self, h: &[f32; HIDDEN]) -> [f32; CLASSES];
}

fn eval1<L: Layer<Scalar = f32>>(layer: &L, x: &L::Input) -> L::Output {
    let mut y = [<L::Output as constnorm::Row>::ZERO];
    layer.forward_eval(&[*x], &mut y).expect("one row");
    y[0]
}

impl Model for Plain {
    const NAME: &'static str = "none";
    type Cell = GruCell<CHANNELS, HIDDEN>;
    fn recurrent(&self) -> &Recurrent<Self::Cell, STEPS> {
        &self.gru
    }
    fn head(&self, h: &[f32; HIDDEN]) -> [f32; CLASSES] {
        eval1(&self.fc, h)
    }
}

impl Model for LnCell {
    const NAME: &'static str = "layer norm in the cell";
    type Cell = LnGruCell<CHANNELS, HIDDEN>;
    fn recurrent(&self) -> &Recurrent<Self::Cell, STEPS> {
        &self.gru
    }
    fn head(&self, h: &[f32; HIDDEN]) -> [f32; CLASSES] {
        eval1(&self.fc, h)
    }
}

impl Model for LnOutput {
    const NAME: &'static str = "layer norm on outputs";
    type Cell = GruCell<CHANNELS, HIDDEN>;
    fn recurrent(&self) -> &Recurrent<Self::Cell, STEPS> {
        &self.gru
    }
    fn head(&self, h: &[f32; HIDDEN]) -> [f32; CLASSES] {
        eval1(&self.fc, &eval1(&self.ln, h))
    }
}

impl Model for BnPerStep {
    const NAME: &'static str = "batch norm per step";
    type Cell = GruCell<CHANNELS, HIDDEN>;
    fn recurrent(&self) -> &Recurrent<Self::Cell, STEPS> {
        &self.gru
    }
    fn head(&self, h: &[f32; HIDDEN]) -> [f32; CLASSES] {
        eval1(&self.fc, &eval1(&self.bn.layer, h))
    }
}

/// The recordings of one .ts file (sktime/aeon format), each channel
/// standardized with the training set's mean and deviation.
struct Data {
    train: Vec<(Recording, usize)>,
    test: Vec<(Recording, usize)>,
}

fn read_ts(name: &str) -> Result<Vec<(Recording, usize)>, Box<dyn std::error::Error>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/data")
        .join(name);
    let mut text = String::new();
    GzDecoder::new(std::fs::File::open(&path)?).read_to_string(&mut text)?;
    let data = text.split("@data").nth(1).ok_or("no @data section")?;
    let mut out = Vec::new();
    for line in data.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.trim().split(':').collect();
        let (label, channels) = fields.split_last().ok_or("empty line")?;
        if channels.len() != CHANNELS {
            return Err(format!("{name}: {} channels, not {CHANNELS}", channels.len()).into());
        }
        let mut rec = [[0.0; CHANNELS]; STEPS];
        for (c, channel) in channels.iter().enumerate() {
            let values: Vec<f32> = channel
                .split(',')
                .map(str::parse)
                .collect::<Result<_, _>>()?;
            if values.len() != STEPS {
                return Err(format!("{name}: a channel of {} frames", values.len()).into());
            }
            for (t, v) in values.into_iter().enumerate() {
                rec[t][c] = v;
            }
        }
        let class: usize = label.trim().parse()?;
        out.push((rec, class - 1));
    }
    Ok(out)
}

fn japanese_vowels() -> Result<Data, Box<dyn std::error::Error>> {
    let mut train = read_ts("JapaneseVowels_eq_TRAIN.ts.gz")?;
    let mut test = read_ts("JapaneseVowels_eq_TEST.ts.gz")?;
    let frames = (train.len() * STEPS) as f64;
    for c in 0..CHANNELS {
        let values = || {
            train
                .iter()
                .flat_map(|(r, _)| r.iter().map(move |f| f64::from(f[c])))
        };
        let mean = values().sum::<f64>() / frames;
        let sd = (values().map(|v| (v - mean).powi(2)).sum::<f64>() / frames).sqrt();
        for (r, _) in train.iter_mut().chain(test.iter_mut()) {
            for f in r.iter_mut() {
                f[c] = ((f64::from(f[c]) - mean) / sd) as f32;
            }
        }
    }
    Ok(Data { train, test })
}

/// One training run's results.
struct Run {
    epoch_losses: Vec<f64>,
    epoch_accuracy: Vec<f64>,
    test_loss: f64,
    steps: usize,
    train_time: Duration,
    /// Mean time of one streaming step, and whether streaming gave the
    /// whole-sequence predictions.
    step_time: Duration,
    streaming_agrees: bool,
}

fn run<N: Model, const B: usize>(seed: u64, data: &Data, progress: &ProgressBar) -> Run {
    let mut net = N::default();
    init_seeded(&mut net, seed);
    let mut workspace: Box<N::Workspace<B>> = Box::default();
    let mut grads = N::Grads::default();
    let mut adam = Adam::new(LEARNING_RATE);
    let mut order: Vec<usize> = (0..data.train.len()).collect();
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let (mut epoch_losses, mut epoch_accuracy) = (Vec::new(), Vec::new());
    let (mut steps, mut train_time, mut test_loss) = (0, Duration::ZERO, 0.0);
    for _ in 0..EPOCHS {
        order.shuffle(&mut rng);
        let start = Instant::now();
        let (total, batches) = train_epoch::<N, B, CLASSES>(
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
        let (accuracy, loss) = evaluate(&net, &data.test);
        epoch_accuracy.push(accuracy);
        test_loss = loss;
        progress.inc(1);
    }
    let (step_time, streaming_agrees) = stream(&net, &data.test);
    Run {
        epoch_losses,
        epoch_accuracy,
        test_loss,
        steps,
        train_time,
        step_time,
        streaming_agrees,
    }
}

/// Share of `recordings` classified right and the mean cross-entropy, in
/// inference mode.
fn evaluate<N: Model>(net: &N, recordings: &[(Recording, usize)]) -> (f64, f64) {
    let mut workspace: Box<N::Workspace<EVAL_BATCH>> = Box::default();
    let (mut right, mut loss) = (0, 0.0);
    let mut grad = [[0.0; CLASSES]; EVAL_BATCH];
    for chunk in recordings.chunks_exact(EVAL_BATCH) {
        let x: [Recording; EVAL_BATCH] = std::array::from_fn(|i| chunk[i].0);
        let targets: [usize; EVAL_BATCH] = std::array::from_fn(|i| chunk[i].1);
        let y = net
            .forward_eval(&x, &mut workspace)
            .expect("constant sizes");
        let l = constnorm::nn::cross_entropy(y, &targets, &mut grad).expect("valid targets");
        loss += f64::from(l);
        right += y
            .iter()
            .zip(&targets)
            .filter(|(y, t)| argmax(y) == **t)
            .count();
    }
    let batches = (recordings.len() / EVAL_BATCH) as f64;
    (right as f64 / recordings.len() as f64, loss / batches)
}

fn argmax(y: &[f32; CLASSES]) -> usize {
    (0..CLASSES).fold(0, |best, i| if y[i] > y[best] { i } else { best })
}

/// Streams every test recording frame by frame (batch size 1, the state
/// kept here): the mean time of one recurrent step, and whether every
/// prediction is the whole-sequence pass's.
fn stream<N: Model>(net: &N, recordings: &[(Recording, usize)]) -> (Duration, bool) {
    let mut workspace: Box<N::Workspace<1>> = Box::default();
    let mut agrees = true;
    let mut time = Duration::ZERO;
    for (rec, _) in recordings {
        let mut state = <<N::Cell as Cell>::State as constnorm::Row>::ZERO;
        let mut h = [0.0; HIDDEN];
        let start = Instant::now();
        for frame in rec {
            h = net
                .recurrent()
                .step(std::hint::black_box(frame), &mut state);
        }
        time += start.elapsed();
        let streamed = net.head(&h);
        let whole = net
            .forward_eval(&[*rec], &mut workspace)
            .expect("constant sizes")[0];
        agrees &= argmax(&streamed) == argmax(&whole)
            && streamed
                .iter()
                .zip(&whole)
                .all(|(a, b)| (a - b).abs() <= 1e-5 * b.abs().max(1.0));
    }
    (time / (recordings.len() * STEPS) as u32, agrees)
}

/// One row of the table: a model at a batch size, over the seeds.
struct Config {
    name: &'static str,
    batch: usize,
    runs: Vec<Run>,
}

fn config<N: Model, const B: usize>(data: &Data, progress: &ProgressBar) -> Config {
    progress.set_message(format!("{}, batch {B}", N::NAME));
    let runs = SEEDS
        .iter()
        .map(|&seed| run::<N, B>(seed, data, progress))
        .collect();
    Config {
        name: N::NAME,
        batch: B,
        runs,
    }
}

/// Every model at batch size `B`.
fn every_model<const B: usize>(data: &Data, progress: &ProgressBar) -> Vec<Config> {
    vec![
        config::<Plain, B>(data, progress),
        config::<LnCell, B>(data, progress),
        config::<LnOutput, B>(data, progress),
        config::<BnPerStep, B>(data, progress),
    ]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = japanese_vowels()?;
    println!(
        "JapaneseVowels: {} training and {} test recordings of {STEPS} frames x {CHANNELS} \
         coefficients, {CLASSES} speakers; GRU({CHANNELS}, {HIDDEN}) then Linear({HIDDEN}, \
         {CLASSES}) on the last state; Adam (lr {LEARNING_RATE}), {EPOCHS} epochs, seeds {SEEDS:?}.\n",
        data.train.len(),
        data.test.len()
    );
    let models = 4;
    let total = (models * BATCHES.len() * SEEDS.len() * EPOCHS) as u64;
    let progress = ProgressBar::new(total);
    progress.set_style(ProgressStyle::with_template(
        "{bar:40} {pos}/{len} epochs, {elapsed} [{msg}]",
    )?);
    let started = Instant::now();
    let mut configs = every_model::<1>(&data, &progress);
    configs.extend(every_model::<4>(&data, &progress));
    configs.extend(every_model::<16>(&data, &progress));
    configs.extend(every_model::<64>(&data, &progress));
    progress.finish_and_clear();

    println!(
        "| normalization | batch | test accuracy (mean ± sd) | test loss | final train loss | steps/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for c in &configs {
        let (acc, acc_sd) = mean_std(c.runs.iter().map(|r| r.epoch_accuracy[EPOCHS - 1] * 100.0));
        let (loss, _) = mean_std(c.runs.iter().map(|r| r.epoch_losses[EPOCHS - 1]));
        let (test_loss, _) = mean_std(c.runs.iter().map(|r| r.test_loss));
        let steps: usize = c.runs.iter().map(|r| r.steps).sum();
        let time: f64 = c.runs.iter().map(|r| r.train_time.as_secs_f64()).sum();
        println!(
            "| {} | {} | {acc:.1}% ± {acc_sd:.1} | {test_loss:.3} | {loss:.3} | {:.0} |",
            c.name,
            c.batch,
            steps as f64 / time
        );
    }
    println!(
        "\nStreaming inference, one frame at a time (batch size 1, state kept by the caller):"
    );
    for name in [Plain::NAME, LnCell::NAME] {
        let runs = configs
            .iter()
            .filter(|c| c.name == name)
            .flat_map(|c| &c.runs);
        let (times, agree): (Vec<f64>, Vec<bool>) = runs
            .map(|r| (r.step_time.as_secs_f64() * 1e6, r.streaming_agrees))
            .unzip();
        let (mean, _) = mean_std(times.into_iter());
        let cell = if name == Plain::NAME { "GRU" } else { "LN-GRU" };
        let all = agree.iter().all(|a| *a);
        println!(
            "- {cell} step: {mean:.2} µs; predictions {} the whole-sequence pass's",
            if all { "equal" } else { "DIFFER FROM" }
        );
    }
    let path = plot(&configs)?;
    println!("\nCurves (mean over seeds): {}", path.display());
    println!("Total time: {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

const COLORS: [(&str, RGBColor); 4] = [
    ("batch norm per step", RED),
    ("layer norm in the cell", BLUE),
    ("layer norm on outputs", GREEN),
    ("none", BLACK),
];

/// Test accuracy and training loss per epoch, one panel per batch size, to
/// `target/sequence.png`.
fn plot(configs: &[Config]) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let path = study::picture("sequence.png")?;
    draw(configs, &path)?;
    Ok(path)
}

fn draw(configs: &[Config], path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::new(path, (1500, 860)).into_drawing_area();
    root.fill(&WHITE)?;
    let rows = root.split_evenly((2, 1));
    let curves = |batch: usize, value: fn(&Run, usize) -> f64| -> Vec<Curve> {
        COLORS
            .iter()
            .filter_map(|&(name, color)| {
                let c = configs
                    .iter()
                    .find(|c| c.name == name && c.batch == batch)?;
                Some((name, color, mean_curve(&c.runs, EPOCHS, value)))
            })
            .collect()
    };
    let seeds = SEEDS.len();
    row(
        &rows[0],
        &format!(
            "GRU on JapaneseVowels: test accuracy after each epoch (inference mode, mean of {seeds} seeds)"
        ),
        &BATCHES,
        (EPOCHS, 0.0..1.0, "test accuracy"),
        |batch| curves(batch, |r, e| r.epoch_accuracy[e]),
    )?;
    row(
        &rows[1],
        &format!(
            "GRU on JapaneseVowels: training loss per epoch (training mode, mean of {seeds} seeds)"
        ),
        &BATCHES,
        (EPOCHS, 0.0..2.3, "loss"),
        |batch| curves(batch, |r, e| r.epoch_losses[e]),
    )?;
    root.present()?;
    Ok(())
}
