//! Batch norm over time that counts only the valid steps of sequences of
//! different lengths: the batch norm of a padded batch of sequences that
//! the padding does not move. PyTorch has no such layer; the formula is
//! `BatchNorm1d(C)` over the `(M, C)` matrix of the valid rows.

use super::{SavedRows, check_backward, check_forward, check_lengths};
use crate::state::{Key, Visit, VisitCounter, VisitCounterMut, VisitMut};
use crate::{AffineGrads, Float, Layer, NormError, Parameters, StateDict};

/// Batch norm over the steps of sequences `[[T; C]; S]` that counts only
/// each example's first `lengths[n]` steps (0 to `S`): for the valid
/// positions `V = {(n, t) : t < lengths[n]}`, `M = |V|`,
///
/// ```text
/// train: mean_c = (1/M) Σ_V x[n,t,c],  var_c = (1/M) Σ_V (x[n,t,c] - mean_c)²   (biased)
/// eval:  mean_c = running_mean_c,      var_c = running_var_c
/// y[n,t,c] = (x[n,t,c] - mean_c) / sqrt(var_c + eps) · weight_c + bias_c   on V, 0 off V
/// train: running_mean ← (1 - momentum) running_mean + momentum · mean
///        running_var  ← (1 - momentum) running_var  + momentum · var · M / (M - 1)
///        num_batches_tracked ← num_batches_tracked + 1
/// ```
///
/// which is `torch.nn.BatchNorm1d(C)` applied to the `(M, C)` matrix of the
/// valid rows; with every length `S` it is a batch norm over all `N * S`
/// steps ([`PerStep`](crate::nn::PerStep) of a batch norm). Padding neither
/// moves the statistics nor gets a gradient. Keys and defaults are
/// `BatchNorm1d`'s (`weight`, `bias`, `running_mean`, `running_var`,
/// `num_batches_tracked`; eps `1e-5`, momentum `0.1`). Sums run in `f64`.
///
/// The `_masked` methods take the lengths; as a [`Layer`] (a `#[network]`
/// field) every example is `S` steps long.
#[derive(Clone, Debug, PartialEq)]
pub struct MaskedBatchNorm<const C: usize, const S: usize, T = f32> {
    /// Scale per channel (`γ`), 1 at first.
    pub weight: [T; C],
    /// Shift per channel (`β`), 0 at first.
    pub bias: [T; C],
    /// The running mean, 0 at first.
    pub running_mean: [T; C],
    /// The running (unbiased) variance, 1 at first.
    pub running_var: [T; C],
    /// Training passes made.
    pub num_batches_tracked: u64,
    /// Added to the variance: `1e-5`.
    pub eps: f64,
    /// The running statistics' update factor: `0.1`.
    pub momentum: f64,
}

/// What a [`MaskedBatchNorm`] pass saves for backward: the rows, the
/// statistics it normalized with, and (training) the valid count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MaskedSaved<const C: usize> {
    /// The rows of the forward pass.
    pub rows: SavedRows,
    /// The mean per channel.
    pub mean: [f64; C],
    /// The variance per channel (biased, in training).
    pub var: [f64; C],
    /// `M`, the valid positions, in a training pass; `None` in inference.
    pub valid: Option<usize>,
}

impl<const C: usize, const S: usize, T: Float> Default for MaskedBatchNorm<C, S, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const C: usize, const S: usize, T: Float> MaskedBatchNorm<C, S, T> {
    /// `BatchNorm1d(C)`'s initial state.
    #[must_use]
    pub fn new() -> Self {
        Self {
            weight: [T::ONE; C],
            bias: [T::ZERO; C],
            running_mean: [T::ZERO; C],
            running_var: [T::ONE; C],
            num_batches_tracked: 0,
            eps: 1e-5,
            momentum: 0.1,
        }
    }

    /// The batch's statistics over the valid positions.
    fn batch_stats(
        x: &[[[T; C]; S]],
        len_of: &dyn Fn(usize) -> usize,
    ) -> ([f64; C], [f64; C], usize) {
        let valid = || {
            x.iter()
                .enumerate()
                .flat_map(|(n, x)| x[..len_of(n)].iter())
        };
        let m = (0..x.len()).map(len_of).sum::<usize>();
        let mut mean = [0.0; C];
        for row in valid() {
            for (s, v) in mean.iter_mut().zip(row) {
                *s += v.to_f64();
            }
        }
        #[allow(clippy::cast_precision_loss)]
        let count = m as f64;
        mean.iter_mut().for_each(|s| *s /= count);
        let mut var = [0.0; C];
        for row in valid() {
            for ((s, v), mean) in var.iter_mut().zip(row).zip(&mean) {
                let d = v.to_f64() - mean;
                *s += d * d;
            }
        }
        var.iter_mut().for_each(|s| *s /= count);
        (mean, var, m)
    }

