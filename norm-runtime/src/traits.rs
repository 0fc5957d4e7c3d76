//! The traits every layer implements: [`Parameters`], [`Layer`] and, for
//! normalization layers, [`Normalization`].

use crate::{Float, NormError, Row};
use core::fmt::Debug;

/// Whether a forward pass used the batch's own statistics or fixed ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `forward_train`: batch norm used the batch's statistics.
    Train,
    /// `forward_eval`: batch norm used its running statistics.
    Eval,
}

/// The parameter arrays of a layer or network, in a fixed order, with the
/// gradients that match them one to one. Optimizers
/// ([`Sgd`](crate::nn::Sgd), [`Adam`](crate::nn::Adam)) update every
/// parameter through it.
pub trait Parameters {
    /// The scalar type, `f32` or `f64`.
    type Scalar: Float;
    /// Gradients of every parameter array, in the same order; `Default` is
    /// zeros. Optimizers keep their state (momentum, moments) in this type too,
    /// so nothing is allocated.
    type Grads: Gradients<Self::Scalar>;

    /// Parameter array `i` (`0..Self::Grads::ARRAYS`) as a flat slice; empty
    /// when `i` is out of range.
    fn parameter(&self, i: usize) -> &[Self::Scalar];

    /// Parameter array `i` for writing; empty when `i` is out of range.
    fn parameter_mut(&mut self, i: usize) -> &mut [Self::Scalar];

    /// Sets every parameter as PyTorch's `reset_parameters` does: `Linear`
    /// draws from `rng` (Kaiming-uniform), normalization layers go back to
    /// weight 1, bias 0 and fresh running statistics. A seeded `rng` makes it
    /// reproducible.
    fn reset_parameters<R: rand::Rng + ?Sized>(&mut self, rng: &mut R);
}

/// A fixed-size container of gradient arrays, numbered like the
/// [`Parameters`] they belong to.
pub trait Gradients<T: Float>: Default + Clone + Debug {
    /// How many arrays.
    const ARRAYS: usize;

    /// Array `i` as a flat slice; empty when `i` is out of range.
    fn array(&self, i: usize) -> &[T];

    /// Array `i` for writing; empty when `i` is out of range.
    fn array_mut(&mut self, i: usize) -> &mut [T];

    /// Sets every gradient to zero, as `optimizer.zero_grad()` does.
    #[inline]
    fn set_zero(&mut self) {
        for i in 0..Self::ARRAYS {
            self.array_mut(i).fill(T::ZERO);
        }
    }
}

/// A layer of fixed size: forward in training and inference mode, and the
/// exact backward pass of either. Normalization layers, [`Linear`](crate::nn::Linear)
/// and the activations implement it, and `#[network]` chains layers through it.
///
/// A batch is a slice of rows, one row ([`Layer::Input`], for example
/// `[f32; 16]`) per example. No method allocates.
///
/// # Errors
/// Every slice method checks that `y`, `dy` and `dx` have as many rows as `x`,
/// that `x` is not empty, and, for batch-norm training, that every channel sees
/// at least two values. A call that returns an error has changed nothing.
///
/// # Implementing Layer for your own type
/// A type of yours (an activation, a learnable scale, a convolution) becomes
/// a field of a `#[network]` by implementing `Layer`, [`Parameters`] and
/// [`StateDict`](crate::StateDict): backward writes `dx` and adds (`+=`) to
/// the parameter gradients, a refused call changes nothing, and
/// `parameter(i)` is the array of `Grads::array(i)`. The crate docs' section
/// ["Your own layer"](../constnorm/index.html#your-own-layer) spells out the
/// contract with a complete example.
pub trait Layer: Parameters {
    /// One input example, such as `[f32; 16]`.
    type Input: Row<Scalar = Self::Scalar>;
    /// One output example.
    type Output: Row<Scalar = Self::Scalar>;
    /// Fixed-size values a forward pass saves for backward (no heap).
    type Saved: Clone + Debug;

    /// The fewest rows `forward_train` accepts: 2 for batch norm, which needs
    /// two values per channel for a variance, 1 for layer norm.
    const MIN_TRAIN_ROWS: usize = 1;

    /// The fewest rows `forward_eval` accepts: 1, except for a batch norm
    /// without running statistics, which normalizes with the batch's
    /// statistics in inference too.
    const MIN_EVAL_ROWS: usize = 1;

