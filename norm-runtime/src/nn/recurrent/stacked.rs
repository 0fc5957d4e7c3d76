//! Stacked and bidirectional recurrent layers: PyTorch's `torch.nn.RNN` /
//! `GRU` / `LSTM` with `num_layers` and `bidirectional`, and sequences of
//! different lengths (`pack_padded_sequence` with `enforce_sorted=False`).
//!
//! [`Stacked`] holds `D` cells (1, or 2 for bidirectional: forward, then
//! reverse) per layer: layer 0's cells (`C0`) read the input, the cells of
//! layers 1 to `L1` (`C1`) read the layer below's output. At step `t` a
//! layer's output is `concat(forward_t, reverse_t)`, `D * H` values, which
//! is `C1`'s input: so `C1` is named even with one layer (`L1 = 0`), where
//! it only gives the output's type.
//!
//! For an example of length `len` (all `S` steps without lengths) only steps
//! `t < len` exist, in every layer and direction: the forward direction runs
//! `t = 0 .. len - 1` from its `h0`, the reverse direction from the example's
//! own last step `t = len - 1` down to `t = 0`; the outputs past `len` are
//! zero, and the final states (`h_n`, `c_n`) are the forward direction's
//! after step `len - 1` and the reverse direction's after step `0`. This is
//! the example run alone on its first `len` steps, as PyTorch's packed
//! sequences give.

use super::{Cell, check_rows};
use crate::nn::DropoutSaved;
use crate::nn::dropout::mix;
use crate::nn::{check_backward, check_forward, check_lengths};
use crate::state::{Key, Visit, VisitCounter, VisitCounterMut, VisitMut};
use crate::{Float, Gradients, Layer, NormError, Parameters, Row, StateDict};
use core::fmt::Debug;

/// The most layers a [`Stacked`] layer has (the state-dict names are a
/// table).
pub const MAX_LAYERS: usize = 16;

/// `"0"` to `"15"`: the layer indices of the state-dict keys.
pub(super) const LAYER_NAMES: [&str; MAX_LAYERS] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15",
];

/// The state of every layer and direction of a [`Stacked`] layer, for one
/// example: PyTorch's `h0` and `h_n` (and, in each `St` of an LSTM, `c0`
/// and `c_n`). `first[d]` is layer 0's direction `d` (0 forward, 1
/// reverse), `rest[k - 1][d]` layer `k`'s: PyTorch's row `k * D + d`
/// ([`get`](Self::get)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StackedState<St, const D: usize, const L1: usize> {
    /// Layer 0, by direction.
    pub first: [St; D],
    /// Layers 1 to `L1`, by direction.
    pub rest: [[St; D]; L1],
}

impl<St: Row, const D: usize, const L1: usize> StackedState<St, D, L1> {
    /// Every state zero (PyTorch's default `h0`).
    pub const ZERO: Self = Self {
        first: [St::ZERO; D],
        rest: [[St::ZERO; D]; L1],
    };

    /// The state of layer `layer`, direction `direction` (PyTorch's row
    /// `layer * D + direction`).
    ///
    /// # Panics
    /// If `layer > L1` or `direction >= D`.
    #[must_use]
    pub fn get(&self, layer: usize, direction: usize) -> &St {
        match layer {
            0 => &self.first[direction],
            k => &self.rest[k - 1][direction],
        }
    }

    /// [`get`](Self::get), for writing.
    ///
    /// # Panics
    /// If `layer > L1` or `direction >= D`.
    pub fn get_mut(&mut self, layer: usize, direction: usize) -> &mut St {
        match layer {
            0 => &mut self.first[direction],
            k => &mut self.rest[k - 1][direction],
        }
    }
}

impl<St: Row, const D: usize, const L1: usize> Default for StackedState<St, D, L1> {
    fn default() -> Self {
        Self::ZERO
    }
}

impl<C0: Cell, C1: Cell, const S: usize, const D: usize, const L1: usize>
    Stacked<C0, C1, S, D, L1>
{
    /// The geometry, checked when the layer is used or its state dict visited
    /// (the keys are a table of `MAX_LAYERS` layers).
    const CHECK: () = {
        assert!(
            D == 1 || D == 2,
            "D is the number of directions: 1, or 2 for bidirectional"
        );
        assert!(L1 < MAX_LAYERS, "at most 16 layers (L1 = layers - 1)");
        assert!(
            <C1::Input as Row>::LEN == D * <C0::Hidden as Row>::LEN,
            "the upper layers' cells read D * H values a step (the layer below's output, both directions): C1's input must be [T; D * H]"
        );
    };
}

