//! Layers between sequences and rows: a layer applied at every time step
//! ([`PerStep`]), and the reductions from a sequence to one row
//! ([`LastStep`], [`MeanOverSteps`]). A sequence of `S` steps is a row
//! `[R; S]`, PyTorch's `batch_first` `(N, S, ...)`.

use super::{SavedRows, check_backward, check_forward};
use crate::state::{Visit, VisitCounter, VisitCounterMut, VisitMut};
use crate::{Float, Layer, NoGrads, NormError, Parameters, Row, StateDict};
use core::marker::PhantomData;

/// The layer `L` applied to every step of a sequence of `S` steps, as
/// PyTorch applies `nn.Linear` or `nn.LayerNorm` to the last dim of an
/// `(N, S, features)` tensor: the batch of `N` sequences is `N * S` rows of
/// `L`. Parameters and state-dict keys are `L`'s own, so
/// `PerStep<Linear<8, 2>, S>` loads PyTorch's `Linear(8, 2)`.
///
/// Batch norm per step (`PerStep` of a batch norm over the features):
/// PyTorch's "sequence-wise" batch norm, statistics over batch and time,
/// so every step of every sequence is normalized with the same channel
/// statistics. In inference it uses the running statistics, which average
/// over all steps seen in training: a sequence whose statistics drift over
/// time, or a batch of one, is normalized with numbers from other steps.
/// Layer norm per step has no such coupling: each step of each example is
/// normalized on its own, the same in training and inference.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PerStep<L, const S: usize> {
    /// The layer applied at each step.
    pub layer: L,
}

impl<L, const S: usize> PerStep<L, S> {
    /// `layer` at every step.
    #[must_use]
    pub const fn new(layer: L) -> Self {
        Self { layer }
    }
}

impl<L: Parameters, const S: usize> Parameters for PerStep<L, S> {
    type Scalar = L::Scalar;
    type Grads = L::Grads;

    #[inline]
    fn parameter(&self, i: usize) -> &[L::Scalar] {
        self.layer.parameter(i)
    }

    #[inline]
    fn parameter_mut(&mut self, i: usize) -> &mut [L::Scalar] {
        self.layer.parameter_mut(i)
    }

    fn reset_parameters<R: rand::Rng + ?Sized>(&mut self, rng: &mut R) {
        self.layer.reset_parameters(rng);
    }
}

impl<L: StateDict, const S: usize> StateDict for PerStep<L, S> {
    type Scalar = L::Scalar;

    fn visit_arrays(&self, f: &mut Visit<'_, L::Scalar>) {
        self.layer.visit_arrays(f);
    }

    fn visit_arrays_mut(&mut self, f: &mut VisitMut<'_, L::Scalar>) {
        self.layer.visit_arrays_mut(f);
    }

    fn visit_counters(&self, f: &mut VisitCounter<'_>) {
        self.layer.visit_counters(f);
    }

    fn visit_counters_mut(&mut self, f: &mut VisitCounterMut<'_>) {
        self.layer.visit_counters_mut(f);
    }
}

/// As the layer (feature `serde`).
#[cfg(feature = "serde")]
impl<L: serde::Serialize, const S: usize> serde::Serialize for PerStep<L, S> {
    fn serialize<Ser: serde::Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        self.layer.serialize(serializer)
    }
}

/// As the layer (feature `serde`).
#[cfg(feature = "serde")]
impl<'de, L: serde::Deserialize<'de>, const S: usize> serde::Deserialize<'de> for PerStep<L, S> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        L::deserialize(deserializer).map(Self::new)
    }
}

impl<L: Layer, const S: usize> Layer for PerStep<L, S>
where
    [L::Input; S]: Row<Scalar = L::Scalar>,
    [L::Output; S]: Row<Scalar = L::Scalar>,
{
    type Input = [L::Input; S];
    type Output = [L::Output; S];
    type Saved = L::Saved;
    const EVAL_PER_ROW: bool = L::EVAL_PER_ROW;

    /// A batch norm needs two values per channel: one sequence of two or
    /// more steps has them.
    const MIN_TRAIN_ROWS: usize = max(1, L::MIN_TRAIN_ROWS.div_ceil(max(S, 1)));
    const MIN_EVAL_ROWS: usize = max(1, L::MIN_EVAL_ROWS.div_ceil(max(S, 1)));

    #[inline]
    fn forward_train(
        &mut self,
        x: &[Self::Input],
        y: &mut [Self::Output],
    ) -> Result<L::Saved, NormError> {
        check_forward(x.len(), y.len())?;
        self.layer
            .forward_train(x.as_flattened(), y.as_flattened_mut())
    }

    #[inline]
    fn forward_train_deferred(
        &mut self,
        x: &[Self::Input],
        y: &mut [Self::Output],
    ) -> Result<L::Saved, NormError> {
        check_forward(x.len(), y.len())?;
        self.layer
            .forward_train_deferred(x.as_flattened(), y.as_flattened_mut())
    }

    #[inline]
    fn commit_train(&mut self, x: &[Self::Input], saved: &L::Saved) {
        self.layer.commit_train(x.as_flattened(), saved);
    }

    #[inline]
    fn forward_eval(
        &self,
        x: &[Self::Input],
        y: &mut [Self::Output],
    ) -> Result<L::Saved, NormError> {
        check_forward(x.len(), y.len())?;
        self.layer
            .forward_eval(x.as_flattened(), y.as_flattened_mut())
    }

    #[inline]
    fn backward(
        &self,
        x: &[Self::Input],
        saved: &L::Saved,
        dy: &[Self::Output],
        dx: &mut [Self::Input],
        grads: &mut L::Grads,
    ) -> Result<(), NormError> {
        crate::kernels::check_same_rows(x.len(), &[("dy", dy.len()), ("dx", dx.len())])?;
        let flat_x = x.as_flattened();
        self.layer.backward(
            flat_x,
            saved,
            dy.as_flattened(),
            dx.as_flattened_mut(),
            grads,
        )
    }
}