    /// `y` from the statistics: normalized on the valid steps, 0 past them.
    fn normalize(
        &self,
        x: &[[[T; C]; S]],
        len_of: &dyn Fn(usize) -> usize,
        (mean, var): (&[f64; C], &[f64; C]),
        y: &mut [[[T; C]; S]],
    ) {
        let rstd: [f64; C] = core::array::from_fn(|c| 1.0 / (var[c] + self.eps).sqrt());
        for (n, (x, y)) in x.iter().zip(y).enumerate() {
            let len = len_of(n);
            for (t, (x, y)) in x.iter().zip(y.iter_mut()).enumerate() {
                for c in 0..C {
                    y[c] = if t < len {
                        let xhat = (x[c].to_f64() - mean[c]) * rstd[c];
                        T::from_f64(xhat * self.weight[c].to_f64() + self.bias[c].to_f64())
                    } else {
                        T::ZERO
                    };
                }
            }
        }
    }

    /// The training pass over the valid steps of each example (`lengths[n]`
    /// of `x[n]`, 0 to `S`), without the update of the running statistics,
    /// which [`commit_masked`](Self::commit_masked) then makes.
    ///
    /// # Errors
    /// [`NormError::EmptyBatch`], [`NormError::RowCountMismatch`],
    /// [`NormError::LengthOutOfRange`],
    /// [`NormError::TooFewValuesPerChannel`] for fewer than 2 valid steps
    /// in all (no unbiased variance), or [`NormError::NonFiniteStatistics`]
    /// when a valid value is NaN or infinite; nothing is written.
    pub fn forward_train_masked_deferred(
        &self,
        x: &[[[T; C]; S]],
        lengths: &[usize],
        y: &mut [[[T; C]; S]],
    ) -> Result<MaskedSaved<C>, NormError> {
        let rows = check_forward(x.len(), y.len())?;
        check_lengths(lengths, x.len(), (0, S))?;
        self.train_with(x, &|n| lengths[n], y, rows)
    }

    /// The training pass over the lengths `len_of(n)`, checked.
    fn train_with(
        &self,
        x: &[[[T; C]; S]],
        len_of: &dyn Fn(usize) -> usize,
        y: &mut [[[T; C]; S]],
        rows: SavedRows,
    ) -> Result<MaskedSaved<C>, NormError> {
        let m = (0..x.len()).map(len_of).sum::<usize>();
        if m < 2 {
            return Err(NormError::TooFewValuesPerChannel { values: m });
        }
        let (mean, var, valid) = Self::batch_stats(x, len_of);
        // As batch norm's: a NaN or an infinity in the valid values would
        // reach the running statistics; refused, nothing written.
        let bad = |c: &usize| !(mean[*c].is_finite() && var[*c].is_finite());
        if let Some(channel) = (0..C).find(bad) {
            return Err(NormError::NonFiniteStatistics { channel });
        }
        self.normalize(x, len_of, (&mean, &var), y);
        Ok(MaskedSaved {
            rows,
            mean,
            var,
            valid: Some(valid),
        })
    }

    /// Updates the running statistics and `num_batches_tracked` from the
    /// training pass that returned `saved` (nothing for an inference pass).
    pub fn commit_masked(&mut self, saved: &MaskedSaved<C>) {
        let Some(m) = saved.valid else {
            return;
        };
        #[allow(clippy::cast_precision_loss)]
        let unbias = m as f64 / (m - 1) as f64;
        let k = self.momentum;
        for c in 0..C {
            let rm = self.running_mean[c].to_f64();
            let rv = self.running_var[c].to_f64();
            self.running_mean[c] = T::from_f64((1.0 - k) * rm + k * saved.mean[c]);
            self.running_var[c] = T::from_f64((1.0 - k) * rv + k * saved.var[c] * unbias);
        }
        self.num_batches_tracked += 1;
    }

    /// [`forward_train_masked_deferred`](Self::forward_train_masked_deferred)
    /// then [`commit_masked`](Self::commit_masked).
    ///
    /// # Errors
    /// As the deferred pass; the layer is then unchanged.
    pub fn forward_train_masked(
        &mut self,
        x: &[[[T; C]; S]],
        lengths: &[usize],
        y: &mut [[[T; C]; S]],
    ) -> Result<MaskedSaved<C>, NormError> {
        let saved = self.forward_train_masked_deferred(x, lengths, y)?;
        self.commit_masked(&saved);
        Ok(saved)
    }

