//! Recurrent networks: one [`Cell`] trait for a single time step, and
//! [`Recurrent`], which runs any cell over a sequence of constant length `S`
//! with full backpropagation through time and a streaming step.
//!
//! The cells are PyTorch's [`RnnCell`] (tanh or ReLU), [`GruCell`] and
//! [`LstmCell`], with their weight layouts, gate orders (GRU r, z, n; LSTM
//! i, f, g, o), biases and initialization; [`Rnn`], [`Gru`] and [`Lstm`]
//! are those cells over a sequence, under the state-dict names of
//! `torch.nn.RNN` / `GRU` / `LSTM` (`weight_ih_l0`, ...). One example is a
//! sequence `[[T; I]; S]` (PyTorch's `batch_first` layout `(N, S, I)`); a
//! batch is a slice of them.
//!
//! # Layer-normalized cells
//!
//! [`LnLstmCell`] and [`LnGruCell`] ([`LnLstm`], [`LnGru`] over sequences)
//! are the layer-normalized LSTM of Ba, Kiros and Hinton (2016, "Layer
//! Normalization", eq. 20-22) and the matching GRU. `torch.nn` has no such
//! cells (pytorch/pytorch#11335, #12167); these follow the module users
//! write from `nn.LayerNorm`, with its names (`ln_ih.weight`, ...). Each
//! `LN(v) = (v - mean(v)) / sqrt(var(v) + ε) * γ + β` is a `LayerNorm`
//! over a whole segment, biased variance, ε the cell's `eps` ([`LN_EPS`],
//! `1e-5`, by default), its own gain `γ` and bias `β`:
//!
//! ```text
//! LN-LSTM: gates = LN_hh(W_hh h) + LN_ih(W_ih x) + bias     (LN over 4H)
//!          c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g),  h' = σ(o) ⊙ tanh(LN_c(c'))
//! LN-GRU:  a = W_ih x,  b = W_hh h
//!          r, z = σ(LN_ih(a_rz) + LN_hh(b_rz) + bias_rz)    (LN over 2H)
//!          n = tanh(LN_ih_n(a_n) + r ⊙ LN_hh_n(b_n) + bias_n)
//!          h' = (1 - z) ⊙ n + z ⊙ h
//! ```
//!
//! The LSTM carries the un-normalized `c'`. Weights start uniform in
//! ±1/√H as PyTorch's, `bias` at 0, and every layer norm at gain 1, bias 0
//! (the paper's and `LayerNorm`'s initialization). The sequence layers keep
//! the cell's names (no `_l0`).

/// The items of a `Cell` impl that every cell here shares: input `[T; I]`,
/// hidden `[T; H]`, and a state of `K` rows of `H` of which `h` is the
/// first.
macro_rules! state_items {
    (state $k:literal) => {
        type Input = [T; I];
        type Hidden = [T; H];
        type State = [[T; H]; $k];

        #[inline]
        fn hidden(state: &[[T; H]; $k]) -> &[T; H] {
            &state[0]
        }

        #[inline]
        fn hidden_mut(state: &mut [[T; H]; $k]) -> &mut [T; H] {
            &mut state[0]
        }
    };
}

mod cells;
mod ln;
mod stacked;

pub use cells::{
    CellMath, Gru, GruCell, GruMath, Lstm, LstmCell, LstmMath, Rnn, RnnCell, RnnMath, StandardCell,
    StandardCellGrads,
};
pub use ln::{LN_EPS, LnGru, LnGruCell, LnGruCellGrads, LnLstm, LnLstmCell, LnLstmCellGrads};
pub use stacked::{MAX_LAYERS, Stacked, StackedGrads, StackedState};

use super::{SavedRows, check_backward, check_forward};
use crate::state::{Key, Visit, VisitCounter, VisitCounterMut, VisitMut};
use crate::{Layer, NormError, Parameters, Row, StateDict};
use core::fmt::Debug;