/// The larger of two sizes, in a constant.
const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

/// The last step of a sequence of `S` rows `R` (PyTorch's `output[:, -1]`,
/// which is a GRU's `h_n`): `[R; S]` in, `R` out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LastStep<R, const S: usize> {
    marker: PhantomData<R>,
}

/// The mean over the `S` steps of a sequence (PyTorch's `x.mean(dim=1)`
/// on `(N, S, features)`): `[R; S]` in, `R` out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeanOverSteps<R, const S: usize> {
    marker: PhantomData<R>,
}

super::stateless_layer!([R: Row, const S: usize] LastStep<R, S>, scalar = R::Scalar);
super::stateless_layer!([R: Row, const S: usize] MeanOverSteps<R, S>, scalar = R::Scalar);

/// `Layer` for a reduction of a sequence `[R; S]` to one row `R`, from the
/// per-example `reduce` (`x` to the output) and `spread` (`dy` to `dx`,
/// every step written).
macro_rules! reduction_layer {
    ($layer:ident, reduce($x:ident) $reduce:block, spread($dy:ident, $dx:ident) $spread:block) => {
        impl<R: Row, const S: usize> Layer for $layer<R, S>
        where
            [R; S]: Row<Scalar = R::Scalar>,
        {
            type Input = [R; S];
            type Output = R;
            type Saved = SavedRows;
            const EVAL_PER_ROW: bool = true;

            #[inline]
            fn forward_train(&mut self, x: &[[R; S]], y: &mut [R]) -> Result<SavedRows, NormError> {
                self.forward_eval(x, y)
            }

            #[inline]
            fn forward_eval(&self, x: &[[R; S]], y: &mut [R]) -> Result<SavedRows, NormError> {
                let saved = check_forward(x.len(), y.len())?;
                for ($x, y) in x.iter().zip(y) {
                    *y = $reduce;
                }
                Ok(saved)
            }

            #[inline]
            fn backward(
                &self,
                x: &[[R; S]],
                saved: &SavedRows,
                dy: &[R],
                dx: &mut [[R; S]],
                _: &mut NoGrads,
            ) -> Result<(), NormError> {
                check_backward(*saved, x.len(), dy.len(), dx.len())?;
                for ($dy, $dx) in dy.iter().zip(dx) {
                    $spread
                }
                Ok(())
            }
        }
    };
}

reduction_layer!(
    LastStep,
    reduce(x) { x.last().copied().unwrap_or(R::ZERO) },
    spread(dy, dx) {
        *dx = [R::ZERO; S];
        if let Some(last) = dx.last_mut() {
            *last = *dy;
        }
    }
);

reduction_layer!(
    MeanOverSteps,
    reduce(x) { mean_of(x) },
    spread(dy, dx) { spread_mean(dy, dx, S) }
);

/// The mean of `steps`: summed in order, then divided by their count.
#[inline]
fn mean_of<R: Row>(steps: &[R]) -> R {
    #[allow(clippy::cast_precision_loss)]
    let count = R::Scalar::from_f64(steps.len() as f64);
    let mut sum = R::ZERO;
    for step in steps {
        for (s, v) in sum.as_flat_mut().iter_mut().zip(step.as_flat()) {
            *s += *v;
        }
    }
    for s in sum.as_flat_mut() {
        *s = *s / count;
    }
    sum
}

/// The backward pass of [`mean_of`] over the first `len` of `dx`'s steps:
/// `dy / len` there, 0 at the others.
#[inline]
fn spread_mean<R: Row>(dy: &R, dx: &mut [R], len: usize) {
    #[allow(clippy::cast_precision_loss)]
    let count = R::Scalar::from_f64(len as f64);
    for (t, step) in dx.iter_mut().enumerate() {
        for (d, g) in step.as_flat_mut().iter_mut().zip(dy.as_flat()) {
            *d = if t < len { *g / count } else { R::Scalar::ZERO };
        }
    }
}