/// `L1 + 1` layers of `D` directions of recurrent cells over sequences of
/// `S` steps: `torch.nn.RNN` / `GRU` / `LSTM(I, H, num_layers = L1 + 1,
/// bidirectional = D == 2, batch_first = True)` with `C0` its layer-0 cell
/// (input `I`) and `C1` the cell of the layers above (input `D * H`), under
/// PyTorch's state-dict names (`weight_ih_l1_reverse`; the layer-normalized
/// cells take `layers.1.` in front of their names, see
/// [`Cell::stacked_key`]). One example is `[[T; I]; S]`, its output
/// `[[T; D * H]; S]` (the last layer's; `[..H]` forward, `[H..]` reverse).
///
/// - [`forward_sequence`](Self::forward_sequence) /
///   [`backward_sequence`](Self::backward_sequence): given initial states
///   ([`StackedState`], PyTorch's `h0` / `c0`) and optional lengths, the
///   output and every final state, and full backpropagation through time.
/// - [`Layer`]: zero initial states, every example `S` steps long, so it
///   chains in `#[network]`.
///
/// PyTorch's inter-layer `dropout` is [`with_dropout`](Self::with_dropout)
/// (0 by default), applied in training passes between layers.
///
/// ```
/// use constnorm::nn::{GruCell, Stacked};
/// // nn.GRU(12, 32, num_layers=2, bidirectional=True, batch_first=True)
/// // on sequences of 20 steps.
/// type BiGru = Stacked<GruCell<12, 32>, GruCell<64, 32>, 20, 2, 1>;
/// let gru = BiGru::default();
/// let mut keys = Vec::new();
/// constnorm::StateDict::visit_arrays(&gru, &mut |key, _, _| keys.push(key.to_string()));
/// assert_eq!(keys[4], "weight_ih_l0_reverse");
/// assert_eq!(keys[8], "weight_ih_l1");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Stacked<C0, C1, const S: usize, const D: usize, const L1: usize> {
    /// Layer 0's cells: forward, then (bidirectional) reverse.
    pub first: [C0; D],
    /// Layers 1 to `L1`, each `D` cells fed the layer below's output.
    pub rest: [[C1; D]; L1],
    /// The inter-layer dropout: its probability, seed and training passes.
    dropout: (f64, u64, u64),
}

/// The seeded inter-layer dropout of a [`Stacked`] layer: value `j` of step
/// `t` of example `n`, between layers `k` and `k + 1`, in training pass
/// `pass`, is dropped when a hash of `(seed, pass, k, n, t, j)` maps below
/// `p`; kept values are scaled by `1 / (1 - p)` (PyTorch's inverted
/// dropout). As [`Dropout`](crate::nn::Dropout)'s, the masks are
/// reproducible, and backward replays them from the pass number.
#[derive(Clone, Copy)]
struct Mask {
    p: f64,
    seed: u64,
    pass: u64,
    n: usize,
}