    /// Whether [`forward_eval`](Self::forward_eval) computes each output row
    /// from its input row alone, bit for bit whatever the other rows: then a
    /// network may run its inference a few rows at a time through all its
    /// layers, so that each layer's output is still in cache when the next
    /// layer reads it. `false` unless a layer says otherwise (the safe
    /// answer for a layer that mixes rows); every layer of this crate says
    /// `true` but a batch norm without running statistics, which normalizes
    /// with the batch's statistics in inference too.
    const EVAL_PER_ROW: bool = false;

    /// Training-mode forward pass: normalizes `x` into `y`. Batch norm uses the
    /// batch's statistics and updates its running statistics.
    ///
    /// # Errors
    /// [`NormError::RowCountMismatch`] if `y.len() != x.len()`,
    /// [`NormError::EmptyBatch`] if `x` is empty,
    /// [`NormError::TooFewValuesPerChannel`] for batch norm on one row,
    /// [`NormError::NonFiniteStatistics`] for a layer that tracks running
    /// statistics when a channel's batch statistics are NaN or infinite (the
    /// running statistics are then unchanged, `y` may hold non-finite
    /// values).
    fn forward_train(
        &mut self,
        x: &[Self::Input],
        y: &mut [Self::Output],
    ) -> Result<Self::Saved, NormError>;

    /// [`forward_train`](Self::forward_train) without the update of the
    /// layer's own state (batch norm's running statistics and
    /// `num_batches_tracked`), which [`commit_train`](Self::commit_train)
    /// then makes: the two in turn are `forward_train`, bit for bit. A
    /// `#[network]` runs every layer's `forward_train_deferred` and commits
    /// only when all of them succeeded, so a training step refused by a
    /// later layer leaves every layer unchanged.
    ///
    /// The default is `forward_train` itself (and `commit_train` does
    /// nothing): right for a layer whose training pass changes no state,
    /// such as every layer without running statistics. A layer that updates
    /// state in training overrides both, or its update is not undone when a
    /// later layer of a network refuses the step.
    ///
    /// # Errors
    /// Those of [`forward_train`](Self::forward_train), with the same
    /// checks; on error the layer is unchanged.
    #[inline]
    fn forward_train_deferred(
        &mut self,
        x: &[Self::Input],
        y: &mut [Self::Output],
    ) -> Result<Self::Saved, NormError> {
        self.forward_train(x, y)
    }

    /// Makes the state update of the training pass over `x` that returned
    /// `saved` from [`forward_train_deferred`](Self::forward_train_deferred);
    /// cannot fail (everything was checked then). Call it once, with the same
    /// `x`, and only after that call succeeded. The default does nothing.
    #[inline]
    fn commit_train(&mut self, x: &[Self::Input], saved: &Self::Saved) {
        let _ = (x, saved);
    }

    /// Inference-mode forward pass: normalizes `x` into `y`. Batch norm uses
    /// its running statistics; nothing is updated.
    ///
    /// # Errors
    /// [`NormError::RowCountMismatch`] if `y.len() != x.len()`,
    /// [`NormError::EmptyBatch`] if `x` is empty.
    fn forward_eval(
        &self,
        x: &[Self::Input],
        y: &mut [Self::Output],
    ) -> Result<Self::Saved, NormError>;

    /// Backward pass of the forward call that returned `saved`: writes the
    /// input gradient into `dx` and accumulates (`+=`) the parameter gradients
    /// into `grads`. `x` must be the same input that forward call saw.
    ///
    /// # Errors
    /// [`NormError::SavedRowsMismatch`] if `x` does not have as many rows as
    /// the forward pass, [`NormError::RowCountMismatch`] if `dy` or `dx` do not
    /// have as many rows as `x`. On error neither `dx` nor `grads` is touched.
    fn backward(
        &self,
        x: &[Self::Input],
        saved: &Self::Saved,
        dy: &[Self::Output],
        dx: &mut [Self::Input],
        grads: &mut Self::Grads,
    ) -> Result<(), NormError>;

