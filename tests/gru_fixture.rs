//! A recurrent network against PyTorch: `tests/fixtures/gru_training_f64.json`
//! is PyTorch training `GRU(3, 8, batch_first)` (h0 = 0), `LayerNorm(8)` on
//! the last hidden state and `Linear(8, 2)` for ten Adam steps (lr 1e-2) on
//! batches of 4 sequences of 6 steps, in float64. Built as a `#[network]`
//! of `Gru`, `LastStep`, a generated layer norm and `Linear`, loaded from
//! PyTorch's initial state dict by key, ours must reproduce every loss,
//! every step's logits, the first step's gradients, the final state dict and
//! the eval logits, to 1e-9 relative to each tensor's scale.
//!
//! `bigru_training_f64.json` (written by `make_bigru_fixture.py` beside it)
//! is the same for `GRU(3, 5, num_layers=2, bidirectional=True)` and
//! `Linear(10, 2)` on the last step of its output, as a `#[network]` of
//! [`Stacked`], `LastStep` and `Linear`.

mod common;

use common::fixture::{State as StateTensors, Tensor, assert_close};
use constnorm::nn::{Adam, Gru, GruCell, LastStep, Linear, Stacked, cross_entropy};
use constnorm::{Gradients, Network, Parameters, StateDict, network, normalize};

#[normalize(layer, dims = 8, dtype = f64)]
struct Norm;

#[network]
#[derive(Default)]
struct GruNet {
    gru: Gru<3, 8, 6, f64>,
    last: LastStep<[f64; 8], 6>,
    norm: Norm,
    fc: Linear<8, 2, f64>,
}

/// Sequences `(B, 6, 3)` as rows.
fn sequences<const B: usize>(t: &Tensor) -> [[[f64; 3]; 6]; B] {
    assert_eq!(t.shape, [B, 6, 3]);
    let mut out = [[[0.0; 3]; 6]; B];
    out.as_flattened_mut()
        .as_flattened_mut()
        .copy_from_slice(&t.values);
    out
}

/// Fails unless every array of `net` is the tensor of the same key, and
/// every tensor has an array.
fn assert_state<M: StateDict<Scalar = f64>>(
    what: &str,
    net: &M,
    theirs: &StateTensors,
    worst: &mut f64,
) {
    let mut checked = 0;
    net.visit_arrays(&mut |key, shape, values| {
        let t = &theirs[&key.to_string()];
        assert_eq!(shape, t.shape.as_slice(), "{what} {key}: shape");
        assert_close(&format!("{what} {key}"), values, &t.values, worst);
        checked += 1;
    });
    assert_eq!(checked, theirs.len(), "{what}: every tensor");
}

/// Loads the fixture `name`'s initial state into `net` by key, runs its
/// Adam steps (lr 1e-2, batches of 4) checking each step's logits, loss and
/// state after the update and the first step's gradients, then the final
/// state and the eval logits (a batch of 8); returns the worst relative
/// difference to PyTorch.
fn reproduce<N>(name: &str, net: &mut N) -> f64
where
    N: Network<Scalar = f64, Input = [[f64; 3]; 6], Output = [f64; 2]>
        + StateDict<Scalar = f64>
        + Parameters<Scalar = f64>,
    N::Workspace<4>: Default,
    N::Workspace<8>: Default,
{
    let f = common::fixture::load(name);
    let mut loaded = 0;
    net.visit_arrays_mut(&mut |key, shape, values| {
        let t = &f.init[&key.to_string()];
        assert_eq!(shape, t.shape.as_slice(), "{key}: shape");
        values.copy_from_slice(&t.values);
        loaded += 1;
    });
    assert_eq!(loaded, f.init.len(), "every initial tensor has a place");

    let mut ws = N::Workspace::<4>::default();
    let mut grads = N::Grads::default();
    let mut adam = Adam::new(1e-2);
    let mut dlogits = [[0.0; 2]; 4];
    let mut worst = 0.0_f64;
    for (i, step) in f.steps.iter().enumerate() {
        let x = sequences::<4>(&step.x);
        let logits = net.forward_train(&x, &mut ws).unwrap();
        assert_close(
            &format!("step {i} logits"),
            logits.as_flattened(),
            &step.logits.values,
            &mut worst,
        );
        let loss = cross_entropy(logits, &step.target, &mut dlogits).unwrap();
        assert_close(&format!("step {i} loss"), &[loss], &[step.loss], &mut worst);
        grads.set_zero();
        net.backward(&x, &mut ws, &dlogits, &mut grads).unwrap();
        if i == 0 {
            assert_grads(net, &grads, &f.first_step_grads, &mut worst);
        }
        adam.step(net, &grads);
        assert_state(&format!("step {i}"), net, &step.state_after, &mut worst);
    }
    assert_state("final", net, &f.last, &mut worst);

    let x = sequences::<8>(&f.eval.x);
    let mut ws = N::Workspace::<8>::default();
    let logits = net.forward_eval(&x, &mut ws).unwrap();
    let eval = &f.eval.logits.values;
    assert_close("eval logits", logits.as_flattened(), eval, &mut worst);
    worst
}

#[test]
fn ten_adam_steps_reproduce_pytorch() {
    let worst = reproduce("gru_training_f64.json", &mut GruNet::default());
    eprintln!("worst relative difference to PyTorch: {worst:e}");
}

/// The gradient of each parameter, found by its key (gradient array `i`
/// belongs to the key whose values are `parameter(i)`), against PyTorch's.
fn assert_grads<M: Parameters<Scalar = f64> + StateDict<Scalar = f64>>(
    net: &M,
    grads: &M::Grads,
    theirs: &StateTensors,
    worst: &mut f64,
) {
    let mut checked = 0;
    net.visit_arrays(&mut |key, _, values| {
        let i = (0..<M::Grads as Gradients<f64>>::ARRAYS)
            .find(|&i| net.parameter(i).as_ptr() == values.as_ptr())
            .expect("a parameter");
        let t = &theirs[&key.to_string()];
        assert_close(&format!("grad {key}"), grads.array(i), &t.values, worst);
        checked += 1;
    });
    assert_eq!(checked, theirs.len(), "every gradient");
}

#[network]
#[derive(Default)]
struct BiGruNet {
    gru: Stacked<GruCell<3, 5, f64>, GruCell<10, 5, f64>, 6, 2, 1>,
    last: LastStep<[f64; 10], 6>,
    fc: Linear<10, 2, f64>,
}

#[test]
fn a_stacked_bidirectional_gru_trains_as_pytorchs() {
    let worst = reproduce("bigru_training_f64.json", &mut BiGruNet::default());
    eprintln!("stacked: worst relative difference to PyTorch: {worst:e}");
}