impl Mask {
    /// Multiplies `out` (the output of layer `k`) by the mask.
    fn apply<O: Row, const S: usize>(&self, k: usize, out: &mut [O; S]) {
        let keep = O::Scalar::ONE / O::Scalar::from_f64(1.0 - self.p);
        let stream = mix(mix(mix(self.seed) ^ self.pass) ^ k as u64);
        for (t, out) in out.iter_mut().enumerate() {
            // Example, step and value mixed in stages: no two positions
            // share a draw, whatever the sizes.
            let step = mix(mix(stream ^ self.n as u64) ^ t as u64);
            for (j, v) in out.as_flat_mut().iter_mut().enumerate() {
                // 53 random bits as a uniform draw in [0, 1).
                #[allow(clippy::cast_precision_loss)]
                let u = (mix(step ^ j as u64) >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
                *v = if self.p >= 1.0 || u < self.p {
                    O::Scalar::ZERO
                } else {
                    *v * keep
                };
            }
        }
    }
}

/// The gradients of a [`Stacked`] layer's cells, laid out as the layer.
#[derive(Clone, Debug)]
pub struct StackedGrads<G0, G1, const D: usize, const L1: usize> {
    /// Layer 0's, by direction.
    pub first: [G0; D],
    /// Layers 1 to `L1`'s, by direction.
    pub rest: [[G1; D]; L1],
}

impl<G0: Default, G1: Default, const D: usize, const L1: usize> Default
    for StackedGrads<G0, G1, D, L1>
{
    fn default() -> Self {
        Self {
            first: core::array::from_fn(|_| G0::default()),
            rest: core::array::from_fn(|_| core::array::from_fn(|_| G1::default())),
        }
    }
}

/// Where array `i` of a stack is: layer 0's `D` cells of `a0` arrays each,
/// then `L1` layers of `D` cells of `a1` arrays: `(layer, direction,
/// array)`, or `None` past the end.
fn locate(i: usize, d: usize, l1: usize, a0: usize, a1: usize) -> Option<(usize, usize, usize)> {
    if i < d * a0 {
        return Some((0, i / a0, i % a0));
    }
    let j = i - d * a0;
    if j < l1 * d * a1 {
        return Some((1 + j / (d * a1), j / a1 % d, j % a1));
    }
    None
}

impl<T, G0, G1, const D: usize, const L1: usize> Gradients<T> for StackedGrads<G0, G1, D, L1>
where
    T: crate::Float,
    G0: Gradients<T>,
    G1: Gradients<T>,
{
    const ARRAYS: usize = D * G0::ARRAYS + L1 * D * G1::ARRAYS;

    fn array(&self, i: usize) -> &[T] {
        match locate(i, D, L1, G0::ARRAYS, G1::ARRAYS) {
            Some((0, d, a)) => self.first[d].array(a),
            Some((k, d, a)) => self.rest[k - 1][d].array(a),
            None => &[],
        }
    }

    fn array_mut(&mut self, i: usize) -> &mut [T] {
        match locate(i, D, L1, G0::ARRAYS, G1::ARRAYS) {
            Some((0, d, a)) => self.first[d].array_mut(a),
            Some((k, d, a)) => self.rest[k - 1][d].array_mut(a),
            None => &mut [],
        }
    }
}

/// What a forward pass of one example keeps for its backward pass: every
/// layer's and direction's states and caches, and the output of every
/// layer but the last (the next layer's input). On the stack, sized by the
/// layer.
struct Tape<C0: Cell, C1: Cell, const S: usize, const D: usize, const L1: usize> {
    states0: [[C0::State; S]; D],
    caches0: [[C0::Cache; S]; D],
    states: [[[C1::State; S]; D]; L1],
    caches: [[[C1::Cache; S]; D]; L1],
    outputs: [[C1::Input; S]; L1],
}

impl<C0: Cell, C1: Cell, const S: usize, const D: usize, const L1: usize> Tape<C0, C1, S, D, L1> {
    fn new() -> Self {
        Self {
            states0: [[C0::State::ZERO; S]; D],
            caches0: [[C0::EMPTY_CACHE; S]; D],
            states: [[[C1::State::ZERO; S]; D]; L1],
            caches: [[[C1::EMPTY_CACHE; S]; D]; L1],
            outputs: [[C1::Input::ZERO; S]; L1],
        }
    }
}

/// Step `i` (`0..len`) of a direction is time step `t`.
#[inline]
fn time(i: usize, len: usize, reverse: bool) -> usize {
    if reverse { len - 1 - i } else { i }
}

/// One direction over the first `len` steps of `x` from `h0`: the state
/// after time step `t` in `states[t]`; returns the final state.
fn run_direction<C: Cell, const S: usize>(
    cell: &C,
    x: &[C::Input; S],
    h0: &C::State,
    (len, reverse): (usize, bool),
    states: &mut [C::State; S],
    caches: &mut [C::Cache; S],
) -> C::State {
    let mut previous = *h0;
    for i in 0..len {
        let t = time(i, len, reverse);
        cell.step(&x[t], &previous, &mut states[t], &mut caches[t]);
        previous = states[t];
    }
    previous
}

/// Writes direction `d`'s hidden states into its half of `out` (`H`
/// values at `d * H` of each step), zeros past `len`.
fn write_direction<C: Cell, O: Row<Scalar = <C as Parameters>::Scalar>, const S: usize>(
    states: &[C::State; S],
    len: usize,
    d: usize,
    out: &mut [O; S],
) {
    let h = <C::Hidden as Row>::LEN;
    for (t, out) in out.iter_mut().enumerate() {
        let half = &mut out.as_flat_mut()[d * h..][..h];
        if t < len {
            half.copy_from_slice(C::hidden(&states[t]).as_flat());
        } else {
            half.fill(<C as Parameters>::Scalar::default());
        }
    }
}

/// Backpropagation through time of one direction run by [`run_direction`]:
/// `dy` is the gradient of the layer's output (this direction's half is
/// read), `d_last` that of the final state; adds (`+=`) the input's
/// gradient into `dx` and the parameters' into `grads`, and returns the
/// gradient of `h0`.
#[allow(clippy::too_many_arguments)]
fn backward_direction<C: Cell, O: Row<Scalar = <C as Parameters>::Scalar>, const S: usize>(
    cell: &C,
    x: &[C::Input; S],
    h0: &C::State,
    (len, reverse): (usize, bool),
    (states, caches): (&[C::State; S], &[C::Cache; S]),
    (dy, d): (&[O; S], usize),
    d_last: &C::State,
    dx: &mut [C::Input; S],
    grads: &mut C::Grads,
) -> C::State {
    let h = <C::Hidden as Row>::LEN;
    let mut grad = *d_last;
    for i in (0..len).rev() {
        let t = time(i, len, reverse);
        let dh = C::hidden_mut(&mut grad).as_flat_mut();
        for (g, y) in dh.iter_mut().zip(&dy[t].as_flat()[d * h..][..h]) {
            *g += *y;
        }
        let previous = match (i, reverse) {
            (0, _) => h0,
            (_, false) => &states[t - 1],
            (_, true) => &states[t + 1],
        };
        let mut d_previous = C::State::ZERO;
        let mut dx_t = C::Input::ZERO;
        cell.step_backward(
            &x[t],
            previous,
            &caches[t],
            &grad,
            &mut dx_t,
            &mut d_previous,
            grads,
        );
        for (a, b) in dx[t].as_flat_mut().iter_mut().zip(dx_t.as_flat()) {
            *a += *b;
        }
        grad = d_previous;
    }
    grad
}

/// The length of example `row`: `lengths[row]`, or every step.
fn length(lengths: Option<&[usize]>, row: usize, steps: usize) -> usize {
    lengths.map_or(steps, |l| l[row])
}

impl<C0, C1, const S: usize, const D: usize, const L1: usize> Stacked<C0, C1, S, D, L1>
where
    C0: Cell,
    C1: Cell<State = C0::State, Hidden = C0::Hidden>
        + Parameters<Scalar = <C0 as Parameters>::Scalar>,
{
    /// The state-dict key of `key` of the cell of `layer`, direction `d`.
    fn key_of<C: Cell>(key: &Key<'_>, layer: usize, d: usize, f: &mut dyn FnMut(&Key<'_>)) {
        C::stacked_key(key, layer, d == 1, f);
    }

