//! The recurrent layers (every cell: `RnnCell` tanh and ReLU, `GruCell`,
//! `LstmCell`, with and without bias, and the layer-normalized `LnLstmCell`
//! and `LnGruCell`, also at one hidden unit, where `LN_c`, `LN_ih_n` and
//! `LN_hh_n` normalize a single value) through time, in f64:
//!
//! - backpropagation through time against finite differences, at 1, 3 and
//!   7 steps: the gradient of a random linear functional of the output
//!   sequence and the final state (`h`, and `c` for LSTMs) with respect to
//!   inputs at the first, a middle and the last step, every initial-state
//!   entry and a few entries of every parameter array;
//! - streaming: `Recurrent::step` with the state kept by the caller gives
//!   the outputs and final state of `forward_sequence` bit for bit;
//! - refused calls (a wrong row count for any argument, an empty batch)
//!   return the error and leave every output buffer and gradient untouched.

mod common;

use common::fd::richardson;
use constnorm::nn::{Cell, GruCell, LnGruCell, LnLstmCell, LstmCell, Recurrent, ReluFn, RnnCell};
use constnorm::{Gradients, NormError, Parameters, Row, StateDict};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Examples per batch.
const N: usize = 2;
/// The finite-difference step.
const STEP: f64 = 1e-5;
/// `|analytic - numeric| <= TOL * max(1, |numeric|) + the estimate's own
/// error bound`.
const TOL: f64 = 1e-8;
/// Entries checked per parameter array.
const SAMPLES: usize = 4;
/// What the buffers of a refused call hold before it (and must after).
const SENTINEL: f64 = 7.25;

/// A row of values uniform in `-1..1`.
fn random_row<R: Row<Scalar = f64>>(rng: &mut StdRng) -> R {
    let mut row = R::ZERO;
    for v in row.as_flat_mut() {
        *v = rng.random_range(-1.0..1.0);
    }
    row
}

/// A row of [`SENTINEL`]s.
fn sentinel<R: Row<Scalar = f64>>() -> R {
    let mut row = R::ZERO;
    row.as_flat_mut().fill(SENTINEL);
    row
}

/// `sum(a * b)` over rows.
fn dot<R: Row<Scalar = f64>>(a: &[R], b: &[R]) -> f64 {
    let pairs = a.iter().zip(b);
    pairs
        .flat_map(|(a, b)| a.as_flat().iter().zip(b.as_flat()).map(|(a, b)| a * b))
        .sum()
}

/// One value a test perturbs.
#[derive(Clone, Copy, Debug)]
enum Entry {
    /// Value `k` of step `t` of example `n`.
    X { n: usize, t: usize, k: usize },
    /// Value `k` of the initial state of example `n` (`h`, then `c`).
    H0 { n: usize, k: usize },
    /// Value `k` of parameter array `i`.
    Param { i: usize, k: usize },
}

/// A cell of `f64`, a sequence of `S` steps, a batch of inputs and initial
/// states, and the functional `sum(y * dy) + sum(last * d_last)` of the
/// output sequence `y` and the final state `last`.
struct Problem<C: Cell, const S: usize> {
    layer: Recurrent<C, S>,
    x: Vec<[C::Input; S]>,
    h0: Vec<C::State>,
    dy: Vec<[C::Hidden; S]>,
    d_last: Vec<C::State>,
}

impl<C: Cell, const S: usize> Clone for Problem<C, S> {
    fn clone(&self) -> Self {
        Self {
            layer: self.layer.clone(),
            x: self.x.clone(),
            h0: self.h0.clone(),
            dy: self.dy.clone(),
            d_last: self.d_last.clone(),
        }
    }
}

/// The analytic gradients of a [`Problem`]'s functional.
struct Analytic<C: Cell, const S: usize> {
    dx: Vec<[C::Input; S]>,
    d_h0: Vec<C::State>,
    grads: C::Grads,
}

