//! A long training run of the README's network on a stream with non-finite
//! batches injected (a NaN in one batch of 97, an infinity in one of 89):
//! every refused step changes nothing (the whole state dict, bit for bit),
//! no statistic becomes NaN or infinite, the loss stays finite, and the
//! loop allocates nothing (memory stays flat). CI runs 100,000 steps; the
//! full soak of ten million:
//!
//! ```text
//! cargo test --release --test soak -- --ignored
//! ```

use constnorm::nn::{Adam, Linear, Relu, cross_entropy, init_seeded};
use constnorm::{Gradients, Network, NormError, StateDict, network, normalize};

#[path = "common/counting.rs"]
mod counting;

#[normalize(batch, dims = 16)]
struct Bn16;

#[normalize(layer, dims = 16)]
struct Ln16;

#[network]
#[derive(Default)]
struct Mlp {
    fc1: Linear<4, 16>,
    bn1: Bn16,
    act1: Relu<16>,
    fc2: Linear<16, 16>,
    ln2: Ln16,
    act2: Relu<16>,
    out: Linear<16, 3>,
}

/// A digest of the whole state: every array's and counter's bits.
fn digest(net: &Mlp) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut mix = |v: u64| h = (h ^ v).wrapping_mul(0x0100_0000_01b3);
    net.visit_arrays(&mut |_, _, values| values.iter().for_each(|v| mix(u64::from(v.to_bits()))));
    net.visit_counters(&mut |_, value| mix(value));
    h
}

/// A deterministic stream: three classes of points around three centres.
fn batch(step: u64) -> ([[f32; 4]; 8], [usize; 8]) {
    let mut state = step.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let mut x = [[0.0; 4]; 8];
    let mut t = [0; 8];
    for (i, (x, t)) in x.iter_mut().zip(&mut t).enumerate() {
        *t = (step as usize + i) % 3;
        for (j, v) in x.iter_mut().enumerate() {
            *v = if j == *t { 1.0 } else { 0.0 } + next();
        }
    }
    if step % 97 == 13 {
        x[3][1] = f32::NAN;
    } else if step % 89 == 7 {
        x[5][0] = f32::INFINITY;
    }
    (x, t)
}

fn soak(steps: u64) {
    let mut net = Mlp::default();
    init_seeded(&mut net, 42);
    let mut ws = MlpWorkspace::<8>::new();
    let mut grads = MlpGrads::default();
    let mut adam = Adam::new(1e-3);
    let mut dlogits = [[0.0; 3]; 8];
    let (mut refused, mut last_loss) = (0_u64, 0.0_f32);
    let allocated = counting::allocations(|| {
        for step in 0..steps {
            let (x, targets) = batch(step);
            let kept = if step % 97 == 13 || step % 89 == 7 {
                Some(digest(&net))
            } else {
                None
            };
            match net.forward_train(&x, &mut ws) {
                Ok(logits) => {
                    last_loss = cross_entropy(logits, &targets, &mut dlogits).unwrap();
                    assert!(last_loss.is_finite(), "step {step}: loss {last_loss}");
                    grads.set_zero();
                    net.backward(&x, &mut ws, &dlogits, &mut grads).unwrap();
                    adam.step(&mut net, &grads);
                }
                Err(NormError::NonFiniteStatistics { channel: _ }) => {
                    refused += 1;
                    assert_eq!(
                        kept,
                        Some(digest(&net)),
                        "step {step}: a refused step changed the state"
                    );
                }
                Err(e) => panic!("step {step}: {e}"),
            }
            if step % 10_000 == 0 {
                assert!(
                    net.bn1
                        .running_mean
                        .iter()
                        .chain(&net.bn1.running_var)
                        .all(|v| v.is_finite())
                );
            }
        }
    });
    assert_eq!(allocated, 0, "the training loop allocated");
    let bad = (0..steps).filter(|s| s % 97 == 13 || s % 89 == 7).count() as u64;
    assert_eq!(refused, bad, "every poisoned batch is refused, no other");
    assert_eq!(net.bn1.num_batches_tracked, steps - bad);
    assert!(
        net.bn1
            .running_var
            .iter()
            .all(|v| v.is_finite() && *v >= 0.0)
    );
    assert!(
        last_loss < 0.5,
        "the network learned the stream: loss {last_loss}"
    );
}

#[test]
fn a_hundred_thousand_steps_with_poisoned_batches() {
    soak(100_000);
}

#[test]
#[ignore = "ten million steps: run with --release --ignored"]
fn ten_million_steps_with_poisoned_batches() {
    soak(10_000_000);
}