    /// Runs one example: its output into `y`, its final states into `last`.
    fn run(
        &self,
        x: &[C0::Input; S],
        h0: &StackedState<C0::State, D, L1>,
        len: usize,
        tape: &mut Tape<C0, C1, S, D, L1>,
        (y, last): (&mut [C1::Input; S], &mut StackedState<C0::State, D, L1>),
        mask: Option<Mask>,
    ) {
        for d in 0..D {
            let (states, caches) = (&mut tape.states0[d], &mut tape.caches0[d]);
            last.first[d] = run_direction(
                &self.first[d],
                x,
                &h0.first[d],
                (len, d == 1),
                states,
                caches,
            );
        }
        {
            let out = if L1 == 0 {
                &mut *y
            } else {
                &mut tape.outputs[0]
            };
            for d in 0..D {
                write_direction::<C0, _, S>(&tape.states0[d], len, d, out);
            }
            if let (Some(mask), true) = (mask, L1 > 0) {
                mask.apply(0, out);
            }
        }
        for k in 0..L1 {
            let (below, above) = tape.outputs.split_at_mut(k + 1);
            let input = &below[k];
            for d in 0..D {
                let (states, caches) = (&mut tape.states[k][d], &mut tape.caches[k][d]);
                let h0 = &h0.rest[k][d];
                last.rest[k][d] =
                    run_direction(&self.rest[k][d], input, h0, (len, d == 1), states, caches);
            }
            let out = if k + 1 == L1 { &mut *y } else { &mut above[0] };
            for d in 0..D {
                write_direction::<C1, _, S>(&tape.states[k][d], len, d, out);
            }
            if let (Some(mask), true) = (mask, k + 1 < L1) {
                mask.apply(k + 1, out);
            }
        }
    }

    /// Backpropagation through time for one example run by [`Self::run`]
    /// into `tape`: writes `dx` and `d_h0`, adds the parameters' gradients.
    #[allow(clippy::too_many_arguments)]
    fn run_backward(
        &self,
        x: &[C0::Input; S],
        h0: &StackedState<C0::State, D, L1>,
        len: usize,
        tape: &Tape<C0, C1, S, D, L1>,
        dy: &[C1::Input; S],
        d_last: &StackedState<C0::State, D, L1>,
        dx: &mut [C0::Input; S],
        d_h0: &mut StackedState<C0::State, D, L1>,
        grads: &mut StackedGrads<C0::Grads, C1::Grads, D, L1>,
        mask: Option<Mask>,
    ) {
        let mut d_out = *dy;
        for k in (0..L1).rev() {
            let input = &tape.outputs[k];
            let mut d_in = [C1::Input::ZERO; S];
            for d in 0..D {
                d_h0.rest[k][d] = backward_direction(
                    &self.rest[k][d],
                    input,
                    &h0.rest[k][d],
                    (len, d == 1),
                    (&tape.states[k][d], &tape.caches[k][d]),
                    (&d_out, d),
                    &d_last.rest[k][d],
                    &mut d_in,
                    &mut grads.rest[k][d],
                );
            }
            // Through the mask between layers `k` and `k + 1`.
            if let Some(mask) = mask {
                mask.apply(k, &mut d_in);
            }
            d_out = d_in;
        }
        *dx = [C0::Input::ZERO; S];
        for d in 0..D {
            d_h0.first[d] = backward_direction(
                &self.first[d],
                x,
                &h0.first[d],
                (len, d == 1),
                (&tape.states0[d], &tape.caches0[d]),
                (&d_out, d),
                &d_last.first[d],
                dx,
                &mut grads.first[d],
            );
        }
    }