impl<C, const S: usize> Problem<C, S>
where
    C: Cell + Default + Parameters<Scalar = f64> + StateDict<Scalar = f64>,
{
    /// Every parameter, input and upstream gradient uniform in `-1..1`.
    fn random(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut layer = Recurrent::<C, S>::new();
        for i in 0..<C::Grads as Gradients<f64>>::ARRAYS {
            for v in layer.parameter_mut(i) {
                *v = rng.random_range(-1.0..1.0);
            }
        }
        let mut sequence = || -> [C::Input; S] { core::array::from_fn(|_| random_row(&mut rng)) };
        let x = (0..N).map(|_| sequence()).collect();
        let h0 = (0..N).map(|_| random_row(&mut rng)).collect();
        let mut outputs = || -> [C::Hidden; S] { core::array::from_fn(|_| random_row(&mut rng)) };
        let dy = (0..N).map(|_| outputs()).collect();
        let d_last = (0..N).map(|_| random_row(&mut rng)).collect();
        Self {
            layer,
            x,
            h0,
            dy,
            d_last,
        }
    }

    /// The output sequences and final states.
    fn forward(&self) -> (Vec<[C::Hidden; S]>, Vec<C::State>) {
        let mut y = vec![[C::Hidden::ZERO; S]; N];
        let mut last = vec![C::State::ZERO; N];
        self.layer
            .forward_sequence(&self.x, &self.h0, &mut y, &mut last)
            .expect("forward_sequence");
        (y, last)
    }

    /// The functional.
    fn loss(&self) -> f64 {
        let (y, last) = self.forward();
        dot(y.as_flattened(), self.dy.as_flattened()) + dot(&last, &self.d_last)
    }

    /// The functional's gradients by backpropagation through time.
    fn analytic(&self) -> Analytic<C, S> {
        let mut dx = vec![[C::Input::ZERO; S]; N];
        let mut d_h0 = vec![C::State::ZERO; N];
        let mut grads = C::Grads::default();
        let (x, h0) = (&self.x, &self.h0);
        self.layer
            .backward_sequence(
                x,
                h0,
                &self.dy,
                &self.d_last,
                &mut dx,
                &mut d_h0,
                &mut grads,
            )
            .expect("backward_sequence");
        Analytic { dx, d_h0, grads }
    }

    fn value_mut(&mut self, entry: Entry) -> &mut f64 {
        match entry {
            Entry::X { n, t, k } => &mut self.x[n][t].as_flat_mut()[k],
            Entry::H0 { n, k } => &mut self.h0[n].as_flat_mut()[k],
            Entry::Param { i, k } => &mut self.layer.parameter_mut(i)[k],
        }
    }

    /// The entries checked: inputs at the first, a middle and the last
    /// step, every initial-state value, [`SAMPLES`] of every parameter
    /// array.
    fn entries(&self, rng: &mut StdRng) -> Vec<Entry> {
        let mut entries = Vec::new();
        for t in [0, S / 2, S - 1] {
            let (n, k) = (rng.random_range(0..N), rng.random_range(0..C::Input::LEN));
            entries.push(Entry::X { n, t, k });
        }
        for n in 0..N {
            entries.extend((0..C::State::LEN).map(|k| Entry::H0 { n, k }));
        }
        for i in 0..<C::Grads as Gradients<f64>>::ARRAYS {
            let len = self.layer.parameter(i).len();
            if len > 0 {
                entries.extend((0..SAMPLES).map(|_| Entry::Param {
                    i,
                    k: rng.random_range(0..len),
                }));
            }
        }
        entries
    }
}

impl<C: Cell + Parameters<Scalar = f64>, const S: usize> Analytic<C, S> {
    fn value(&self, entry: Entry) -> f64 {
        match entry {
            Entry::X { n, t, k } => self.dx[n][t].as_flat()[k],
            Entry::H0 { n, k } => self.d_h0[n].as_flat()[k],
            Entry::Param { i, k } => self.grads.array(i)[k],
        }
    }
}

/// The state-dict key of parameter array `i`.
fn key_of<L: StateDict<Scalar = f64> + Parameters<Scalar = f64>>(layer: &L, i: usize) -> String {
    let target = layer.parameter(i).as_ptr();
    let mut found = format!("parameter {i}");
    layer.visit_arrays(&mut |key, _, values| {
        if values.as_ptr() == target {
            found = key.to_string();
        }
    });
    found
}