    /// [`forward_train`](Self::forward_train) on a batch of constant size `B`,
    /// returning the output by value.
    ///
    /// A batch too small to train on (`B == 0`, or `B == 1` for batch norm) is
    /// a compile error, so the sizes cannot fail.
    ///
    /// # Panics
    /// On [`NormError::NonFiniteStatistics`]: a NaN or an infinity in the
    /// batch of a layer that tracks running statistics (which are left
    /// unchanged). Where the data may hold them, call
    /// [`try_forward_train_array`](Self::try_forward_train_array) or
    /// [`forward_train`](Self::forward_train) instead.
    #[inline]
    fn forward_train_array<const B: usize>(
        &mut self,
        x: &[Self::Input; B],
    ) -> ([Self::Output; B], Self::Saved) {
        const {
            assert!(B > 0, "empty batch: B must be at least 1");
            assert!(
                B >= Self::MIN_TRAIN_ROWS,
                "batch too small to train on: batch norm needs at least 2 rows (one value per channel has no variance)"
            );
        }
        match train_by_value(self, x) {
            Ok(out) => out,
            Err(e) => panic!("forward_train_array: {e}"),
        }
    }

    /// [`forward_train_array`](Self::forward_train_array) that returns the
    /// refusal of a non-finite batch instead of panicking.
    ///
    /// # Errors
    /// [`NormError::NonFiniteStatistics`] (the layer's state unchanged); the
    /// sizes are checked at compile time.
    #[inline]
    fn try_forward_train_array<const B: usize>(
        &mut self,
        x: &[Self::Input; B],
    ) -> Result<([Self::Output; B], Self::Saved), NormError> {
        const {
            assert!(B > 0, "empty batch: B must be at least 1");
            assert!(
                B >= Self::MIN_TRAIN_ROWS,
                "batch too small to train on: batch norm needs at least 2 rows (one value per channel has no variance)"
            );
        }
        train_by_value(self, x)
    }

    /// [`forward_eval`](Self::forward_eval) on a batch of constant size `B`,
    /// returning the output by value. A batch too small (`B == 0`, or below
    /// [`MIN_EVAL_ROWS`](Self::MIN_EVAL_ROWS)) is a compile error, so this
    /// cannot fail.
    #[inline]
    fn forward_eval_array<const B: usize>(
        &self,
        x: &[Self::Input; B],
    ) -> ([Self::Output; B], Self::Saved) {
        const {
            assert!(B > 0, "empty batch: B must be at least 1");
            assert!(
                B >= Self::MIN_EVAL_ROWS,
                "batch too small: without running statistics, batch norm needs at least 2 values per channel in inference too"
            );
        }
        by_value(|y| self.forward_eval(x, y))
    }

    /// [`backward`](Self::backward) on a batch of constant size `B`, returning
    /// `dx` by value.
    ///
    /// # Errors
    /// [`NormError::SavedRowsMismatch`] if `saved` comes from a forward pass
    /// over a different number of rows; `grads` is then untouched.
    #[inline]
    fn backward_array<const B: usize>(
        &self,
        x: &[Self::Input; B],
        saved: &Self::Saved,
        dy: &[Self::Output; B],
        grads: &mut Self::Grads,
    ) -> Result<[Self::Input; B], NormError> {
        let mut dx = [Self::Input::ZERO; B];
        self.backward(x, saved, dy, &mut dx, grads)?;
        Ok(dx)
    }
}

/// Runs `forward` into a fresh array of `B` rows and returns it with what the
/// pass saved, for the `_array` methods, whose batch size was checked at
/// compile time.
#[inline]
/// `forward_train` into a new array: the body of both `*_train_array`
/// methods, which check the sizes themselves (so a too-small batch is one
/// error at the caller's line).
fn train_by_value<L: Layer + ?Sized, const B: usize>(
    layer: &mut L,
    x: &[L::Input; B],
) -> Result<([L::Output; B], L::Saved), NormError> {
    let mut y = [L::Output::ZERO; B];
    let saved = layer.forward_train(x, &mut y)?;
    Ok((y, saved))
}

fn by_value<O: Row, S, const B: usize>(
    forward: impl FnOnce(&mut [O]) -> Result<S, NormError>,
) -> ([O; B], S) {
    let mut y = [O::ZERO; B];
    match forward(&mut y) {
        Ok(saved) => (y, saved),
        Err(e) => unreachable!("sizes were checked at compile time: {e}"),
    }
}

/// A normalization layer: a [`Layer`] whose output has the shape of its
/// input, one [`Normalization::Row`] per example.
///
/// Generated by [`normalize`](../constnorm/attr.normalize.html); the numeric
/// semantics are PyTorch's (`torch.nn.BatchNorm1d`, `torch.nn.LayerNorm`, ...).
/// The forward and backward methods are [`Layer`]'s.
pub trait Normalization:
    Layer<Input = <Self as Normalization>::Row, Output = <Self as Normalization>::Row>
{
    /// One example: `[Scalar; DIMS]` (nested for several dims).
    type Row: Row<Scalar = <Self as Parameters>::Scalar>;
}

