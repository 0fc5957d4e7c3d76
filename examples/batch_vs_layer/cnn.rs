//! The CNN study: a small convolutional network on the 1797 8x8 handwritten
//! digits scikit-learn ships (`examples/data/`), with batch norm, group norm,
//! layer norm or nothing after each convolution, at two learning rates.

use constnorm::nn::{AdaptiveAvgPool2d, Flatten, Linear, Relu2d, Sgd, cross_entropy, init_seeded};
use constnorm::{Network, conv2d, max_pool2d, network, normalize};
use flate2::read::GzDecoder;
use indicatif::ProgressBar;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

/// Channels after the first and the second convolution.
pub const C1: usize = 8;
pub const C2: usize = 16;
/// Groups of both group norms (2 and 4 channels per group).
const GROUPS: usize = 4;
/// Training examples; the other 389 of the 1797 are the test set. 1408 is
/// a multiple of every batch size, so no epoch drops a partial batch.
pub const TRAIN: usize = 1408;
/// The stride of the split's permutation.
const SPLIT_STRIDE: usize = 997;
pub const EPOCHS: usize = 8;
pub const SEEDS: [u64; 3] = [1, 2, 3];
/// SGD with momentum `MOMENTUM` at this learning rate and at five times
/// it, `HIGH_LEARNING_RATE`.
pub const LEARNING_RATE: f32 = 0.01;
pub const HIGH_LEARNING_RATE: f32 = 0.05;
pub const MOMENTUM: f32 = 0.9;
pub const BATCHES: [usize; 5] = [2, 4, 16, 64, 128];

/// One 8x8 grey image, channel-major (`[C][H][W]`), values in [0, 1].
type Image = [[[f32; 8]; 8]; 1];

type Conv1 = conv2d!(1, C1, 3, padding = 1, input = [1, 8, 8]);
type Pool = max_pool2d!(2, input = [C1, 8, 8]);
type Conv2 = conv2d!(C1, C2, 3, padding = 1, input = [C1, 4, 4]);

#[normalize(batch, dims = C1, spatial = [8, 8])]
pub struct Bn1;
#[normalize(batch, dims = C2, spatial = [4, 4])]
pub struct Bn2;
#[normalize(group, dims = C1, groups = GROUPS, spatial = [8, 8])]
pub struct Gn1;
#[normalize(group, dims = C2, groups = GROUPS, spatial = [4, 4])]
pub struct Gn2;
#[normalize(layer, dims = [C1, 8, 8])]
pub struct Ln1;
#[normalize(layer, dims = [C2, 4, 4])]
pub struct Ln2;

/// `conv -> [norm] -> relu -> max pool -> conv -> [norm] -> relu -> global
/// average pool -> flatten -> linear`, the norms given or left out.
macro_rules! cnn {
    ($name:ident $(, $norm1:ty, $norm2:ty)?) => {
        #[network]
        #[derive(Default)]
        pub struct $name {
            conv1: Conv1,
            $(norm1: $norm1,)?
            relu1: Relu2d<C1, 8, 8>,
            pool: Pool,
            conv2: Conv2,
            $(norm2: $norm2,)?
            relu2: Relu2d<C2, 4, 4>,
            gap: AdaptiveAvgPool2d<C2, 4, 4>,
            flat: Flatten<[[[f32; 1]; 1]; C2], C2>,
            out: Linear<C2, 10>,
        }
    };
}

cnn!(CnnBatchNorm, Bn1, Bn2);
cnn!(CnnGroupNorm, Gn1, Gn2);
cnn!(CnnLayerNorm, Ln1, Ln2);
cnn!(CnnPlain);

/// The digits, split into `TRAIN` training and 389 test images by a fixed
/// permutation any language can reproduce: position `k` holds digit
/// `k * 997 mod 1797` of the file (997 is prime to 1797), the first `TRAIN`
/// positions train.
pub struct Digits {
    pub train: Vec<(Image, usize)>,
    pub test: Vec<(Image, usize)>,
}

/// Reads `examples/data/digits.csv.gz`: 64 grey levels 0..16 (divided by
/// 16) and the label per line.
pub fn digits() -> Result<Digits, Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/digits.csv.gz");
    let reader = BufReader::new(GzDecoder::new(std::fs::File::open(path)?));
    let mut all = Vec::new();
    for line in reader.lines() {
        let line = line?;
        let values: Vec<f32> = line.split(',').map(str::parse).collect::<Result<_, _>>()?;
        let [pixels @ .., label] = values.as_slice() else {
            return Err("an empty line in digits.csv.gz".into());
        };
        if pixels.len() != 64 {
            return Err(format!("{} pixels in a line of digits.csv.gz", pixels.len()).into());
        }
        let mut image = [[[0.0; 8]; 8]; 1];
        for (v, p) in image[0].as_flattened_mut().iter_mut().zip(pixels) {
            *v = p / 16.0;
        }
        all.push((image, *label as usize));
    }
    if all.len() != 1797 {
        return Err(format!("{} digits instead of 1797", all.len()).into());
    }
    let mut permuted: Vec<(Image, usize)> = (0..all.len())
        .map(|k| all[k * SPLIT_STRIDE % all.len()])
        .collect();
    let test = permuted.split_off(TRAIN);
    Ok(Digits {
        train: permuted,
        test,
    })
}