    /// The forward pass from given initial states: `y[n]` is the last
    /// layer's output for example `n` (zero past its length) and `last[n]`
    /// every layer's and direction's final state (PyTorch's `output` and
    /// `h_n` / `(h_n, c_n)`). `lengths` (one per example, each in
    /// `1..=S`) runs example `n` on its first `lengths[n]` steps only, as
    /// `pack_padded_sequence(x, lengths, batch_first=True,
    /// enforce_sorted=False)` does; `None` runs every step.
    ///
    /// # Errors
    /// [`NormError::EmptyBatch`], [`NormError::RowCountMismatch`] if an
    /// argument does not have a row per example, or
    /// [`NormError::LengthOutOfRange`]; nothing is written.
    pub fn forward_sequence(
        &self,
        x: &[[C0::Input; S]],
        h0: &[StackedState<C0::State, D, L1>],
        lengths: Option<&[usize]>,
        y: &mut [[C1::Input; S]],
        last: &mut [StackedState<C0::State, D, L1>],
    ) -> Result<(), NormError> {
        let () = Self::CHECK;
        check_rows(
            x.len(),
            &[("h0", h0.len()), ("y", y.len()), ("last", last.len())],
        )?;
        if let Some(lengths) = lengths {
            check_lengths(lengths, x.len(), (1, S))?;
        }
        let mut tape = Tape::new();
        let rows = x.iter().zip(h0).zip(y.iter_mut()).zip(last.iter_mut());
        for (n, (((x, h0), y), last)) in rows.enumerate() {
            self.run(x, h0, length(lengths, n, S), &mut tape, (y, last), None);
        }
        Ok(())
    }

    /// Backpropagation through time for
    /// [`forward_sequence`](Self::forward_sequence) on the same `x`, `h0`
    /// and `lengths`: from the gradients `dy` of the outputs (read only at
    /// the steps that exist) and `d_last` of the final states, writes the
    /// gradients `dx` of the inputs (zero past each length) and `d_h0` of
    /// the initial states, and adds every parameter's gradient into
    /// `grads`.
    ///
    /// # Errors
    /// As [`forward_sequence`](Self::forward_sequence); nothing is written.
    #[allow(clippy::too_many_arguments)]
    pub fn backward_sequence(
        &self,
        x: &[[C0::Input; S]],
        h0: &[StackedState<C0::State, D, L1>],
        lengths: Option<&[usize]>,
        dy: &[[C1::Input; S]],
        d_last: &[StackedState<C0::State, D, L1>],
        dx: &mut [[C0::Input; S]],
        d_h0: &mut [StackedState<C0::State, D, L1>],
        grads: &mut StackedGrads<C0::Grads, C1::Grads, D, L1>,
    ) -> Result<(), NormError> {
        let () = Self::CHECK;
        let lens = [
            ("h0", h0.len()),
            ("dy", dy.len()),
            ("d_last", d_last.len()),
            ("dx", dx.len()),
            ("d_h0", d_h0.len()),
        ];
        check_rows(x.len(), &lens)?;
        if let Some(lengths) = lengths {
            check_lengths(lengths, x.len(), (1, S))?;
        }
        let mut tape = Tape::new();
        let mut y = [C1::Input::ZERO; S];
        let mut last = StackedState::ZERO;
        let rows = x.iter().zip(h0).zip(dy).zip(d_last).zip(dx).zip(d_h0);
        for (n, (((((x, h0), dy), d_last), dx), d_h0)) in rows.enumerate() {
            let len = length(lengths, n, S);
            self.run(x, h0, len, &mut tape, (&mut y, &mut last), None);
            self.run_backward(x, h0, len, &tape, dy, d_last, dx, d_h0, grads, None);
        }
        Ok(())
    }
}

