//! A transformer classifier against PyTorch:
//! `tests/fixtures/transformer_training_f64.json` is PyTorch training
//! `enc = TransformerEncoderLayer(8, 2, 16, dropout 0, norm_first True,
//! batch_first)`, the mean over the sequence, and `fc = Linear(8, 3)` with
//! mean cross-entropy for eight Adam steps (lr 1e-2) on batches of four
//! sequences of five tokens, in float64. Loaded from PyTorch's initial state
//! dict by key, our layers must reproduce every step's logits and loss, the
//! first step's gradients, the state after every step and the eval logits,
//! to 1e-9 relative to each tensor's scale.
//!
//! The layers are chained by hand: the encoder, a mean over the tokens (and
//! its backward, `dy / L` to every token), then `fc`.

mod common;

use common::fixture::{State, Tensor, assert_close};
use common::golden_layers::grads_by_key;
use constnorm::nn::{Adam, Linear, ReluFn, TransformerEncoderLayer, cross_entropy};
use constnorm::{Key, Layer, Parameters, StateDict, VisitMut};
use std::collections::BTreeMap;

type Enc = TransformerEncoderLayer<8, 2, 16, 5, f64, ReluFn, true>;
type Fc = Linear<8, 3, f64>;
type Sequence = [[f64; 8]; 5];

#[derive(Default)]
struct Model {
    enc: Enc,
    fc: Fc,
}

impl Model {
    /// Calls `f(key, shape, values)` for every array of both layers, keys
    /// prefixed `enc.` and `fc.` as PyTorch's module names them.
    fn visit_mut(&mut self, f: &mut VisitMut<'_, f64>) {
        self.enc
            .visit_arrays_mut(&mut |key, shape, values| f(&Key::nested("enc", key), shape, values));
        self.fc
            .visit_arrays_mut(&mut |key, shape, values| f(&Key::nested("fc", key), shape, values));
    }

    /// Sets every array from a state dict by key; the keys must be exactly
    /// the dict's.
    fn load(&mut self, state: &State) {
        let mut loaded = Vec::new();
        self.visit_mut(&mut |key, shape, values| {
            let key = key.to_string();
            let theirs = &state[&key];
            assert_eq!(shape, theirs.shape, "{key}: shape");
            values.copy_from_slice(&theirs.values);
            loaded.push(key);
        });
        loaded.sort_unstable();
        assert_eq!(loaded, state.keys().cloned().collect::<Vec<_>>(), "keys");
    }

    /// Every array by key, as the state dict PyTorch would write.
    fn state(&mut self) -> BTreeMap<String, Vec<f64>> {
        let mut out = BTreeMap::new();
        self.visit_mut(&mut |key, _, values| {
            out.insert(key.to_string(), values.to_vec());
        });
        out
    }
}

fn sequences(t: &Tensor) -> Vec<Sequence> {
    assert_eq!(t.shape[1..], [5, 8]);
    let rows = t.values.chunks_exact(40);
    rows.map(|v| {
        let mut s = [[0.0; 8]; 5];
        s.as_flattened_mut().copy_from_slice(v);
        s
    })
    .collect()
}

/// The mean over the tokens of each sequence.
fn mean_over_tokens(h: &[Sequence]) -> Vec<[f64; 8]> {
    let mean = |s: &Sequence| {
        let mut m = [0.0; 8];
        for token in s {
            for (m, v) in m.iter_mut().zip(token) {
                *m += v;
            }
        }
        m.map(|v| v / 5.0)
    };
    h.iter().map(mean).collect()
}

fn assert_state(what: &str, ours: &BTreeMap<String, Vec<f64>>, theirs: &State, worst: &mut f64) {
    let keys: Vec<&String> = ours.keys().collect();
    assert_eq!(keys, theirs.keys().collect::<Vec<_>>(), "{what}: keys");
    for (key, values) in ours {
        assert_close(&format!("{what} {key}"), values, &theirs[key].values, worst);
    }
}