/// Backpropagation through `S` steps against finite differences.
fn gradients<C, const S: usize>(seed: u64)
where
    C: Cell + Default + Parameters<Scalar = f64> + StateDict<Scalar = f64>,
{
    let problem = Problem::<C, S>::random(seed);
    let analytic = problem.analytic();
    let mut rng = StdRng::seed_from_u64(seed + 1000);
    for entry in problem.entries(&mut rng) {
        let (numeric, bound) = richardson(
            |h| {
                let mut p = problem.clone();
                *p.value_mut(entry) += h;
                p.loss()
            },
            STEP,
        );
        let got = analytic.value(entry);
        let what = match entry {
            Entry::Param { i, k } => format!("{}[{k}]", key_of(&problem.layer, i)),
            other => format!("{other:?}"),
        };
        assert!(
            (got - numeric).abs() <= TOL * numeric.abs().max(1.0) + bound,
            "{} over {S} steps, {what}: backward {got:e}, finite difference {numeric:e} (+- {bound:e})",
            core::any::type_name::<C>()
        );
    }
}

/// `Recurrent::step` from each `h0` gives `forward_sequence`'s outputs and
/// final state exactly.
fn streaming<C, const S: usize>(seed: u64)
where
    C: Cell + Default + Parameters<Scalar = f64> + StateDict<Scalar = f64>,
{
    let problem = Problem::<C, S>::random(seed);
    let (y, last) = problem.forward();
    for (n, ((x, h0), (y, last))) in problem
        .x
        .iter()
        .zip(&problem.h0)
        .zip(y.iter().zip(&last))
        .enumerate()
    {
        let mut state = *h0;
        for (t, (x, y)) in x.iter().zip(y).enumerate() {
            let h = problem.layer.step(x, &mut state);
            assert!(h == *y, "example {n}, step {t}: {h:?} != {y:?}");
        }
        assert!(
            state == *last,
            "example {n}: final state {state:?} != {last:?}"
        );
    }
}

/// `len` rows, repeating `rows`.
fn rows_of<R: Copy>(rows: &[R], len: usize) -> Vec<R> {
    (0..len).map(|i| rows[i % rows.len()]).collect()
}

/// `argument` (or an empty batch when `None`) has the wrong row count.
fn refusal(argument: Option<&'static str>, found: usize) -> NormError {
    argument.map_or(NormError::EmptyBatch, |argument| {
        NormError::RowCountMismatch {
            argument,
            expected: N,
            found,
        }
    })
}

/// `forward_sequence` with `x` of `x_rows` rows and `h0`, `y`, `last` of
/// `lens` rows fails with `expected` and writes neither `y` nor `last`.
fn refuse_forward<C, const S: usize>(
    p: &Problem<C, S>,
    x_rows: usize,
    lens: [usize; 3],
    expected: NormError,
) where
    C: Cell + Default + Parameters<Scalar = f64> + StateDict<Scalar = f64>,
{
    let (x, h0) = (rows_of(&p.x, x_rows), rows_of(&p.h0, lens[0]));
    let mut y = vec![[sentinel::<C::Hidden>(); S]; lens[1]];
    let mut last = vec![sentinel::<C::State>(); lens[2]];
    let (y0, last0) = (y.clone(), last.clone());
    let result = p.layer.forward_sequence(&x, &h0, &mut y, &mut last);
    assert_eq!(
        result,
        Err(expected),
        "forward_sequence, rows {x_rows} {lens:?}"
    );
    assert!(
        y == y0 && last == last0,
        "a refused forward_sequence wrote its outputs"
    );
}