/// One time step of a recurrent network: `state' = cell(x, state)`, and its
/// exact backward pass.
///
/// `State` is what is carried from step to step: `[[T; H]; 1]` (the hidden
/// state `h`) for RNN and GRU cells, `[[T; H]; 2]` (`h`, then the cell
/// state `c`) for LSTM cells. `Cache` holds what a step computes that its
/// backward pass needs (gate activations), fixed-size.
///
/// Implement it for a cell of your own and [`Recurrent`] runs it over
/// sequences, with backpropagation through time and streaming.
pub trait Cell:
    Parameters + StateDict<Scalar = <Self as Parameters>::Scalar> + Clone + Debug
{
    /// One step's input, `[T; I]`.
    type Input: Row<Scalar = <Self as Parameters>::Scalar>;
    /// The output of one step, the hidden state `h`: `[T; H]`.
    type Hidden: Row<Scalar = <Self as Parameters>::Scalar>;
    /// The state carried between steps (`h`, and `c` for LSTMs), `h` first.
    type State: Row<Scalar = <Self as Parameters>::Scalar>;
    /// What a step saves for its backward pass.
    type Cache: Copy + Debug;

    /// A cache before any step (its contents are overwritten by `step`).
    const EMPTY_CACHE: Self::Cache;

    /// The hidden state `h` inside `state`.
    fn hidden(state: &Self::State) -> &Self::Hidden;

    /// The hidden state `h` inside `state`, for writing.
    fn hidden_mut(state: &mut Self::State) -> &mut Self::Hidden;

    /// One step: the state after `x`, from `state`; fills `cache`.
    fn step(
        &self,
        x: &Self::Input,
        state: &Self::State,
        next: &mut Self::State,
        cache: &mut Self::Cache,
    );

    /// The backward pass of the [`step`](Self::step) that filled `cache`
    /// from `x` and `state`: given the gradient `d_next` of the state after
    /// it, writes the gradients of `x` and of `state` and adds (`+=`) the
    /// parameters' gradients into `grads`.
    #[allow(clippy::too_many_arguments)]
    fn step_backward(
        &self,
        x: &Self::Input,
        state: &Self::State,
        cache: &Self::Cache,
        d_next: &Self::State,
        dx: &mut Self::Input,
        d_state: &mut Self::State,
        grads: &mut Self::Grads,
    );

    /// The state-dict name of a parameter when the cell runs as a sequence
    /// layer: PyTorch's `torch.nn.GRU` calls the `GRUCell`'s `weight_ih`
    /// `weight_ih_l0`. The default keeps the cell's names.
    #[must_use]
    fn sequence_key(key: &'static str) -> &'static str {
        key
    }

    /// Calls `f` with the state-dict key of this cell's parameter `key` when
    /// the cell is layer `layer` (direction `reverse`) of a [`Stacked`]
    /// layer. The default puts `layers.{layer}.` (`layers.{layer}.reverse.`)
    /// in front of the cell's key, the names of a `ModuleList` of cells
    /// called `layers` (`layers.1.ln_ih.weight`); PyTorch's cells take
    /// `torch.nn.GRU`'s names (`weight_ih_l1_reverse`). `layer` is below
    /// [`MAX_LAYERS`].
    fn stacked_key(key: &Key<'_>, layer: usize, reverse: bool, f: &mut dyn FnMut(&Key<'_>)) {
        let inner = if reverse {
            Key::nested("reverse", key)
        } else {
            *key
        };
        let index = Key::nested(stacked::LAYER_NAMES[layer], &inner);
        f(&Key::nested("layers", &index));
    }

    /// One step for a batch of rows (PyTorch's `GRUCell(x, h)` and its
    /// kin): `next[n]` from `x[n]` and `state[n]`.
    ///
    /// # Errors
    /// [`NormError::EmptyBatch`], or [`NormError::RowCountMismatch`] if
    /// `state` or `next` do not have a row per row of `x`; nothing is written.
    fn forward_step(
        &self,
        x: &[Self::Input],
        state: &[Self::State],
        next: &mut [Self::State],
    ) -> Result<(), NormError> {
        check_rows(x.len(), &[("state", state.len()), ("next", next.len())])?;
        let mut cache = Self::EMPTY_CACHE;
        for ((x, s), n) in x.iter().zip(state).zip(next) {
            self.step(x, s, n, &mut cache);
        }
        Ok(())
    }

    /// The backward pass of [`forward_step`](Self::forward_step): given
    /// `d_next`, writes `dx` and `d_state` and adds the parameters'
    /// gradients into `grads`.
    ///
    /// # Errors
    /// [`NormError::EmptyBatch`], or [`NormError::RowCountMismatch`] if an
    /// argument does not have a row per row of `x`; nothing is written.
    fn backward_step(
        &self,
        x: &[Self::Input],
        state: &[Self::State],
        d_next: &[Self::State],
        dx: &mut [Self::Input],
        d_state: &mut [Self::State],
        grads: &mut Self::Grads,
    ) -> Result<(), NormError> {
        let lens = [
            ("state", state.len()),
            ("d_next", d_next.len()),
            ("dx", dx.len()),
            ("d_state", d_state.len()),
        ];
        check_rows(x.len(), &lens)?;
        let mut cache = Self::EMPTY_CACHE;
        let mut next = Self::State::ZERO;
        let rows = x.iter().zip(state).zip(d_next).zip(dx).zip(d_state);
        for ((((x, s), d_next), dx), d_state) in rows {
            self.step(x, s, &mut next, &mut cache);
            self.step_backward(x, s, &cache, d_next, dx, d_state, grads);
        }
        Ok(())
    }
}