/// The logits of a batch, and the mean over its tokens (`fc`'s input).
struct Pass {
    pooled: Vec<[f64; 8]>,
    logits: Vec<[f64; 3]>,
}

/// The forward pass (training and inference are the same: no dropout).
fn forward(model: &Model, x: &[Sequence]) -> Pass {
    let mut h = vec![[[0.0; 8]; 5]; x.len()];
    model.enc.forward_eval(x, &mut h).unwrap();
    let pooled = mean_over_tokens(&h);
    let mut logits = vec![[0.0; 3]; x.len()];
    model.fc.forward_eval(&pooled, &mut logits).unwrap();
    Pass { pooled, logits }
}

/// The gradients of the mean cross-entropy of `pass` (from `x`) with
/// respect to every parameter, and the loss.
fn backward(
    model: &Model,
    x: &[Sequence],
    pass: &Pass,
    target: &[usize],
) -> (f64, <Enc as Parameters>::Grads, <Fc as Parameters>::Grads) {
    let n = x.len();
    let mut dlogits = vec![[0.0; 3]; n];
    let loss = cross_entropy(&pass.logits, target, &mut dlogits).unwrap();
    let (mut enc_grads, mut fc_grads) = Default::default();
    let mut dpooled = vec![[0.0; 8]; n];
    let saved = constnorm::nn::SavedRows { rows: n };
    model
        .fc
        .backward(&pass.pooled, &saved, &dlogits, &mut dpooled, &mut fc_grads)
        .unwrap();
    // The mean's backward: each token gets dy / L.
    let dh: Vec<Sequence> = dpooled.iter().map(|d| [d.map(|v| v / 5.0); 5]).collect();
    let mut dx = vec![[[0.0; 8]; 5]; n];
    model
        .enc
        .backward(x, &saved, &dh, &mut dx, &mut enc_grads)
        .unwrap();
    (loss, enc_grads, fc_grads)
}

#[test]
fn eight_adam_steps_reproduce_pytorch() {
    let f = common::fixture::load("transformer_training_f64.json");
    let mut model = Model::default();
    model.load(&f.init);
    let mut adam_enc = Adam::new(1e-2);
    let mut adam_fc = Adam::new(1e-2);
    let mut worst = 0.0_f64;
    for (i, step) in f.steps.iter().enumerate() {
        let x = sequences(&step.x);
        let pass = forward(&model, &x);
        let what = format!("step {}", i + 1);
        let logits = pass.logits.as_flattened();
        assert_close(
            &format!("{what} logits"),
            logits,
            &step.logits.values,
            &mut worst,
        );
        let (loss, enc_grads, fc_grads) = backward(&model, &x, &pass, &step.target);
        assert_close(&format!("{what} loss"), &[loss], &[step.loss], &mut worst);
        if i == 0 {
            let mut grads: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            let enc = grads_by_key(&model.enc, &enc_grads).into_iter();
            grads.extend(enc.map(|(k, g)| (format!("enc.{k}"), g)));
            let fc = grads_by_key(&model.fc, &fc_grads).into_iter();
            grads.extend(fc.map(|(k, g)| (format!("fc.{k}"), g)));
            assert_state("first step grads", &grads, &f.first_step_grads, &mut worst);
        }
        adam_enc.step(&mut model.enc, &enc_grads);
        adam_fc.step(&mut model.fc, &fc_grads);
        assert_state(
            &format!("{what} state"),
            &model.state(),
            &step.state_after,
            &mut worst,
        );
    }
    assert_state("final state", &model.state(), &f.last, &mut worst);
    assert_eq!(adam_enc.steps(), 8);

    let x = sequences(&f.eval.x);
    let logits = forward(&model, &x).logits;
    let logits = logits.as_flattened();
    assert_close("eval logits", logits, &f.eval.logits.values, &mut worst);
    eprintln!("worst relative difference to PyTorch: {worst:e}");
}