/// `backward_sequence` with `x` of `x_rows` rows and `h0`, `dy`, `d_last`,
/// `dx`, `d_h0` of `lens` rows fails with `expected` and writes neither
/// `dx`, `d_h0` nor any gradient.
fn refuse_backward<C, const S: usize>(
    p: &Problem<C, S>,
    x_rows: usize,
    lens: [usize; 5],
    expected: NormError,
) where
    C: Cell + Default + Parameters<Scalar = f64> + StateDict<Scalar = f64>,
{
    let (x, h0) = (rows_of(&p.x, x_rows), rows_of(&p.h0, lens[0]));
    let (dy, d_last) = (rows_of(&p.dy, lens[1]), rows_of(&p.d_last, lens[2]));
    let mut dx = vec![[sentinel::<C::Input>(); S]; lens[3]];
    let mut d_h0 = vec![sentinel::<C::State>(); lens[4]];
    let mut grads = C::Grads::default();
    for i in 0..<C::Grads as Gradients<f64>>::ARRAYS {
        grads.array_mut(i).fill(SENTINEL);
    }
    let arrays = |g: &C::Grads| -> Vec<Vec<f64>> {
        (0..<C::Grads as Gradients<f64>>::ARRAYS)
            .map(|i| g.array(i).to_vec())
            .collect()
    };
    let (dx0, d_h00, grads0) = (dx.clone(), d_h0.clone(), arrays(&grads));
    let result = p
        .layer
        .backward_sequence(&x, &h0, &dy, &d_last, &mut dx, &mut d_h0, &mut grads);
    assert_eq!(
        result,
        Err(expected),
        "backward_sequence, rows {x_rows} {lens:?}"
    );
    assert!(
        dx == dx0 && d_h0 == d_h00,
        "a refused backward_sequence wrote dx or d_h0"
    );
    assert!(
        arrays(&grads) == grads0,
        "a refused backward_sequence wrote gradients"
    );
}

/// Every refused sequence call returns its error and writes nothing.
fn refused<C, const S: usize>(seed: u64)
where
    C: Cell + Default + Parameters<Scalar = f64> + StateDict<Scalar = f64>,
{
    let p = Problem::<C, S>::random(seed);
    let forward_args = ["h0", "y", "last"];
    for (a, argument) in forward_args.into_iter().enumerate() {
        for found in [N - 1, N + 1] {
            let mut lens = [N; 3];
            lens[a] = found;
            refuse_forward(&p, N, lens, refusal(Some(argument), found));
        }
    }
    refuse_forward(&p, 0, [0; 3], refusal(None, 0));
    let backward_args = ["h0", "dy", "d_last", "dx", "d_h0"];
    for (a, argument) in backward_args.into_iter().enumerate() {
        for found in [N - 1, N + 1] {
            let mut lens = [N; 5];
            lens[a] = found;
            refuse_backward(&p, N, lens, refusal(Some(argument), found));
        }
    }
    refuse_backward(&p, 0, [0; 5], refusal(None, 0));
}

/// `cells! { name: Cell; ... }`: for each cell, gradients at 1, 3 and 7
/// steps, streaming and refused calls.
macro_rules! cells {
    ($($name:ident: $cell:ty;)*) => {
        $(
            mod $name {
                use super::*;

                #[test]
                fn gradients_through_1_step() {
                    gradients::<$cell, 1>(1);
                }

                #[test]
                fn gradients_through_3_steps() {
                    gradients::<$cell, 3>(3);
                }

                #[test]
                fn gradients_through_7_steps() {
                    gradients::<$cell, 7>(7);
                }

                #[test]
                fn streaming_steps_are_the_sequence_bit_for_bit() {
                    streaming::<$cell, 6>(11);
                }

                #[test]
                fn refused_calls_change_nothing() {
                    refused::<$cell, 3>(21);
                }
            }
        )*
    };
}

cells! {
    rnn_tanh: RnnCell<3, 4, f64>;
    rnn_tanh_nobias: RnnCell<3, 4, f64, false>;
    rnn_relu: RnnCell<3, 4, f64, true, ReluFn>;
    gru: GruCell<3, 4, f64>;
    gru_nobias: GruCell<3, 4, f64, false>;
    lstm: LstmCell<3, 4, f64>;
    lstm_nobias: LstmCell<3, 4, f64, false>;
    ln_lstm: LnLstmCell<3, 4, f64>;
    ln_lstm_h1: LnLstmCell<2, 1, f64>;
    ln_gru: LnGruCell<3, 4, f64>;
    ln_gru_h1: LnGruCell<2, 1, f64>;
}

/// Stacked and bidirectional layers with lengths: a 2-layer bidirectional
/// LSTM over 5 steps, examples of lengths 5, 2 and 4, against finite
/// differences of `sum(y * dy) + sum(h_n * d_h_n)` (the checks of
/// [`gradients`] over the stack), and the refusals.
mod stacked {
    use super::*;
    use constnorm::nn::{Stacked, StackedState};

