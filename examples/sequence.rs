//! Layer norm in a sequence model, where batch norm is the awkward choice.
//!
//! A per-step classifier runs on every time step of fixed-length sequences
//! (the same layers at each step, as a transformer's feed-forward block
//! does). Each step's 8 features are one of two patterns plus noise, scaled
//! by a gain that differs per sequence (0.1x to 10x) and grows along the
//! sequence. The task: which pattern, at every step.
//!
//! - Layer norm normalizes each step over its own features: the gain cancels,
//!   and a step's output never depends on other steps or other sequences, so
//!   streaming inference (one step at a time, batch size 1) gives the outputs
//!   of a batched pass, up to rounding.
//! - Batch norm normalizes each feature over the batch of steps: its
//!   statistics mix sequences of different gains and time steps of different
//!   scales, and at inference it falls back to running averages that fit no
//!   single sequence.
//!
//! ```text
//! cargo run --release --example sequence
//! ```

use constnorm::nn::{Adam, Linear, Tanh, cross_entropy, init_seeded};
use constnorm::{Gradients, Network, network, normalize};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const FEATURES: usize = 8;
const STEPS: usize = 16;
const HIDDEN: usize = 16;
const SEQUENCES_PER_BATCH: usize = 4;
/// Rows per training batch: every step of every sequence in the batch.
const ROWS: usize = SEQUENCES_PER_BATCH * STEPS;
const TRAIN_BATCHES: usize = 1500;
const TEST_SEQUENCES: usize = 200;

#[normalize(layer, dims = HIDDEN)]
struct Ln;

#[normalize(batch, dims = HIDDEN)]
struct Bn;

#[network]
#[derive(Default)]
struct StepLn {
    fc1: Linear<FEATURES, HIDDEN>,
    norm: Ln,
    act: Tanh<HIDDEN>,
    out: Linear<HIDDEN, 2>,
}

#[network]
#[derive(Default)]
struct StepBn {
    fc1: Linear<FEATURES, HIDDEN>,
    norm: Bn,
    act: Tanh<HIDDEN>,
    out: Linear<HIDDEN, 2>,
}

/// The two patterns a step can carry.
fn patterns() -> [[f32; FEATURES]; 2] {
    let mut rng = StdRng::seed_from_u64(7);
    std::array::from_fn(|_| std::array::from_fn(|_| rng.random_range(-1.0..1.0)))
}

/// One sequence: per step, the features and the pattern's class.
fn sequence(
    rng: &mut StdRng,
    patterns: &[[f32; FEATURES]; 2],
) -> [([f32; FEATURES], usize); STEPS] {
    let gain: f32 = 10f32.powf(rng.random_range(-1.0..1.0));
    std::array::from_fn(|t| {
        let class = rng.random_range(0..2);
        let ramp = 1.0 + t as f32 * 0.5;
        let x = std::array::from_fn(|k| {
            gain * ramp * (patterns[class][k] + rng.random_range(-0.6..0.6))
        });
        (x, class)
    })
}

/// Trains `N` on batches of whole sequences; returns the trained network.
fn train<N>(seed: u64, patterns: &[[f32; FEATURES]; 2]) -> N
where
    N: Network<Scalar = f32, Input = [f32; FEATURES], Output = [f32; 2]> + Default,
{
    let mut net = N::default();
    init_seeded(&mut net, seed);
    let mut rng = StdRng::seed_from_u64(seed + 1000);
    let mut workspace: Box<N::Workspace<ROWS>> = Box::default();
    let mut grads = N::Grads::default();
    let mut adam = Adam::new(1e-2);
    let mut dlogits = [[0.0; 2]; ROWS];
    for _ in 0..TRAIN_BATCHES {
        let mut x = [[0.0; FEATURES]; ROWS];
        let mut targets = [0; ROWS];
        for s in 0..SEQUENCES_PER_BATCH {
            for (t, (features, class)) in sequence(&mut rng, patterns).into_iter().enumerate() {
                x[s * STEPS + t] = features;
                targets[s * STEPS + t] = class;
            }
        }
        let logits = net
            .forward_train(&x, &mut workspace)
            .expect("constant sizes");
        cross_entropy(logits, &targets, &mut dlogits).expect("valid targets");
        grads.set_zero();
        net.backward(&x, &mut workspace, &dlogits, &mut grads)
            .expect("after a forward pass");
        adam.step(&mut net, &grads);
    }
    net
}

/// Streaming inference, one step at a time (batch size 1), and a batched
/// pass over each whole sequence: accuracy of the stream, and the largest
/// difference between the two outputs.
fn evaluate<N>(net: &N, patterns: &[[f32; FEATURES]; 2]) -> (f64, f32)
where
    N: Network<Scalar = f32, Input = [f32; FEATURES], Output = [f32; 2]>,
{
    let mut rng = StdRng::seed_from_u64(99);
    let mut one: Box<N::Workspace<1>> = Box::default();
    let mut all: Box<N::Workspace<STEPS>> = Box::default();
    let (mut right, mut max_difference) = (0, 0.0_f32);
    for _ in 0..TEST_SEQUENCES {
        let seq = sequence(&mut rng, patterns);
        let x: [[f32; FEATURES]; STEPS] = std::array::from_fn(|t| seq[t].0);
        let batched = *net.forward_eval(&x, &mut all).expect("constant sizes");
        for (t, (features, class)) in seq.iter().enumerate() {
            let y = net
                .forward_eval(&[*features], &mut one)
                .expect("constant sizes")[0];
            right += usize::from(usize::from(y[1] > y[0]) == *class);
            for (a, b) in y.iter().zip(&batched[t]) {
                max_difference = max_difference.max((a - b).abs());
            }
        }
    }
    (
        right as f64 / (TEST_SEQUENCES * STEPS) as f64,
        max_difference,
    )
}

fn main() {
    let patterns = patterns();
    println!(
        "Per-step classifier on sequences of {STEPS} steps x {FEATURES} features, \
         gains 0.1x-10x per sequence, growing along the sequence; \
         trained on batches of {SEQUENCES_PER_BATCH} sequences ({ROWS} steps), \
         evaluated streaming one step at a time.\n"
    );
    println!(
        "| normalization | streaming accuracy | max difference, streaming vs whole sequence |"
    );
    println!("|---|---:|---:|");
    for seed in [1, 2] {
        let ln: StepLn = train(seed, &patterns);
        let (acc, diff) = evaluate(&ln, &patterns);
        println!(
            "| layer norm (seed {seed}) | {:.1}% | {diff:e} |",
            acc * 100.0
        );
        let bn: StepBn = train(seed, &patterns);
        let (acc, diff) = evaluate(&bn, &patterns);
        println!(
            "| batch norm (seed {seed}) | {:.1}% | {diff:e} |",
            acc * 100.0
        );
    }
    println!(
        "\nBoth give a step the same output alone or with its sequence (up to rounding): layer norm \
         because it only looks at the step, batch norm because inference uses its running averages. \
         Those averages mix every gain and time step and fit no single sequence, which costs batch \
         norm accuracy; layer norm cancels the gain in every step."
    );
}