    /// Inference with the running statistics: normalized on the valid
    /// steps, 0 past them.
    ///
    /// # Errors
    /// [`NormError::EmptyBatch`], [`NormError::RowCountMismatch`] or
    /// [`NormError::LengthOutOfRange`]; nothing is written.
    pub fn forward_eval_masked(
        &self,
        x: &[[[T; C]; S]],
        lengths: &[usize],
        y: &mut [[[T; C]; S]],
    ) -> Result<MaskedSaved<C>, NormError> {
        let rows = check_forward(x.len(), y.len())?;
        check_lengths(lengths, x.len(), (0, S))?;
        let mean = self.running_mean.map(Float::to_f64);
        let var = self.running_var.map(Float::to_f64);
        self.normalize(x, &|n| lengths[n], (&mean, &var), y);
        Ok(MaskedSaved {
            rows,
            mean,
            var,
            valid: None,
        })
    }

    /// The backward pass of the masked pass that returned `saved`, on the
    /// same `x` and `lengths`: writes `dx` (0 past each length) and adds the
    /// gradients of `weight` and `bias`; `dy` is read on the valid steps
    /// only. Training: `dx = (g - mean_V(g) - x̂ · mean_V(g · x̂)) / sqrt(var
    /// + eps)` with `g = dy · weight`; inference: `dx = g / sqrt(running_var
    /// + eps)`.
    ///
    /// # Errors
    /// [`NormError::SavedRowsMismatch`], [`NormError::RowCountMismatch`] or
    /// [`NormError::LengthOutOfRange`]; nothing is written.
    #[allow(clippy::too_many_arguments)]
    pub fn backward_masked(
        &self,
        x: &[[[T; C]; S]],
        lengths: &[usize],
        saved: &MaskedSaved<C>,
        dy: &[[[T; C]; S]],
        dx: &mut [[[T; C]; S]],
        grads: &mut AffineGrads<[T; C]>,
    ) -> Result<(), NormError> {
        check_backward(saved.rows, x.len(), dy.len(), dx.len())?;
        check_lengths(lengths, x.len(), (0, S))?;
        self.backward_with(x, &|n| lengths[n], saved, dy, dx, grads);
        Ok(())
    }

    /// [`backward_masked`](Self::backward_masked) over the lengths
    /// `len_of(n)`, checked.
    fn backward_with(
        &self,
        x: &[[[T; C]; S]],
        len_of: &dyn Fn(usize) -> usize,
        saved: &MaskedSaved<C>,
        dy: &[[[T; C]; S]],
        dx: &mut [[[T; C]; S]],
        grads: &mut AffineGrads<[T; C]>,
    ) {
        let rstd: [f64; C] = core::array::from_fn(|c| 1.0 / (saved.var[c] + self.eps).sqrt());
        let valid = || {
            x.iter()
                .zip(dy)
                .enumerate()
                .flat_map(|(n, (x, dy))| x[..len_of(n)].iter().zip(&dy[..len_of(n)]))
        };
        // Σ_V dy and Σ_V dy · x̂ per channel.
        let (mut sum_dy, mut sum_dy_xhat) = ([0.0; C], [0.0; C]);
        for (x, dy) in valid() {
            for c in 0..C {
                let xhat = (x[c].to_f64() - saved.mean[c]) * rstd[c];
                sum_dy[c] += dy[c].to_f64();
                sum_dy_xhat[c] += dy[c].to_f64() * xhat;
            }
        }
        #[allow(clippy::cast_precision_loss)]
        let count = saved.valid.map(|m| m as f64);
        for (n, ((x, dy), dx)) in x.iter().zip(dy).zip(dx.iter_mut()).enumerate() {
            let len = len_of(n);
            for (t, ((x, dy), dx)) in x.iter().zip(dy).zip(dx.iter_mut()).enumerate() {
                for c in 0..C {
                    if t >= len {
                        dx[c] = T::ZERO;
                        continue;
                    }
                    let w = self.weight[c].to_f64();
                    let g = dy[c].to_f64() * w;
                    dx[c] = T::from_f64(match count {
                        Some(m) => {
                            let xhat = (x[c].to_f64() - saved.mean[c]) * rstd[c];
                            (g - w * sum_dy[c] / m - xhat * w * sum_dy_xhat[c] / m) * rstd[c]
                        }
                        None => g * rstd[c],
                    });
                }
            }
        }
        for c in 0..C {
            grads.weight[c] += T::from_f64(sum_dy_xhat[c]);
            grads.bias[c] += T::from_f64(sum_dy[c]);
        }
    }
}

impl<const C: usize, const S: usize, T: Float> Parameters for MaskedBatchNorm<C, S, T> {
    type Scalar = T;
    type Grads = AffineGrads<[T; C]>;

    fn parameter(&self, i: usize) -> &[T] {
        match i {
            0 => &self.weight,
            1 => &self.bias,
            _ => &[],
        }
    }

    fn parameter_mut(&mut self, i: usize) -> &mut [T] {
        match i {
            0 => &mut self.weight,
            1 => &mut self.bias,
            _ => &mut [],
        }
    }