/// Gradients of a layer's `weight` and `bias`, accumulated by
/// [`Layer::backward`]. `P` is the parameters' array type, such as
/// `[f32; 16]`. `Default` is all zeros.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AffineGrads<P> {
    /// Gradient of the loss with respect to `weight`.
    pub weight: P,
    /// Gradient of the loss with respect to `bias`.
    pub bias: P,
}

/// Gradient of the `weight` of a layer without bias (`bias = false`, or
/// RMS norm), accumulated by [`Layer::backward`]. `Default` is zeros.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WeightGrads<P> {
    /// Gradient of the loss with respect to `weight`.
    pub weight: P,
}

/// The gradients of a layer without parameters (`affine = false`): there are
/// none, and backward only computes `dx`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoGrads;

impl<P: Row> AffineGrads<P> {
    /// All zeros.
    #[must_use]
    pub const fn zeros() -> Self {
        Self {
            weight: P::ZERO,
            bias: P::ZERO,
        }
    }

    /// Sets every gradient back to zero, as `optimizer.zero_grad()` does.
    #[inline]
    pub fn zero(&mut self) {
        *self = Self::zeros();
    }
}

impl<P: Row> Default for AffineGrads<P> {
    #[inline]
    fn default() -> Self {
        Self::zeros()
    }
}

impl<P: Row> WeightGrads<P> {
    /// All zeros.
    #[must_use]
    pub const fn zeros() -> Self {
        Self { weight: P::ZERO }
    }

    /// Sets every gradient back to zero, as `optimizer.zero_grad()` does.
    #[inline]
    pub fn zero(&mut self) {
        *self = Self::zeros();
    }
}

impl<P: Row> Default for WeightGrads<P> {
    #[inline]
    fn default() -> Self {
        Self::zeros()
    }
}

impl<P: Row> Gradients<P::Scalar> for AffineGrads<P> {
    const ARRAYS: usize = 2;

    #[inline]
    fn array(&self, i: usize) -> &[P::Scalar] {
        match i {
            0 => self.weight.as_flat(),
            1 => self.bias.as_flat(),
            _ => &[],
        }
    }

    #[inline]
    fn array_mut(&mut self, i: usize) -> &mut [P::Scalar] {
        match i {
            0 => self.weight.as_flat_mut(),
            1 => self.bias.as_flat_mut(),
            _ => &mut [],
        }
    }
}

impl<P: Row> Gradients<P::Scalar> for WeightGrads<P> {
    const ARRAYS: usize = 1;

    #[inline]
    fn array(&self, i: usize) -> &[P::Scalar] {
        match i {
            0 => self.weight.as_flat(),
            _ => &[],
        }
    }

    #[inline]
    fn array_mut(&mut self, i: usize) -> &mut [P::Scalar] {
        match i {
            0 => self.weight.as_flat_mut(),
            _ => &mut [],
        }
    }
}

impl<T: Float> Gradients<T> for NoGrads {
    const ARRAYS: usize = 0;

    #[inline]
    fn array(&self, _: usize) -> &[T] {
        &[]
    }

    #[inline]
    fn array_mut(&mut self, _: usize) -> &mut [T] {
        &mut []
    }
}

// SAFETY: `init_at` writes the whole value (`zeros()`, per-channel arrays).
unsafe impl<P: Row> crate::network::InPlace for AffineGrads<P> {
    #[inline]
    unsafe fn init_at(p: *mut Self) {
        // SAFETY: the caller's `p` is valid for writes and aligned.
        unsafe { p.write(Self::zeros()) }
    }
}

// SAFETY: `init_at` writes the whole value (`zeros()`).
unsafe impl<P: Row> crate::network::InPlace for WeightGrads<P> {
    #[inline]
    unsafe fn init_at(p: *mut Self) {
        // SAFETY: the caller's `p` is valid for writes and aligned.
        unsafe { p.write(Self::zeros()) }
    }
}

// SAFETY: `init_at` writes the (zero-sized) value.
unsafe impl crate::network::InPlace for NoGrads {
    #[inline]
    unsafe fn init_at(p: *mut Self) {
        // SAFETY: the caller's `p` is valid for writes and aligned.
        unsafe { p.write(Self) }
    }
}