    type Layer = Stacked<LstmCell<3, 4, f64>, LstmCell<8, 4, f64>, 5, 2, 1>;
    type State = StackedState<[[f64; 4]; 2], 2, 1>;
    const LENGTHS: [usize; 3] = [5, 2, 4];

    #[derive(Clone)]
    struct StackProblem {
        layer: Layer,
        x: Vec<[[f64; 3]; 5]>,
        h0: Vec<State>,
        dy: Vec<[[f64; 8]; 5]>,
        d_last: Vec<State>,
    }

    fn random_state(rng: &mut StdRng) -> State {
        let mut s = State::ZERO;
        for k in 0..2 {
            for d in 0..2 {
                *s.get_mut(k, d) = random_row(rng);
            }
        }
        s
    }

    impl StackProblem {
        fn random(seed: u64) -> Self {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut layer = Layer::default();
            constnorm::nn::init_seeded(&mut layer, seed);
            Self {
                layer,
                x: (0..3).map(|_| random_row(&mut rng)).collect(),
                h0: (0..3).map(|_| random_state(&mut rng)).collect(),
                dy: (0..3).map(|_| random_row(&mut rng)).collect(),
                d_last: (0..3).map(|_| random_state(&mut rng)).collect(),
            }
        }

        fn loss(&self) -> f64 {
            let mut y = vec![[[0.0; 8]; 5]; 3];
            let mut last = vec![State::ZERO; 3];
            self.layer
                .forward_sequence(&self.x, &self.h0, Some(&LENGTHS), &mut y, &mut last)
                .unwrap();
            let states = |s: &[State]| -> Vec<[[f64; 4]; 2]> {
                s.iter()
                    .flat_map(|s| [*s.get(0, 0), *s.get(0, 1), *s.get(1, 0), *s.get(1, 1)])
                    .collect()
            };
            dot(&y, &self.dy) + dot(&states(&last), &states(&self.d_last))
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let p = StackProblem::random(5);
        let mut dx = vec![[[SENTINEL; 3]; 5]; 3];
        let mut d_h0 = vec![State::ZERO; 3];
        let mut grads = <Layer as Parameters>::Grads::default();
        p.layer
            .backward_sequence(
                &p.x,
                &p.h0,
                Some(&LENGTHS),
                &p.dy,
                &p.d_last,
                &mut dx,
                &mut d_h0,
                &mut grads,
            )
            .unwrap();
        let check = |what: &str, got: f64, nudge: &dyn Fn(&mut StackProblem, f64)| {
            let (numeric, bound) = richardson(
                |h| {
                    let mut q = p.clone();
                    nudge(&mut q, h);
                    q.loss()
                },
                STEP,
            );
            assert!(
                (got - numeric).abs() <= TOL * numeric.abs().max(1.0) + bound,
                "{what}: backward {got:e}, finite difference {numeric:e} (+- {bound:e})"
            );
        };
        // Every input value of the short example (zero past its length) and
        // the first and last steps of the others.
        for (n, t) in [
            (1, 0),
            (1, 1),
            (1, 2),
            (1, 4),
            (0, 0),
            (0, 4),
            (2, 3),
            (2, 4),
        ] {
            for (k, &got) in dx[n][t].iter().enumerate() {
                if t >= LENGTHS[n] {
                    assert_eq!(got, 0.0, "x[{n}][{t}] past the length");
                }
                check(&format!("x[{n}][{t}][{k}]"), got, &|q, h| q.x[n][t][k] += h);
            }
        }
        // Every initial state (h and c) of every layer and direction.
        for (n, d_h0) in d_h0.iter().enumerate() {
            for (layer, d) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                for k in 0..8 {
                    let got = d_h0.get(layer, d).as_flat()[k];
                    check(
                        &format!("h0[{n}] layer {layer} dir {d} [{k}]"),
                        got,
                        &|q, h| {
                            q.h0[n].get_mut(layer, d).as_flat_mut()[k] += h;
                        },
                    );
                }
            }
        }
        // A few entries of every parameter array, by its PyTorch key.
        for i in 0..<<Layer as Parameters>::Grads as Gradients<f64>>::ARRAYS {
            let len = p.layer.parameter(i).len();
            for k in [0, len / 3, len - 1] {
                let what = format!("{}[{k}]", key_of(&p.layer, i));
                check(&what, grads.array(i)[k], &|q, h| {
                    q.layer.parameter_mut(i)[k] += h
                });
            }
        }
    }