    /// Back to `BatchNorm1d`'s initial state (the generator is not used).
    fn reset_parameters<R: rand::Rng + ?Sized>(&mut self, _: &mut R) {
        *self = Self {
            eps: self.eps,
            momentum: self.momentum,
            ..Self::new()
        };
    }
}

impl<const C: usize, const S: usize, T: Float> StateDict for MaskedBatchNorm<C, S, T> {
    type Scalar = T;

    fn visit_arrays(&self, f: &mut Visit<'_, T>) {
        let shape: &'static [usize] = crate::shape_of(&self.weight);
        f(&Key::leaf("weight"), shape, &self.weight);
        f(&Key::leaf("bias"), shape, &self.bias);
        f(&Key::leaf("running_mean"), shape, &self.running_mean);
        f(&Key::leaf("running_var"), shape, &self.running_var);
    }

    fn visit_arrays_mut(&mut self, f: &mut VisitMut<'_, T>) {
        let shape: &'static [usize] = crate::shape_of(&self.weight);
        f(&Key::leaf("weight"), shape, &mut self.weight);
        f(&Key::leaf("bias"), shape, &mut self.bias);
        f(&Key::leaf("running_mean"), shape, &mut self.running_mean);
        f(&Key::leaf("running_var"), shape, &mut self.running_var);
    }

    fn visit_counters(&self, f: &mut VisitCounter<'_>) {
        f(&Key::leaf("num_batches_tracked"), self.num_batches_tracked);
    }

    fn visit_counters_mut(&mut self, f: &mut VisitCounterMut<'_>) {
        f(
            &Key::leaf("num_batches_tracked"),
            &mut self.num_batches_tracked,
        );
    }
}

impl<const C: usize, const S: usize, T: Float> Layer for MaskedBatchNorm<C, S, T> {
    type Input = [[T; C]; S];
    type Output = [[T; C]; S];
    type Saved = MaskedSaved<C>;
    const MIN_TRAIN_ROWS: usize = if S >= 2 { 1 } else { 2 };
    const EVAL_PER_ROW: bool = true;

    fn forward_train(
        &mut self,
        x: &[Self::Input],
        y: &mut [Self::Output],
    ) -> Result<MaskedSaved<C>, NormError> {
        let saved = self.forward_train_deferred(x, y)?;
        self.commit_train(x, &saved);
        Ok(saved)
    }

    /// Every example `S` steps long.
    fn forward_train_deferred(
        &mut self,
        x: &[Self::Input],
        y: &mut [Self::Output],
    ) -> Result<MaskedSaved<C>, NormError> {
        let rows = check_forward(x.len(), y.len())?;
        self.train_with(x, &|_| S, y, rows)
    }

    fn commit_train(&mut self, _: &[Self::Input], saved: &MaskedSaved<C>) {
        self.commit_masked(saved);
    }

    fn forward_eval(
        &self,
        x: &[Self::Input],
        y: &mut [Self::Output],
    ) -> Result<MaskedSaved<C>, NormError> {
        let rows = check_forward(x.len(), y.len())?;
        let mean = self.running_mean.map(Float::to_f64);
        let var = self.running_var.map(Float::to_f64);
        self.normalize(x, &|_| S, (&mean, &var), y);
        Ok(MaskedSaved {
            rows,
            mean,
            var,
            valid: None,
        })
    }

    fn backward(
        &self,
        x: &[Self::Input],
        saved: &MaskedSaved<C>,
        dy: &[Self::Output],
        dx: &mut [Self::Output],
        grads: &mut Self::Grads,
    ) -> Result<(), NormError> {
        check_backward(saved.rows, x.len(), dy.len(), dx.len())?;
        self.backward_with(x, &|_| S, saved, dy, dx, grads);
        Ok(())
    }
}

/// Its state dict: `BatchNorm1d`'s keys to arrays, `num_batches_tracked` an
/// integer (feature `serde`); eps and momentum are not in it.
#[cfg(feature = "serde")]
impl<const C: usize, const S: usize, T: Float + serde::Serialize> serde::Serialize
    for MaskedBatchNorm<C, S, T>
{
    fn serialize<Ser: serde::Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        crate::serde_layer::serialize_state_dict(serializer, self)
    }
}

/// Unknown, duplicate or missing keys and wrong shapes are errors (feature
/// `serde`); eps and momentum come back as the defaults.
#[cfg(feature = "serde")]
impl<'de, const C: usize, const S: usize, T: Float + serde::Deserialize<'de>>
    serde::Deserialize<'de> for MaskedBatchNorm<C, S, T>
{
    fn deserialize<De: serde::Deserializer<'de>>(deserializer: De) -> Result<Self, De::Error> {
        let mut layer = Self::new();
        crate::serde_layer::deserialize_state_dict(deserializer, &mut layer)?;
        Ok(layer)
    }
}