impl<C0, C1, const S: usize, const L1: usize> Stacked<C0, C1, S, 1, L1>
where
    C0: Cell,
    C1: Cell<State = C0::State, Hidden = C0::Hidden>
        + Parameters<Scalar = <C0 as Parameters>::Scalar>,
{
    /// Streaming inference of a unidirectional stack: one time step from
    /// `state` (every layer's, updated in place), returning the last
    /// layer's hidden state. The same arithmetic as each step of
    /// [`forward_sequence`](Self::forward_sequence), so stepping through a
    /// sequence gives its outputs and final states bit for bit. (A reverse
    /// direction needs the whole sequence first: bidirectional stacks do
    /// not stream.)
    pub fn step(&self, x: &C0::Input, state: &mut StackedState<C0::State, 1, L1>) -> C0::Hidden {
        let () = Self::CHECK;
        let mut cache0 = C0::EMPTY_CACHE;
        let previous = state.first[0];
        self.first[0].step(x, &previous, &mut state.first[0], &mut cache0);
        let mut h = *C0::hidden(&state.first[0]);
        let mut cache = C1::EMPTY_CACHE;
        for (cell, state) in self.rest.iter().zip(&mut state.rest) {
            // The layer below's output is this layer's input (`H` values).
            let mut input = C1::Input::ZERO;
            input.as_flat_mut().copy_from_slice(h.as_flat());
            let previous = state[0];
            cell[0].step(&input, &previous, &mut state[0], &mut cache);
            h = *C1::hidden(&state[0]);
        }
        h
    }
}

impl<C0, C1, const S: usize, const D: usize, const L1: usize> Stacked<C0, C1, S, D, L1>
where
    C0: Cell + crate::InPlace,
    C1: Cell + crate::InPlace,
{
    /// Every cell's `Default`, built straight on the heap with no copy on
    /// the stack: for stacks too large for it (two bidirectional layers of
    /// `GruCell<512, 1024>` are 56 MiB) in debug builds and on small
    /// thread stacks.
    #[cfg(feature = "std")]
    #[must_use]
    pub fn new_boxed() -> Box<Self> {
        crate::network::boxed::<Self>()
    }
}

// SAFETY: `init_at` writes every field: the dropout settings, and each of
// the two arrays' cells (`D` of `C0`, then `L1 * D` of `C1`, an array of arrays being
// its elements one after another) with the cell's own `init_at`, which
// leaves a valid cell: arrays of valid cells are valid.
unsafe impl<C0, C1, const S: usize, const D: usize, const L1: usize> crate::InPlace
    for Stacked<C0, C1, S, D, L1>
where
    C0: crate::InPlace,
    C1: crate::InPlace,
{
    #[inline]
    unsafe fn init_at(p: *mut Self) {
        // SAFETY: the caller's `p` is valid for writes and aligned, so are
        // its fields, and `first` holds `D` cells and `rest` `L1 * D`.
        unsafe {
            let first = core::ptr::addr_of_mut!((*p).first).cast::<C0>();
            for d in 0..D {
                C0::init_at(first.add(d));
            }
            let rest = core::ptr::addr_of_mut!((*p).rest).cast::<C1>();
            for i in 0..L1 * D {
                C1::init_at(rest.add(i));
            }
            core::ptr::addr_of_mut!((*p).dropout).write((0.0, 0, 0));
        }
    }
}

impl<C0: Default, C1: Default, const S: usize, const D: usize, const L1: usize> Default
    for Stacked<C0, C1, S, D, L1>
{
    /// Every cell's `Default` (parameters zero; initialize with
    /// [`init_seeded`](crate::nn::init_seeded)).
    fn default() -> Self {
        Self {
            first: core::array::from_fn(|_| C0::default()),
            rest: core::array::from_fn(|_| core::array::from_fn(|_| C1::default())),
            dropout: (0.0, 0, 0),
        }
    }
}

impl<C0, C1, const S: usize, const D: usize, const L1: usize> Stacked<C0, C1, S, D, L1> {
    /// The same layer with PyTorch's inter-layer `dropout = p`: in a
    /// training pass each value of every layer's output but the last is
    /// zeroed with probability `p` and the others scaled by `1 / (1 - p)`;
    /// inference and [`forward_sequence`](Self::forward_sequence) apply no
    /// dropout. The masks come from the layer's own seeded generator (as
    /// [`Dropout`](crate::nn::Dropout)'s: reproducible, replayed by
    /// backward, advanced when a training pass commits), not PyTorch's.
    /// Neither the probability nor the seed is in the state dict (PyTorch
    /// keeps neither), so serde gives them back as 0.
    ///
    /// # Panics
    /// If `p` is not in `[0, 1]` (PyTorch's `ValueError`).
    #[must_use]
    pub fn with_dropout(mut self, p: f64) -> Self {
        assert!(
            (0.0..=1.0).contains(&p),
            "Stacked: dropout must be between 0 and 1"
        );
        self.dropout.0 = p;
        self
    }