    #[test]
    fn the_layer_is_the_sequence_pass_from_zero_states() {
        // As a `Layer`: zero initial states, every step; its backward is
        // backward_sequence's with no gradient on the final states.
        let p = StackProblem::random(6);
        let mut y = vec![[[0.0; 8]; 5]; 3];
        constnorm::Layer::forward_eval(&p.layer, &p.x, &mut y).unwrap();
        let zeros = vec![State::ZERO; 3];
        let (mut y2, mut last) = (vec![[[0.0; 8]; 5]; 3], vec![State::ZERO; 3]);
        p.layer
            .forward_sequence(&p.x, &zeros, None, &mut y2, &mut last)
            .unwrap();
        assert_eq!(y, y2);
        let mut dx = vec![[[0.0; 3]; 5]; 3];
        let mut grads = <Layer as Parameters>::Grads::default();
        let saved = constnorm::Layer::forward_eval(&p.layer, &p.x, &mut y).unwrap();
        constnorm::Layer::backward(&p.layer, &p.x, &saved, &p.dy, &mut dx, &mut grads).unwrap();
        let (mut dx2, mut d_h0) = (vec![[[0.0; 3]; 5]; 3], vec![State::ZERO; 3]);
        let mut grads2 = <Layer as Parameters>::Grads::default();
        p.layer
            .backward_sequence(
                &p.x,
                &zeros,
                None,
                &p.dy,
                &zeros,
                &mut dx2,
                &mut d_h0,
                &mut grads2,
            )
            .unwrap();
        assert_eq!(dx, dx2);
        for i in 0..<<Layer as Parameters>::Grads as Gradients<f64>>::ARRAYS {
            assert_eq!(grads.array(i), grads2.array(i));
        }
    }

    #[test]
    fn a_unidirectional_stack_streams_its_sequence_bit_for_bit() {
        // Three GRU layers, one direction: `step` from each h0 gives the
        // outputs of forward_sequence and its final states.
        type Uni = Stacked<GruCell<3, 4, f64>, GruCell<4, 4, f64>, 6, 1, 2>;
        type UniState = StackedState<[[f64; 4]; 1], 1, 2>;
        let mut rng = StdRng::seed_from_u64(9);
        let mut layer = Uni::default();
        constnorm::nn::init_seeded(&mut layer, 9);
        let x: Vec<[[f64; 3]; 6]> = (0..2).map(|_| random_row(&mut rng)).collect();
        let h0: Vec<UniState> = (0..2)
            .map(|_| UniState {
                first: [random_row(&mut rng)],
                rest: [[random_row(&mut rng)], [random_row(&mut rng)]],
            })
            .collect();
        let mut y = vec![[[0.0; 4]; 6]; 2];
        let mut last = vec![UniState::ZERO; 2];
        layer
            .forward_sequence(&x, &h0, None, &mut y, &mut last)
            .unwrap();
        for n in 0..2 {
            let mut state = h0[n];
            for t in 0..6 {
                assert_eq!(
                    layer.step(&x[n][t], &mut state),
                    y[n][t],
                    "example {n} step {t}"
                );
            }
            assert_eq!(state, last[n]);
        }
    }