/// Fails unless `x` has rows and every argument has as many.
fn check_rows(x_rows: usize, args: &[(&'static str, usize)]) -> Result<(), NormError> {
    crate::kernels::check_same_rows(x_rows, args)?;
    if x_rows == 0 {
        return Err(NormError::EmptyBatch);
    }
    Ok(())
}

/// A recurrent layer: the cell `C` over sequences of `S` steps, PyTorch's
/// `torch.nn.RNN` / `GRU` / `LSTM` with one layer, one direction and
/// `batch_first = True`. Use it through [`Rnn`], [`Gru`], [`Lstm`] (or the
/// layer-normalized cells).
///
/// - [`forward_sequence`](Self::forward_sequence) /
///   [`backward_sequence`](Self::backward_sequence): a given initial state
///   (PyTorch's `h0`, `c0`), the output sequence and the final state (`h_n`,
///   `c_n`), and full backpropagation through time with gradients of the
///   inputs, the initial state and every parameter, from upstream gradients
///   on the outputs and on the final state.
/// - [`Layer`]: the initial state is zero (PyTorch's default) and the output
///   is the sequence of hidden states, so it chains in `#[network]` (follow it
///   with [`LastStep`](crate::nn::LastStep) for `h_n`).
/// - [`step`](Self::step): streaming inference, one time step with the state
///   kept by the caller, bit-for-bit the step the sequence passes take.
///
/// Training and inference are the same: a recurrent layer tracks nothing.
/// Backward recomputes the forward pass of each example (into `S` steps of
/// state and cache on the stack) instead of keeping a batch-sized tape, so
/// nothing is allocated and any batch size works.
#[derive(Clone, Debug, PartialEq)]
pub struct Recurrent<C, const S: usize> {
    /// The cell run at every step.
    pub cell: C,
}

impl<C: Cell, const S: usize> Recurrent<C, S> {
    /// The layer around `cell`.
    #[must_use]
    pub const fn from_cell(cell: C) -> Self {
        Self { cell }
    }

    /// Streaming inference: one time step from `state` (updated in place),
    /// returning the hidden state `h`. The same arithmetic as each step of
    /// [`forward_sequence`](Self::forward_sequence), so stepping through a
    /// sequence gives its outputs bit for bit.
    #[inline]
    pub fn step(&self, x: &C::Input, state: &mut C::State) -> C::Hidden {
        let mut cache = C::EMPTY_CACHE;
        let previous = *state;
        self.cell.step(x, &previous, state, &mut cache);
        *C::hidden(state)
    }

    /// Runs one example from `h0`, keeping every state and cache.
    #[inline]
    fn run(
        &self,
        x: &[C::Input; S],
        h0: &C::State,
        states: &mut [C::State; S],
        caches: &mut [C::Cache; S],
    ) {
        let mut previous = *h0;
        for ((x, state), cache) in x.iter().zip(states.iter_mut()).zip(caches.iter_mut()) {
            self.cell.step(x, &previous, state, cache);
            previous = *state;
        }
    }

    /// Backpropagation through time for one example run by [`Self::run`]:
    /// `d_last` is the gradient of the final state, `dy` that of each
    /// output; writes `dx` and returns the gradient of `h0`.
    #[allow(clippy::too_many_arguments)]
    fn run_backward(
        &self,
        x: &[C::Input; S],
        h0: &C::State,
        states: &[C::State; S],
        caches: &[C::Cache; S],
        dy: &[C::Hidden; S],
        d_last: &C::State,
        dx: &mut [C::Input; S],
        grads: &mut C::Grads,
    ) -> C::State {
        let mut d = *d_last;
        for t in (0..S).rev() {
            let dh = C::hidden_mut(&mut d).as_flat_mut();
            for (d, g) in dh.iter_mut().zip(dy[t].as_flat()) {
                *d += *g;
            }
            let previous = if t == 0 { h0 } else { &states[t - 1] };
            let mut d_previous = C::State::ZERO;
            self.cell.step_backward(
                &x[t],
                previous,
                &caches[t],
                &d,
                &mut dx[t],
                &mut d_previous,
                grads,
            );
            d = d_previous;
        }
        d
    }

    /// The whole-sequence forward pass from given initial states:
    /// `y[n][t]` is the hidden state after step `t` of example `n`, and
    /// `last[n]` the final state (PyTorch's `output` and `h_n` / `(h_n,
    /// c_n)`).
    ///
    /// # Errors
    /// [`NormError::EmptyBatch`], or [`NormError::RowCountMismatch`] if `h0`,
    /// `y` or `last` do not have a row per example of `x`; nothing is written.
    pub fn forward_sequence(
        &self,
        x: &[[C::Input; S]],
        h0: &[C::State],
        y: &mut [[C::Hidden; S]],
        last: &mut [C::State],
    ) -> Result<(), NormError> {
        check_rows(
            x.len(),
            &[("h0", h0.len()), ("y", y.len()), ("last", last.len())],
        )?;
        let mut states = [C::State::ZERO; S];
        let mut caches = [C::EMPTY_CACHE; S];
        for (((x, h0), y), last) in x.iter().zip(h0).zip(y.iter_mut()).zip(last.iter_mut()) {
            self.run(x, h0, &mut states, &mut caches);
            for (y, state) in y.iter_mut().zip(&states) {
                *y = *C::hidden(state);
            }
            *last = states.last().copied().unwrap_or(*h0);
        }
        Ok(())
    }

    /// Backpropagation through time for
    /// [`forward_sequence`](Self::forward_sequence) on the same `x` and
    /// `h0`: from the gradients `dy` of the outputs and `d_last` of the
    /// final states, writes the gradients `dx` of the inputs and `d_h0` of
    /// the initial states, and adds every parameter's gradient into `grads`.
    ///
    /// # Errors
    /// [`NormError::EmptyBatch`], or [`NormError::RowCountMismatch`] if an
    /// argument does not have a row per example of `x`; nothing is written.
    #[allow(clippy::too_many_arguments)]
    pub fn backward_sequence(
        &self,
        x: &[[C::Input; S]],
        h0: &[C::State],
        dy: &[[C::Hidden; S]],
        d_last: &[C::State],
        dx: &mut [[C::Input; S]],
        d_h0: &mut [C::State],
        grads: &mut C::Grads,
    ) -> Result<(), NormError> {
        let lens = [
            ("h0", h0.len()),
            ("dy", dy.len()),
            ("d_last", d_last.len()),
            ("dx", dx.len()),
            ("d_h0", d_h0.len()),
        ];
        check_rows(x.len(), &lens)?;
        let mut states = [C::State::ZERO; S];
        let mut caches = [C::EMPTY_CACHE; S];
        let examples = x.iter().zip(h0).zip(dy).zip(d_last).zip(dx).zip(d_h0);
        for (((((x, h0), dy), d_last), dx), d_h0) in examples {
            self.run(x, h0, &mut states, &mut caches);
            *d_h0 = self.run_backward(x, h0, &states, &caches, dy, d_last, dx, grads);
        }
        Ok(())
    }
}

impl<C: Cell + Default, const S: usize> Recurrent<C, S> {
    /// A layer around the cell's `Default`: every parameter zero (the
    /// layer-normalized cells' gains 1); initialize it with
    /// [`init_seeded`](crate::nn::init_seeded) or `reset_parameters`
    /// (PyTorch's uniform ±1/√H).
    #[must_use]
    pub fn new() -> Self {
        Self { cell: C::default() }
    }
}

impl<C: Cell + crate::InPlace, const S: usize> Recurrent<C, S> {
    /// [`new`](Self::new) built straight on the heap, with no copy on the
    /// stack: for layers too large for it (a `Gru<512, 1024, S>` is 19 MiB)
    /// in debug builds and on small thread stacks.
    #[cfg(feature = "std")]
    #[must_use]
    pub fn new_boxed() -> Box<Self> {
        crate::network::boxed::<Self>()
    }
}

// SAFETY: the cell is the only field, and its `init_at` leaves a valid cell.
unsafe impl<C: crate::InPlace, const S: usize> crate::InPlace for Recurrent<C, S> {
    #[inline]
    unsafe fn init_at(p: *mut Self) {
        // SAFETY: the caller's `p` is valid for writes and aligned, and so is
        // the field's place in it.
        unsafe { C::init_at(core::ptr::addr_of_mut!((*p).cell)) }
    }
}

impl<C: Cell + Default, const S: usize> Default for Recurrent<C, S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Cell, const S: usize> Parameters for Recurrent<C, S> {
    type Scalar = <C as Parameters>::Scalar;
    type Grads = C::Grads;

    #[inline]
    fn parameter(&self, i: usize) -> &[Self::Scalar] {
        self.cell.parameter(i)
    }

    #[inline]
    fn parameter_mut(&mut self, i: usize) -> &mut [Self::Scalar] {
        self.cell.parameter_mut(i)
    }

    fn reset_parameters<R: rand::Rng + ?Sized>(&mut self, rng: &mut R) {
        self.cell.reset_parameters(rng);
    }
}

/// The cell's key under its sequence name (`weight_ih` as `weight_ih_l0`).
fn sequence_key<'a, C: Cell>(key: &Key<'a>) -> Key<'a> {
    Key {
        head: C::sequence_key(key.head),
        rest: key.rest,
    }
}