/// One training run's results.
pub struct Run {
    /// Mean training loss of each epoch (training mode).
    pub epoch_losses: Vec<f64>,
    /// Test accuracy after each epoch (inference mode).
    pub epoch_accuracy: Vec<f64>,
    pub test_loss: f64,
    pub steps: usize,
    pub train_time: Duration,
}

/// Trains a fresh `N` from `seed` for `EPOCHS` epochs of batches of `B`
/// with SGD (momentum `MOMENTUM`) at `lr`.
fn run<N, const B: usize>(seed: u64, lr: f32, data: &Digits, progress: &ProgressBar) -> Run
where
    N: Network<Scalar = f32, Input = Image, Output = [f32; 10]> + Default,
{
    let mut net = Box::<N>::default();
    init_seeded(&mut *net, seed);
    let mut workspace = Box::<N::Workspace<B>>::default();
    let mut grads = Box::<N::Grads>::default();
    let mut sgd = Sgd::new(lr, MOMENTUM);
    let mut order: Vec<usize> = (0..data.train.len()).collect();
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let mut run = Run {
        epoch_losses: Vec::with_capacity(EPOCHS),
        epoch_accuracy: Vec::with_capacity(EPOCHS),
        test_loss: 0.0,
        steps: 0,
        train_time: Duration::ZERO,
    };
    for _ in 0..EPOCHS {
        order.shuffle(&mut rng);
        let start = Instant::now();
        let (total, batches) = super::study::train_epoch::<N, B, 10>(
            &mut net,
            &mut workspace,
            &mut grads,
            &data.train,
            &order,
            |net, grads| sgd.step(net, grads),
        );
        run.train_time += start.elapsed();
        run.steps += batches;
        run.epoch_losses.push(total / batches as f64);
        let (accuracy, loss) = evaluate(&*net, &data.test);
        run.epoch_accuracy.push(accuracy);
        run.test_loss = loss;
        progress.inc(1);
    }
    run
}

/// Share of `images` classified right and the mean cross-entropy, in
/// inference mode (batch norm uses its running statistics), one image at a
/// time (inference treats each image alone, so the batch size does not
/// matter).
fn evaluate<N: Network<Scalar = f32, Input = Image, Output = [f32; 10]>>(
    net: &N,
    images: &[(Image, usize)],
) -> (f64, f64) {
    let mut workspace = Box::<N::Workspace<1>>::default();
    let (mut right, mut loss) = (0, 0.0);
    let mut grad = [[0.0; 10]; 1];
    for (image, class) in images {
        let y = net
            .forward_eval(&[*image], &mut workspace)
            .expect("constant sizes");
        loss += f64::from(cross_entropy(y, &[*class], &mut grad).expect("valid targets"));
        let predicted = (0..10)
            .max_by(|&a, &b| y[0][a].total_cmp(&y[0][b]))
            .expect("ten classes");
        right += usize::from(predicted == *class);
    }
    let n = images.len() as f64;
    (right as f64 / n, loss / n)
}

/// One row of the table: a normalization at a batch size and learning
/// rate, over the seeds.
pub struct Config {
    pub norm: &'static str,
    pub batch: usize,
    pub lr: f32,
    pub runs: Vec<Run>,
}

fn config<N, const B: usize>(
    norm: &'static str,
    lr: f32,
    data: &Digits,
    progress: &ProgressBar,
) -> Config
where
    N: Network<Scalar = f32, Input = Image, Output = [f32; 10]> + Default,
{
    progress.set_message(format!("CNN, {norm}, batch {B}, lr {lr}"));
    let runs = SEEDS
        .iter()
        .map(|&seed| run::<N, B>(seed, lr, data, progress))
        .collect();
    Config {
        norm,
        batch: B,
        lr,
        runs,
    }
}

/// The normalizations, in table order, with the network of each.
pub const NORMS: [&str; 4] = ["batch norm", "group norm", "layer norm", "none"];

/// Number of configurations `study` runs.
pub const CONFIGS: usize = BATCHES.len() * NORMS.len() * 2;

/// Every normalization at every batch size, at both learning rates.
pub fn study(data: &Digits, progress: &ProgressBar) -> Vec<Config> {
    let mut configs = Vec::with_capacity(CONFIGS);
    for lr in [LEARNING_RATE, HIGH_LEARNING_RATE] {
        macro_rules! at_batch {
            ($b:literal) => {
                configs.push(config::<CnnBatchNorm, $b>(NORMS[0], lr, data, progress));
                configs.push(config::<CnnGroupNorm, $b>(NORMS[1], lr, data, progress));
                configs.push(config::<CnnLayerNorm, $b>(NORMS[2], lr, data, progress));
                configs.push(config::<CnnPlain, $b>(NORMS[3], lr, data, progress));
            };
        }
        at_batch!(2);
        at_batch!(4);
        at_batch!(16);
        at_batch!(64);
        at_batch!(128);
    }
    assert_eq!(configs.len(), CONFIGS);
    configs
}
