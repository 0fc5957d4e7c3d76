//! A fully connected layer.

use super::{SavedRows, check_backward, check_forward};
use crate::state::{Key, Visit, VisitCounter, VisitCounterMut, VisitMut};
use crate::{Float, Gradients, Layer, NormError, Parameters, StateDict};

/// `y = x Wᵀ + b`, PyTorch's `torch.nn.Linear(IN, OUT)`: `weight` has
/// PyTorch's layout `[OUT][IN]` and state-dict names, and
/// [`reset_parameters`](Parameters::reset_parameters) draws PyTorch's
/// default initialization (weight and bias uniform in ±1/√IN).
///
/// [`Linear::new`] is all zeros; use
/// [`init_seeded`](super::init_seeded) or `reset_parameters` for a trainable
/// start.
#[derive(Clone, Debug, PartialEq)]
pub struct Linear<const IN: usize, const OUT: usize, T: Float = f32> {
    /// `weight[o][i]`, PyTorch's `[out_features, in_features]`.
    pub weight: [[T; IN]; OUT],
    /// `bias[o]`.
    pub bias: [T; OUT],
}

/// Gradients of a [`Linear`] layer's `weight` and `bias`; `Default` is zeros.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearGrads<const IN: usize, const OUT: usize, T: Float = f32> {
    /// Gradient of `weight`.
    pub weight: [[T; IN]; OUT],
    /// Gradient of `bias`.
    pub bias: [T; OUT],
}

impl<const IN: usize, const OUT: usize, T: Float> Linear<IN, OUT, T> {
    /// All weights and biases zero.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            weight: [[T::ZERO; IN]; OUT],
            bias: [T::ZERO; OUT],
        }
    }

    /// [`new`](Self::new) built straight on the heap, with no copy on the
    /// stack: for layers too large for it (a `Linear<2048, 2048>` is 16 MiB)
    /// in debug builds and on small thread stacks.
    #[cfg(feature = "std")]
    #[must_use]
    pub fn new_boxed() -> Box<Self> {
        crate::network::boxed::<Self>()
    }

    /// This layer followed by a batch norm in inference mode, as one `Linear`
    /// (PyTorch's `torch.nn.utils.fusion.fuse_linear_bn_eval`): with the batch
    /// norm's [`fold`](crate::Folded) `y = scale * z + shift`, the result has
    /// `weight[o] = scale[o] * weight[o]` and
    /// `bias[o] = scale[o] * bias[o] + shift[o]`. The batch norm must have
    /// `OUT` channels, which the types check.
    ///
    /// ```
    /// use constnorm::nn::Linear;
    /// use constnorm::{Layer, normalize};
    ///
    /// #[normalize(batch, dims = 2)]
    /// struct Bn;
    ///
    /// let mut fc = Linear::<3, 2>::new();
    /// fc.weight = [[1.0, 0.0, 2.0], [0.5, -1.0, 0.0]];
    /// let mut bn = Bn::new();
    /// bn.running_mean = [1.0, -2.0];
    /// bn.running_var = [4.0, 0.25];
    /// let fused = fc.fuse_batch_norm(&bn.fold());
    ///
    /// let x = [[1.0_f32, 2.0, 3.0]];
    /// let (z, _) = fc.forward_eval_array(&x);
    /// let (two_layers, _) = bn.forward_eval_array(&z);
    /// let (one_layer, _) = fused.forward_eval_array(&x);
    /// for (a, b) in two_layers[0].iter().zip(&one_layer[0]) {
    ///     assert!((a - b).abs() < 1e-6);
    /// }
    /// ```
    #[must_use]
    pub fn fuse_batch_norm(&self, bn: &crate::Folded<T, OUT>) -> Self {
        let mut fused = self.clone();
        for (((w, b), scale), shift) in fused
            .weight
            .iter_mut()
            .zip(&mut fused.bias)
            .zip(&bn.scale)
            .zip(&bn.shift)
        {
            for w in w.iter_mut() {
                *w *= *scale;
            }
            *b = *scale * *b + *shift;
        }
        fused
    }
}

impl<const IN: usize, const OUT: usize, T: Float> Default for Linear<IN, OUT, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const IN: usize, const OUT: usize, T: Float> Default for LinearGrads<IN, OUT, T> {
    fn default() -> Self {
        Self {
            weight: [[T::ZERO; IN]; OUT],
            bias: [T::ZERO; OUT],
        }
    }
}

/// Array `i` of a `Linear`'s parameters or of their gradients, in the same
/// order for both (what optimizers rely on): 0 the weight, flattened, 1 the
/// bias.
#[inline]
fn array<'a, T, const IN: usize, const OUT: usize>(
    weight: &'a [[T; IN]; OUT],
    bias: &'a [T; OUT],
    i: usize,
) -> &'a [T] {
    match i {
        0 => weight.as_flattened(),
        1 => bias,
        _ => &[],
    }
}

/// [`array`], mutable.
#[inline]
fn array_mut<'a, T, const IN: usize, const OUT: usize>(
    weight: &'a mut [[T; IN]; OUT],
    bias: &'a mut [T; OUT],
    i: usize,
) -> &'a mut [T] {
    match i {
        0 => weight.as_flattened_mut(),
        1 => bias,
        _ => &mut [],
    }
}

impl<const IN: usize, const OUT: usize, T: Float> Gradients<T> for LinearGrads<IN, OUT, T> {
    const ARRAYS: usize = 2;

    #[inline]
    fn array(&self, i: usize) -> &[T] {
        array(&self.weight, &self.bias, i)
    }

    #[inline]
    fn array_mut(&mut self, i: usize) -> &mut [T] {
        array_mut(&mut self.weight, &mut self.bias, i)
    }
}