impl<C: Cell, const S: usize> StateDict for Recurrent<C, S> {
    type Scalar = <C as Parameters>::Scalar;

    fn visit_arrays(&self, f: &mut Visit<'_, Self::Scalar>) {
        self.cell
            .visit_arrays(&mut |key, shape, values| f(&sequence_key::<C>(key), shape, values));
    }

    fn visit_arrays_mut(&mut self, f: &mut VisitMut<'_, Self::Scalar>) {
        self.cell
            .visit_arrays_mut(&mut |key, shape, values| f(&sequence_key::<C>(key), shape, values));
    }

    fn visit_counters(&self, _: &mut VisitCounter<'_>) {}

    fn visit_counters_mut(&mut self, _: &mut VisitCounterMut<'_>) {}
}

/// As the cell (feature `serde`).
#[cfg(feature = "serde")]
impl<C: Cell + serde::Serialize, const S: usize> serde::Serialize for Recurrent<C, S> {
    fn serialize<Ser: serde::Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        self.cell.serialize(serializer)
    }
}

/// As the cell (feature `serde`).
#[cfg(feature = "serde")]
impl<'de, C: Cell + serde::Deserialize<'de>, const S: usize> serde::Deserialize<'de>
    for Recurrent<C, S>
{
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        C::deserialize(deserializer).map(Self::from_cell)
    }
}