    /// The same layer drawing its dropout masks from `seed`, from its first
    /// training pass again.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.dropout = (self.dropout.0, seed, 0);
        self
    }

    /// The inter-layer dropout probability.
    #[must_use]
    pub fn dropout(&self) -> f64 {
        self.dropout.0
    }

    /// The training passes made so far (which dropout masks come next).
    #[must_use]
    pub fn passes(&self) -> u64 {
        self.dropout.2
    }

    /// The mask of training pass `pass` for example `n`, if any dropout.
    fn mask(&self, pass: Option<u64>, n: usize) -> Option<Mask> {
        let (p, seed, _) = self.dropout;
        let pass = pass?;
        (p > 0.0 && L1 > 0).then_some(Mask { p, seed, pass, n })
    }
}

impl<C0, C1, const S: usize, const D: usize, const L1: usize> Parameters
    for Stacked<C0, C1, S, D, L1>
where
    C0: Cell,
    C1: Cell + Parameters<Scalar = <C0 as Parameters>::Scalar>,
{
    type Scalar = <C0 as Parameters>::Scalar;
    type Grads = StackedGrads<C0::Grads, C1::Grads, D, L1>;

    fn parameter(&self, i: usize) -> &[Self::Scalar] {
        let (a0, a1) = (
            <C0::Grads as Gradients<Self::Scalar>>::ARRAYS,
            <C1::Grads as Gradients<Self::Scalar>>::ARRAYS,
        );
        match locate(i, D, L1, a0, a1) {
            Some((0, d, a)) => self.first[d].parameter(a),
            Some((k, d, a)) => self.rest[k - 1][d].parameter(a),
            None => &[],
        }
    }

    fn parameter_mut(&mut self, i: usize) -> &mut [Self::Scalar] {
        let (a0, a1) = (
            <C0::Grads as Gradients<Self::Scalar>>::ARRAYS,
            <C1::Grads as Gradients<Self::Scalar>>::ARRAYS,
        );
        match locate(i, D, L1, a0, a1) {
            Some((0, d, a)) => self.first[d].parameter_mut(a),
            Some((k, d, a)) => self.rest[k - 1][d].parameter_mut(a),
            None => &mut [],
        }
    }

    fn reset_parameters<R: rand::Rng + ?Sized>(&mut self, rng: &mut R) {
        for cell in &mut self.first {
            cell.reset_parameters(rng);
        }
        for cell in self.rest.iter_mut().flatten() {
            cell.reset_parameters(rng);
        }
    }
}

impl<C0, C1, const S: usize, const D: usize, const L1: usize> StateDict
    for Stacked<C0, C1, S, D, L1>