    #[test]
    fn inter_layer_dropout_is_replayed_by_backward_and_advanced_by_commit() {
        use constnorm::Layer as _;
        // Three GRU layers, dropout 0.4 between them, in training passes.
        type Drop = Stacked<GruCell<3, 4, f64>, GruCell<8, 4, f64>, 5, 2, 2>;
        let mut rng = StdRng::seed_from_u64(12);
        let mut layer = Drop::default();
        constnorm::nn::init_seeded(&mut layer, 12);
        let mut layer = layer.with_dropout(0.4).with_seed(7);
        let x: Vec<[[f64; 3]; 5]> = (0..3).map(|_| random_row(&mut rng)).collect();
        let dy: Vec<[[f64; 8]; 5]> = (0..3).map(|_| random_row(&mut rng)).collect();
        let run = |layer: &mut Drop, x: &[[[f64; 3]; 5]]| {
            let mut y = vec![[[0.0; 8]; 5]; 3];
            let saved = layer.forward_train_deferred(x, &mut y).unwrap();
            (y, saved)
        };
        // The same pass gives the same masks; inference has none.
        let (y0, saved) = run(&mut layer, &x);
        assert_eq!(saved.pass, Some(0));
        assert_eq!(run(&mut layer, &x).0, y0);
        let mut eval = vec![[[0.0; 8]; 5]; 3];
        layer.forward_eval(&x, &mut eval).unwrap();
        assert_ne!(eval, y0);
        let mut plain = vec![[[0.0; 8]; 5]; 3];
        layer
            .clone()
            .with_dropout(0.0)
            .forward_train(&x, &mut plain)
            .unwrap();
        assert_eq!(plain, eval);
        // Backward replays the pass's masks: finite differences of the
        // training pass (its masks fixed) agree.
        let mut dx = vec![[[0.0; 3]; 5]; 3];
        let mut grads = <Drop as Parameters>::Grads::default();
        layer
            .backward(&x, &saved, &dy, &mut dx, &mut grads)
            .unwrap();
        let loss = |layer: &Drop, x: &[[[f64; 3]; 5]]| {
            let mut layer = layer.clone();
            let (y, _) = run(&mut layer, x);
            dot(&y, &dy)
        };
        for (n, t, k) in [(0, 0, 0), (1, 2, 1), (2, 4, 2)] {
            let (numeric, bound) = richardson(
                |h| {
                    let mut x = x.clone();
                    x[n][t][k] += h;
                    loss(&layer, &x)
                },
                STEP,
            );
            let got = dx[n][t][k];
            assert!(
                (got - numeric).abs() <= TOL * numeric.abs().max(1.0) + bound,
                "x[{n}][{t}][{k}]: backward {got:e}, finite difference {numeric:e}"
            );
        }
        for i in 0..<<Drop as Parameters>::Grads as Gradients<f64>>::ARRAYS {
            let (numeric, bound) = richardson(
                |h| {
                    let mut layer = layer.clone();
                    layer.parameter_mut(i)[1] += h;
                    loss(&layer, &x)
                },
                STEP,
            );
            let got = grads.array(i)[1];
            assert!(
                (got - numeric).abs() <= TOL * numeric.abs().max(1.0) + bound,
                "{}[1]: backward {got:e}, finite difference {numeric:e}",
                key_of(&layer, i)
            );
        }
        // A commit moves to the next masks.
        layer.commit_train(&x, &saved);
        assert_eq!(layer.passes(), 1);
        assert_ne!(run(&mut layer, &x).0, y0);
        // Dropout 1 cuts the stack: no gradient reaches the input.
        let mut all = layer.clone().with_dropout(1.0);
        let (_, saved) = run(&mut all, &x);
        all.backward(&x, &saved, &dy, &mut dx, &mut grads).unwrap();
        assert!(dx.iter().flatten().flatten().all(|v| *v == 0.0));
    }