/// Fails unless there is a length per row, each in `1..=steps`, and at
/// least one row.
fn check_lengths(lengths: &[usize], rows: usize, steps: usize) -> Result<(), NormError> {
    super::check_lengths(lengths, rows, (1, steps))?;
    if rows == 0 {
        return Err(NormError::EmptyBatch);
    }
    Ok(())
}

impl<R: Row, const S: usize> LastStep<R, S> {
    /// The last valid step of each example, `x[n][lengths[n] - 1]`, for
    /// sequences of different lengths (lengths in `1..=S`): the forward
    /// direction's `h_n` of a packed sequence, where `output[:, -1]` would
    /// read padding.
    ///
    /// # Errors
    /// [`NormError::EmptyBatch`], [`NormError::RowCountMismatch`] or
    /// [`NormError::LengthOutOfRange`]; nothing is written.
    pub fn forward_masked(
        &self,
        x: &[[R; S]],
        lengths: &[usize],
        y: &mut [R],
    ) -> Result<(), NormError> {
        check_lengths(lengths, x.len(), S)?;
        check_forward(x.len(), y.len())?;
        for ((x, y), &len) in x.iter().zip(y).zip(lengths) {
            *y = x[len - 1];
        }
        Ok(())
    }

    /// The backward pass of [`forward_masked`](Self::forward_masked):
    /// `dx[n]` is `dy[n]` at step `lengths[n] - 1`, 0 elsewhere.
    ///
    /// # Errors
    /// As [`forward_masked`](Self::forward_masked), for `dy` and `dx`;
    /// nothing is written.
    pub fn backward_masked(
        &self,
        lengths: &[usize],
        dy: &[R],
        dx: &mut [[R; S]],
    ) -> Result<(), NormError> {
        check_lengths(lengths, dy.len(), S)?;
        crate::kernels::check_same_rows(dy.len(), &[("dx", dx.len())])?;
        for ((dy, dx), &len) in dy.iter().zip(dx).zip(lengths) {
            *dx = [R::ZERO; S];
            dx[len - 1] = *dy;
        }
        Ok(())
    }
}

impl<R: Row, const S: usize> MeanOverSteps<R, S> {
    /// The mean over each example's valid steps, `(1 / len) Σ_{t < len}
    /// x[n][t]` with `len = lengths[n]` in `1..=S` (PyTorch's masked mean
    /// over time), so padding does not dilute it.
    ///
    /// # Errors
    /// [`NormError::EmptyBatch`], [`NormError::RowCountMismatch`] or
    /// [`NormError::LengthOutOfRange`]; nothing is written.
    pub fn forward_masked(
        &self,
        x: &[[R; S]],
        lengths: &[usize],
        y: &mut [R],
    ) -> Result<(), NormError> {
        check_lengths(lengths, x.len(), S)?;
        check_forward(x.len(), y.len())?;
        for ((x, y), &len) in x.iter().zip(y).zip(lengths) {
            *y = mean_of(&x[..len]);
        }
        Ok(())
    }

    /// The backward pass of [`forward_masked`](Self::forward_masked):
    /// `dy[n] / len` at each valid step, 0 past the length.
    ///
    /// # Errors
    /// As [`forward_masked`](Self::forward_masked), for `dy` and `dx`;
    /// nothing is written.
    pub fn backward_masked(
        &self,
        lengths: &[usize],
        dy: &[R],
        dx: &mut [[R; S]],
    ) -> Result<(), NormError> {
        check_lengths(lengths, dy.len(), S)?;
        crate::kernels::check_same_rows(dy.len(), &[("dx", dx.len())])?;
        for ((dy, dx), &len) in dy.iter().zip(dx).zip(lengths) {
            spread_mean(dy, dx, len);
        }
        Ok(())
    }
}

/// PyTorch's `key_padding_mask` from sequence lengths: `mask[n][j]` is
/// `true` (ignore key `j`) for `j >= lengths[n]`, the form
/// [`MultiheadAttention::forward_masked`](crate::nn::MultiheadAttention)
/// and the encoder block take. Lengths are in `1..=L` (a query with no key
/// to attend is refused there).
///
/// # Errors
/// [`NormError::EmptyBatch`], [`NormError::RowCountMismatch`] (argument
/// `"lengths"`) or [`NormError::LengthOutOfRange`]; nothing is written.
pub fn padding_mask<const L: usize>(
    lengths: &[usize],
    mask: &mut [[bool; L]],
) -> Result<(), NormError> {
    check_lengths(lengths, mask.len(), L)?;
    for (mask, &len) in mask.iter_mut().zip(lengths) {
        for (j, m) in mask.iter_mut().enumerate() {
            *m = j >= len;
        }
    }
    Ok(())
}