impl<C: Cell, const S: usize> Layer for Recurrent<C, S>
where
    [C::Input; S]: Row<Scalar = <C as Parameters>::Scalar>,
    [C::Hidden; S]: Row<Scalar = <C as Parameters>::Scalar>,
{
    type Input = [C::Input; S];
    type Output = [C::Hidden; S];
    type Saved = SavedRows;
    const EVAL_PER_ROW: bool = true;

    #[inline]
    fn forward_train(
        &mut self,
        x: &[Self::Input],
        y: &mut [Self::Output],
    ) -> Result<SavedRows, NormError> {
        self.forward_eval(x, y)
    }

    fn forward_eval(
        &self,
        x: &[Self::Input],
        y: &mut [Self::Output],
    ) -> Result<SavedRows, NormError> {
        let saved = check_forward(x.len(), y.len())?;
        let mut states = [C::State::ZERO; S];
        let mut caches = [C::EMPTY_CACHE; S];
        for (x, y) in x.iter().zip(y) {
            self.run(x, &C::State::ZERO, &mut states, &mut caches);
            for (y, state) in y.iter_mut().zip(&states) {
                *y = *C::hidden(state);
            }
        }
        Ok(saved)
    }

    fn backward(
        &self,
        x: &[Self::Input],
        saved: &SavedRows,
        dy: &[Self::Output],
        dx: &mut [Self::Input],
        grads: &mut C::Grads,
    ) -> Result<(), NormError> {
        check_backward(*saved, x.len(), dy.len(), dx.len())?;
        let mut states = [C::State::ZERO; S];
        let mut caches = [C::EMPTY_CACHE; S];
        let zero = C::State::ZERO;
        for ((x, dy), dx) in x.iter().zip(dy).zip(dx) {
            self.run(x, &zero, &mut states, &mut caches);
            self.run_backward(x, &zero, &states, &caches, dy, &zero, dx, grads);
        }
        Ok(())
    }
}