    #[test]
    fn bad_lengths_and_row_counts_are_refused_and_change_nothing() {
        let p = StackProblem::random(7);
        let mut y = vec![[[SENTINEL; 8]; 5]; 3];
        let mut last = vec![State::ZERO; 3];
        for (lengths, error) in [
            (
                &[5, 0, 4][..],
                NormError::LengthOutOfRange {
                    row: 1,
                    length: 0,
                    steps: 5,
                },
            ),
            (
                &[5, 2, 6][..],
                NormError::LengthOutOfRange {
                    row: 2,
                    length: 6,
                    steps: 5,
                },
            ),
            (
                &[5, 2][..],
                NormError::RowCountMismatch {
                    argument: "lengths",
                    expected: 3,
                    found: 2,
                },
            ),
        ] {
            assert_eq!(
                p.layer
                    .forward_sequence(&p.x, &p.h0, Some(lengths), &mut y, &mut last),
                Err(error)
            );
            let mut dx = vec![[[SENTINEL; 3]; 5]; 3];
            let mut d_h0 = vec![State::ZERO; 3];
            let mut grads = <Layer as Parameters>::Grads::default();
            grads.array_mut(0).fill(SENTINEL);
            assert_eq!(
                p.layer.backward_sequence(
                    &p.x,
                    &p.h0,
                    Some(lengths),
                    &p.dy,
                    &p.d_last,
                    &mut dx,
                    &mut d_h0,
                    &mut grads
                ),
                Err(error)
            );
            assert!(dx.iter().flatten().flatten().all(|v| *v == SENTINEL));
            assert!(grads.array(0).iter().all(|v| *v == SENTINEL));
            assert!(d_h0.iter().all(|s| *s == State::ZERO));
        }
        assert!(y.iter().flatten().flatten().all(|v| *v == SENTINEL));
        assert_eq!(
            p.layer
                .forward_sequence(&p.x, &p.h0[..2], None, &mut y, &mut last),
            Err(NormError::RowCountMismatch {
                argument: "h0",
                expected: 3,
                found: 2
            })
        );
        assert_eq!(
            NormError::LengthOutOfRange {
                row: 1,
                length: 0,
                steps: 5
            }
            .to_string(),
            "example 1 has length 0, out of range for sequences of 5 steps"
        );
    }
}

/// The layer-normalized cells' `eps` (`LayerNorm(eps=...)`): another value
/// changes the outputs, and backpropagation through time still matches
/// finite differences with it; the default is `LN_EPS`.
#[test]
fn the_ln_cells_take_their_layer_norms_eps() {
    use constnorm::nn::LN_EPS;
    let mut rng = StdRng::seed_from_u64(31);
    let x: Vec<[[f64; 3]; 4]> = (0..2).map(|_| random_row(&mut rng)).collect();
    let dy: Vec<[[f64; 4]; 4]> = (0..2).map(|_| random_row(&mut rng)).collect();
    fn run<C: Cell<Input = [f64; 3], Hidden = [f64; 4]> + Parameters<Scalar = f64>>(
        layer: &Recurrent<C, 4>,
        x: &[[[f64; 3]; 4]],
        dy: &[[[f64; 4]; 4]],
    ) -> f64 {
        let mut y = vec![[[0.0; 4]; 4]; 2];
        constnorm::Layer::forward_eval(layer, x, &mut y).unwrap();
        dot(&y, dy)
    }
    macro_rules! check {
        ($cell:ty) => {{
            let mut layer = Recurrent::<$cell, 4>::new();
            constnorm::nn::init_seeded(&mut layer, 31);
            assert_eq!(layer.cell.eps, LN_EPS);
            let default = run(&layer, &x, &dy);
            layer.cell.eps = 0.5;
            assert_ne!(run(&layer, &x, &dy), default);
            let mut dx = vec![[[0.0; 3]; 4]; 2];
            let mut grads = <$cell as Parameters>::Grads::default();
            let saved =
                constnorm::Layer::forward_eval(&layer, &x, &mut vec![[[0.0; 4]; 4]; 2]).unwrap();
            constnorm::Layer::backward(&layer, &x, &saved, &dy, &mut dx, &mut grads).unwrap();
            for (n, t, k) in [(0, 0, 0), (1, 3, 2)] {
                let (numeric, bound) = richardson(
                    |h| {
                        let mut x = x.clone();
                        x[n][t][k] += h;
                        run(&layer, &x, &dy)
                    },
                    STEP,
                );
                assert!((dx[n][t][k] - numeric).abs() <= TOL * numeric.abs().max(1.0) + bound);
            }
            for i in 0..<<$cell as Parameters>::Grads as Gradients<f64>>::ARRAYS {
                let (numeric, bound) = richardson(
                    |h| {
                        let mut layer = layer.clone();
                        layer.parameter_mut(i)[0] += h;
                        run(&layer, &x, &dy)
                    },
                    STEP,
                );
                let got = grads.array(i)[0];
                assert!(
                    (got - numeric).abs() <= TOL * numeric.abs().max(1.0) + bound,
                    "{}[0]: {got:e} vs {numeric:e}",
                    key_of(&layer, i)
                );
            }
        }};
    }
    check!(LnLstmCell<3, 4, f64>);
    check!(LnGruCell<3, 4, f64>);
}