impl<const IN: usize, const OUT: usize, T: Float> Parameters for Linear<IN, OUT, T> {
    type Scalar = T;
    type Grads = LinearGrads<IN, OUT, T>;

    #[inline]
    fn parameter(&self, i: usize) -> &[T] {
        array(&self.weight, &self.bias, i)
    }

    #[inline]
    fn parameter_mut(&mut self, i: usize) -> &mut [T] {
        array_mut(&mut self.weight, &mut self.bias, i)
    }

    fn reset_parameters<R: rand::Rng + ?Sized>(&mut self, rng: &mut R) {
        super::kaiming_uniform(rng, IN, self.weight.as_flattened_mut(), &mut self.bias);
    }
}

impl<const IN: usize, const OUT: usize, T: Float> Layer for Linear<IN, OUT, T> {
    type Input = [T; IN];
    type Output = [T; OUT];
    type Saved = SavedRows;
    const EVAL_PER_ROW: bool = true;

    #[inline]
    fn forward_train(&mut self, x: &[[T; IN]], y: &mut [[T; OUT]]) -> Result<SavedRows, NormError> {
        self.forward_eval(x, y)
    }

    #[inline]
    fn forward_eval(&self, x: &[[T; IN]], y: &mut [[T; OUT]]) -> Result<SavedRows, NormError> {
        let saved = check_forward(x.len(), y.len())?;
        crate::kernels::matvec::affine_batch(&self.weight, &self.bias, x, y);
        Ok(saved)
    }

    #[inline]
    fn backward(
        &self,
        x: &[[T; IN]],
        saved: &SavedRows,
        dy: &[[T; OUT]],
        dx: &mut [[T; IN]],
        grads: &mut LinearGrads<IN, OUT, T>,
    ) -> Result<(), NormError> {
        check_backward(*saved, x.len(), dy.len(), dx.len())?;
        let (gw, gb) = (&mut grads.weight, &mut grads.bias);
        crate::kernels::matvec::affine_backward_batch(&self.weight, x, dy, dx, gw, gb);
        Ok(())
    }
}

impl<const IN: usize, const OUT: usize, T: Float> Linear<IN, OUT, T> {
    const WEIGHT_SHAPE: &'static [usize] = &[OUT, IN];
    const BIAS_SHAPE: &'static [usize] = &[OUT];
}

impl<const IN: usize, const OUT: usize, T: Float> StateDict for Linear<IN, OUT, T> {
    type Scalar = T;

    fn visit_arrays(&self, f: &mut Visit<'_, T>) {
        f(
            &Key::leaf("weight"),
            Self::WEIGHT_SHAPE,
            self.weight.as_flattened(),
        );
        f(&Key::leaf("bias"), Self::BIAS_SHAPE, &self.bias);
    }

    fn visit_arrays_mut(&mut self, f: &mut VisitMut<'_, T>) {
        f(
            &Key::leaf("weight"),
            Self::WEIGHT_SHAPE,
            self.weight.as_flattened_mut(),
        );
        f(&Key::leaf("bias"), Self::BIAS_SHAPE, &mut self.bias);
    }

    fn visit_counters(&self, _: &mut VisitCounter<'_>) {}

    fn visit_counters_mut(&mut self, _: &mut VisitCounterMut<'_>) {}
}

/// Under PyTorch's names, `weight` as nested `[OUT][IN]` arrays (feature `serde`).
#[cfg(feature = "serde")]
impl<const IN: usize, const OUT: usize, T: Float + serde::Serialize> serde::Serialize
    for Linear<IN, OUT, T>
{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use crate::serde_layer::{field, serialize};
        serialize::<S, T>(
            serializer,
            "Linear",
            &[field("weight", &self.weight), field("bias", &self.bias)],
            &[],
        )
    }
}

/// Missing, unknown or duplicate fields and wrong lengths are errors (feature `serde`).
#[cfg(feature = "serde")]
impl<'de, const IN: usize, const OUT: usize, T: Float + serde::Deserialize<'de>>
    serde::Deserialize<'de> for Linear<IN, OUT, T>
{
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use crate::serde_layer::{deserialize, field_mut};
        let mut layer = Self::new();
        deserialize::<D, T>(
            deserializer,
            "Linear",
            &mut [
                field_mut("weight", &mut layer.weight),
                field_mut("bias", &mut layer.bias),
            ],
            &mut [],
        )?;
        Ok(layer)
    }
}

// SAFETY: `init_at` writes every row of `weight` and then `bias`, so a valid
// (all-zero) layer is left at `p`.
unsafe impl<const IN: usize, const OUT: usize, T: Float> crate::network::InPlace
    for Linear<IN, OUT, T>
{
    #[inline]
    unsafe fn init_at(p: *mut Self) {
        // SAFETY: the caller's `p` is valid for writes and aligned, and so is
        // each field's place in it.
        unsafe {
            crate::network::fill_rows(core::ptr::addr_of_mut!((*p).weight));
            core::ptr::addr_of_mut!((*p).bias).write([T::ZERO; OUT]);
        }
    }
}

// SAFETY: `init_at` writes both fields, `weight` row by row (zeros) and
// `bias`, so a valid value, equal to `Default`, is left at `p`.
unsafe impl<const IN: usize, const OUT: usize, T: Float> crate::network::InPlace
    for LinearGrads<IN, OUT, T>
{
    #[inline]
    unsafe fn init_at(p: *mut Self) {
        // SAFETY: the caller's `p` is valid for writes and aligned, and so is
        // each field's place in it.
        unsafe {
            crate::network::fill_rows(core::ptr::addr_of_mut!((*p).weight));
            core::ptr::addr_of_mut!((*p).bias).write([T::ZERO; OUT]);
        }
    }
}