where
    C0: Cell,
    C1: Cell<State = C0::State, Hidden = C0::Hidden>
        + Parameters<Scalar = <C0 as Parameters>::Scalar>,
{
    type Scalar = <C0 as Parameters>::Scalar;

    fn visit_arrays(&self, f: &mut Visit<'_, Self::Scalar>) {
        let () = Self::CHECK;
        for (d, cell) in self.first.iter().enumerate() {
            cell.visit_arrays(&mut |key, shape, values| {
                Self::key_of::<C0>(key, 0, d, &mut |key| f(key, shape, values));
            });
        }
        for (k, layer) in self.rest.iter().enumerate() {
            for (d, cell) in layer.iter().enumerate() {
                cell.visit_arrays(&mut |key, shape, values| {
                    Self::key_of::<C1>(key, k + 1, d, &mut |key| f(key, shape, values));
                });
            }
        }
    }

    fn visit_arrays_mut(&mut self, f: &mut VisitMut<'_, Self::Scalar>) {
        let () = Self::CHECK;
        for (d, cell) in self.first.iter_mut().enumerate() {
            cell.visit_arrays_mut(&mut |key, shape, values| {
                let mut values = Some(values);
                Self::key_of::<C0>(key, 0, d, &mut |key| {
                    if let Some(values) = values.take() {
                        f(key, shape, values);
                    }
                });
            });
        }
        for (k, layer) in self.rest.iter_mut().enumerate() {
            for (d, cell) in layer.iter_mut().enumerate() {
                cell.visit_arrays_mut(&mut |key, shape, values| {
                    let mut values = Some(values);
                    Self::key_of::<C1>(key, k + 1, d, &mut |key| {
                        if let Some(values) = values.take() {
                            f(key, shape, values);
                        }
                    });
                });
            }
        }
    }

    fn visit_counters(&self, _: &mut VisitCounter<'_>) {}

    fn visit_counters_mut(&mut self, _: &mut VisitCounterMut<'_>) {}
}

impl<C0, C1, const S: usize, const D: usize, const L1: usize> Layer for Stacked<C0, C1, S, D, L1>
where
    C0: Cell,
    C1: Cell<State = C0::State, Hidden = C0::Hidden>
        + Parameters<Scalar = <C0 as Parameters>::Scalar>,
    [C0::Input; S]: Row<Scalar = <C0 as Parameters>::Scalar>,
    [C1::Input; S]: Row<Scalar = <C0 as Parameters>::Scalar>,
{
    type Input = [C0::Input; S];
    type Output = [C1::Input; S];
    type Saved = DropoutSaved;
    const EVAL_PER_ROW: bool = true;

    #[inline]
    fn forward_train(
        &mut self,
        x: &[Self::Input],
        y: &mut [Self::Output],
    ) -> Result<DropoutSaved, NormError> {
        let saved = self.forward_train_deferred(x, y)?;
        self.commit_train(x, &saved);
        Ok(saved)
    }

    /// The training pass, with the dropout masks of the next pass (which
    /// [`commit_train`](Layer::commit_train) then advances).
    fn forward_train_deferred(
        &mut self,
        x: &[Self::Input],
        y: &mut [Self::Output],
    ) -> Result<DropoutSaved, NormError> {
        self.forward(x, y, Some(self.dropout.2))
    }

    fn commit_train(&mut self, _: &[Self::Input], saved: &DropoutSaved) {
        if let Some(pass) = saved.pass {
            self.dropout.2 = pass.wrapping_add(1);
        }
    }

    fn forward_eval(
        &self,
        x: &[Self::Input],
        y: &mut [Self::Output],
    ) -> Result<DropoutSaved, NormError> {
        self.forward(x, y, None)
    }

    fn backward(
        &self,
        x: &[Self::Input],
        saved: &DropoutSaved,
        dy: &[Self::Output],
        dx: &mut [Self::Input],
        grads: &mut Self::Grads,
    ) -> Result<(), NormError> {
        let () = Self::CHECK;
        check_backward(saved.rows, x.len(), dy.len(), dx.len())?;
        let mut tape = Tape::new();
        let (mut y, mut last, mut d_h0) =
            ([C1::Input::ZERO; S], StackedState::ZERO, StackedState::ZERO);
        let zero = StackedState::ZERO;
        for (n, ((x, dy), dx)) in x.iter().zip(dy).zip(dx).enumerate() {
            let mask = self.mask(saved.pass, n);
            self.run(x, &zero, S, &mut tape, (&mut y, &mut last), mask);
            self.run_backward(x, &zero, S, &tape, dy, &zero, dx, &mut d_h0, grads, mask);
        }
        Ok(())
    }
}

impl<C0, C1, const S: usize, const D: usize, const L1: usize> Stacked<C0, C1, S, D, L1>
where
    C0: Cell,
    C1: Cell<State = C0::State, Hidden = C0::Hidden>
        + Parameters<Scalar = <C0 as Parameters>::Scalar>,
{
    /// The `Layer` forward pass from zero states, with the dropout masks of
    /// training pass `pass` (`None`: inference, no dropout).
    fn forward(
        &self,
        x: &[[C0::Input; S]],
        y: &mut [[C1::Input; S]],
        pass: Option<u64>,
    ) -> Result<DropoutSaved, NormError> {
        let () = Self::CHECK;
        let rows = check_forward(x.len(), y.len())?;
        let mut tape = Tape::new();
        let mut last = StackedState::ZERO;
        for (n, (x, y)) in x.iter().zip(y).enumerate() {
            let mask = self.mask(pass, n);
            self.run(x, &StackedState::ZERO, S, &mut tape, (y, &mut last), mask);
        }
        Ok(DropoutSaved { rows, pass })
    }
}

/// Its state dict: a map from PyTorch's keys (`weight_ih_l1_reverse`) to
/// nested arrays (feature `serde`).
#[cfg(feature = "serde")]
impl<C0, C1, const S: usize, const D: usize, const L1: usize> serde::Serialize
    for Stacked<C0, C1, S, D, L1>
where
    C0: Cell,
    C1: Cell<State = C0::State, Hidden = C0::Hidden>
        + Parameters<Scalar = <C0 as Parameters>::Scalar>,
    <C0 as Parameters>::Scalar: serde::Serialize,
{
    fn serialize<Ser: serde::Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        crate::serde_layer::serialize_state_dict(serializer, self)
    }
}

/// Unknown, duplicate or missing keys and wrong shapes are errors (feature
/// `serde`).
#[cfg(feature = "serde")]
impl<'de, C0, C1, const S: usize, const D: usize, const L1: usize> serde::Deserialize<'de>
    for Stacked<C0, C1, S, D, L1>
where
    C0: Cell + Default,
    C1: Cell<State = C0::State, Hidden = C0::Hidden>
        + Parameters<Scalar = <C0 as Parameters>::Scalar>
        + Default,
    <C0 as Parameters>::Scalar: serde::Deserialize<'de>,
{
    fn deserialize<De: serde::Deserializer<'de>>(deserializer: De) -> Result<Self, De::Error> {
        let mut layer = Self::default();
        crate::serde_layer::deserialize_state_dict(deserializer, &mut layer)?;
        Ok(layer)
    }
}
