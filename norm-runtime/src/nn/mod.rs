//! The pieces around normalization layers that make a small network:
//! [`Linear`]; for convolutional networks [`Conv1d`] and [`Conv2d`], the
//! pools [`MaxPool1d`], [`MaxPool2d`], [`AvgPool1d`], [`AvgPool2d`] and the
//! global [`AdaptiveAvgPool1d`], [`AdaptiveAvgPool2d`],
//! [`AdaptiveMaxPool1d`], [`AdaptiveMaxPool2d`], and [`Flatten`]; the
//! activations [`Relu`], [`Tanh`], [`Gelu`], [`Sigmoid`], [`Silu`],
//! [`LeakyRelu`] and [`Relu6`] over flat rows and [`ReluOn`], [`TanhOn`],
//! [`GeluOn`], [`SigmoidOn`], [`SiluOn`], [`LeakyReluOn`], [`Relu6On`]
//! ([`Relu1d`], [`Relu2d`]) over rows of any shape; [`Softmax`] and
//! [`LogSoftmax`] over the last dim ([`SoftmaxOn`], [`LogSoftmaxOn`] for a
//! sequence of vectors or any row); the lookup table [`Embedding`], which
//! takes indices instead of rows; the losses [`cross_entropy`] and
//! [`mse`], and the optimizers [`Sgd`] and [`Adam`]. All have fixed sizes
//! and allocate nothing; numerics, weight layouts, state-dict names and
//! initialization follow PyTorch.
//!
//! Recurrent layers run a [`Cell`] over sequences with [`Recurrent`]
//! (backpropagation through time, streaming): PyTorch's [`Rnn`], [`Gru`],
//! [`Lstm`] and their cells, and the layer-normalized [`LnLstm`] (Ba, Kiros
//! and Hinton 2016: `gates = LN_hh(W_hh h) + LN_ih(W_ih x) + bias`,
//! `c' = σ(f) c + σ(i) tanh(g)`, `h' = σ(o) tanh(LN_c(c'))`) and [`LnGru`]
//! (`r, z = σ(LN_ih(W_ih x)_rz + LN_hh(W_hh h)_rz + bias_rz)`, `n =
//! tanh(LN_ih_n(W_in x) + r LN_hh_n(W_hn h) + bias_n)`, `h' = (1 - z) n +
//! z h`), which `torch.nn` lacks (pytorch/pytorch#11335, #12167); every
//! layer norm is `LayerNorm` with ε = [`LN_EPS`], gain 1 and bias 0 at
//! initialization. Details in [`LnLstmCell`] and [`LnGruCell`].
//!
//! For sequences of tokens `[[T; E]; L]` (PyTorch's `batch_first` `(N, L,
//! E)`): self-attention [`MultiheadAttention`] and the transformer block
//! [`TransformerEncoderLayer`] (with [`TokenNorm`], its layer norm); and
//! between sequences and rows, [`PerStep`] (any layer at every step),
//! [`LastStep`] and [`MeanOverSteps`].
//!
//! Convolutional rows are channel-major, as PyTorch's `(N, C, L)` and
//! `(N, C, H, W)`: `[[T; L]; C]` and `[[[T; W]; H]; C]`. Every size is a
//! const generic, output sizes included (stable Rust cannot compute them in
//! a type); [`conv_out_len`](crate::kernels::window::conv_out_len) and
//! [`pool_out_len`](crate::kernels::window::pool_out_len) give them, and a
//! wrong one is a compile error.
//!
//! `#[network]` (in `constnorm`) chains layers into a model; the optimizers
//! update any [`Parameters`], a single layer or a whole
//! network.

mod activation;
mod attention;
mod conv;
mod dropout;
mod embedding;
mod excitation;
mod flatten;
mod linear;
mod loss;
mod magnitude;
mod masked;
mod optim;
mod pad;
pub(crate) mod params;
mod pool;
mod recurrent;
mod sequence;
mod softmax;
mod stft;
mod transformer;

pub use activation::{
    Activation, ActivationOn, Elementwise, Gelu, GeluFn, GeluOn, HardGate, Hardsigmoid,
    HardsigmoidFn, HardsigmoidOn, Hardswish, HardswishFn, HardswishOn, LeakyRelu, LeakyReluFn,
    LeakyReluOn, PaddleGate, Relu, Relu1d, Relu2d, Relu6, Relu6Fn, Relu6On, ReluFn, ReluOn,
    Sigmoid, SigmoidFn, SigmoidOn, Silu, SiluFn, SiluOn, Tanh, TanhFn, TanhOn, TorchGate, VectorFn,
};
pub use attention::{AttnMask, MultiheadAttention, MultiheadAttentionGrads};
pub use conv::{Conv1d, Conv2d, ConvGrads};
pub use dropout::{Dropout, DropoutSaved};
pub use embedding::{Embedding, EmbeddingGrads};
pub use excitation::{SqueezeExcitation, SqueezeExcitationGrads};
pub use flatten::Flatten;
pub use linear::{Linear, LinearGrads};
pub use loss::{cross_entropy, mse};
pub use magnitude::{ComplexMagnitude, ComplexMagnitude1d};
pub use masked::{MaskedBatchNorm, MaskedSaved};
pub use optim::{Adam, Sgd};
pub use pad::{
    Constant, ConstantPad1d, ConstantPad2d, Pad1d, Pad2d, PadMode, Reflect, ReflectionPad1d,
    ReflectionPad2d, Replicate, ReplicationPad1d, ReplicationPad2d, ZeroPad1d, ZeroPad2d,
};
pub use pool::{
    AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool1d, AdaptiveMaxPool2d, AvgPool1d,
    AvgPool2d, MaxPool1d, MaxPool2d,
};
pub use recurrent::{
    Cell, CellMath, Gru, GruCell, GruMath, LN_EPS, LnGru, LnGruCell, LnGruCellGrads, LnLstm,
    LnLstmCell, LnLstmCellGrads, Lstm, LstmCell, LstmMath, MAX_LAYERS, Recurrent, Rnn, RnnCell,
    RnnMath, Stacked, StackedGrads, StackedState, StandardCell, StandardCellGrads,
};
pub use sequence::{LastStep, MeanOverSteps, PerStep, padding_mask};
pub use softmax::{LogSoftmax, LogSoftmaxFn, LogSoftmaxOn, Softmax, SoftmaxFn, SoftmaxOn};
pub use stft::StftMagnitude;
pub use transformer::{
    TokenNorm, TokenNormGrads, TransformerEncoderLayer, TransformerEncoderLayerGrads,
};

use crate::{Float, NormError, Parameters};
use rand::{RngExt, SeedableRng};

/// What the layers of this module ([`Linear`], the convolutions, pools,
/// [`Flatten`] and activations) save for backward:
/// the number of rows of the forward pass, so that backward can check it got
/// the same batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SavedRows {
    /// Rows of the forward pass.
    pub rows: usize,
}

impl SavedRows {
    /// The checks of a forward pass, for layers of your own: `y` has as many
    /// rows as `x`, and `x` at least one. Returns what backward checks
    /// against.
    ///
    /// # Errors
    /// [`NormError::RowCountMismatch`] (argument `"y"`) or
    /// [`NormError::EmptyBatch`].
    #[inline]
    pub fn check_forward(x_rows: usize, y_rows: usize) -> Result<Self, NormError> {
        crate::kernels::check_forward(x_rows, y_rows)?;
        Ok(Self { rows: x_rows })
    }

    /// The checks of a backward pass against the forward pass that saved
    /// `self`: `x` has its row count, `dy` and `dx` as many rows as `x`.
    ///
    /// # Errors
    /// [`NormError::SavedRowsMismatch`] or [`NormError::RowCountMismatch`]
    /// (argument `"dy"` or `"dx"`).
    #[inline]
    pub fn check_backward(
        self,
        x_rows: usize,
        dy_rows: usize,
        dx_rows: usize,
    ) -> Result<(), NormError> {
        crate::kernels::check_backward(self.rows, x_rows, dy_rows, dx_rows)
    }
}

/// PyTorch's default initialization of `Linear` and the convolutions:
/// `kaiming_uniform_(weight, a = sqrt(5))`, which is uniform in
/// ±1/√`fan_in`, then the bias (empty when the layer has none) from the same
/// range, drawn in that order. A `fan_in` of 0 leaves zeros.
pub(crate) fn kaiming_uniform<T: Float, R: rand::Rng + ?Sized>(
    rng: &mut R,
    fan_in: usize,
    weight: &mut [T],
    bias: &mut [T],
) {
    if fan_in == 0 {
        weight.fill(T::ZERO);
        bias.fill(T::ZERO);
        return;
    }
    #[allow(clippy::cast_precision_loss)]
    let bound = 1.0 / (fan_in as f64).sqrt();
    for v in weight.iter_mut().chain(bias) {
        *v = T::from_f64(rng.random_range(-bound..bound));
    }
}

/// The impls of a layer without parameters or state (activations, pools,
/// [`Flatten`]): `new` and `Default`, no [`Parameters`], no [`StateDict`]
/// entries, and serde as a unit value, so a network holding it can derive
/// `Serialize` and `Deserialize`. The type's only field is `marker`, a
/// `PhantomData`.
macro_rules! stateless_layer {
    ([$($generics:tt)*] $layer:ty, scalar = $scalar:ty) => {
        impl<$($generics)*> $layer {
            /// The layer (it has no state).
            #[must_use]
            pub const fn new() -> Self {
                Self {
                    marker: ::core::marker::PhantomData,
                }
            }
        }

        impl<$($generics)*> Default for $layer {
            fn default() -> Self {
                Self::new()
            }
        }

        // SAFETY: `init_at` writes the whole (zero-sized) value.
        unsafe impl<$($generics)*> $crate::network::InPlace for $layer {
            #[inline]
            unsafe fn init_at(p: *mut Self) {
                // SAFETY: the caller's `p` is valid for writes and aligned.
                unsafe { p.write(Self::new()) }
            }
        }

        $crate::nn::no_parameters!([$($generics)*] $layer, scalar = $scalar);

        /// A unit value: the layer has no state (feature `serde`).
        #[cfg(feature = "serde")]
        impl<$($generics)*> serde::Serialize for $layer {
            fn serialize<Ser: serde::Serializer>(
                &self,
                serializer: Ser,
            ) -> Result<Ser::Ok, Ser::Error> {
                serializer.serialize_unit()
            }
        }

        /// Accepts a unit value (feature `serde`).
        #[cfg(feature = "serde")]
        impl<'de, $($generics)*> serde::Deserialize<'de> for $layer {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                <() as serde::Deserialize>::deserialize(deserializer)?;
                Ok(Self::new())
            }
        }
    };
}
pub(crate) use stateless_layer;

/// `Parameters` (none, gradients `NoGrads`) and `StateDict` (no entries) of
/// a layer that learns and tracks nothing: the stateless layers, and those
/// whose only fields are configuration (padding's fill value, dropout's
/// probability and seed, an STFT's window and twiddles).
macro_rules! no_parameters {
    ([$($generics:tt)*] $layer:ty, scalar = $scalar:ty) => {
        impl<$($generics)*> $crate::Parameters for $layer {
            type Scalar = $scalar;
            type Grads = $crate::NoGrads;

            #[inline]
            fn parameter(&self, _: usize) -> &[$scalar] {
                &[]
            }

            #[inline]
            fn parameter_mut(&mut self, _: usize) -> &mut [$scalar] {
                &mut []
            }

            #[inline]
            fn reset_parameters<G: rand::Rng + ?Sized>(&mut self, _: &mut G) {}
        }

        impl<$($generics)*> $crate::StateDict for $layer {
            type Scalar = $scalar;

            fn visit_arrays(&self, _: &mut $crate::Visit<'_, $scalar>) {}

            fn visit_arrays_mut(&mut self, _: &mut $crate::VisitMut<'_, $scalar>) {}

            fn visit_counters(&self, _: &mut $crate::VisitCounter<'_>) {}

            fn visit_counters_mut(&mut self, _: &mut $crate::VisitCounterMut<'_>) {}
        }
    };
}
pub(crate) use no_parameters;

/// Initializes every parameter of `model` from a generator seeded with
/// `seed`, as PyTorch's `reset_parameters` does (Kaiming-uniform for
/// `Linear` and the convolutions; weight 1, bias 0 for normalization
/// layers). The same seed gives
/// the same parameters on every run and machine.
pub fn init_seeded<P: Parameters>(model: &mut P, seed: u64) {
    model.reset_parameters(&mut rand::rngs::StdRng::seed_from_u64(seed));
}

/// Checks a forward pass: as many output rows as input rows, at least one.
pub(crate) fn check_forward(x_rows: usize, y_rows: usize) -> Result<SavedRows, NormError> {
    SavedRows::check_forward(x_rows, y_rows)
}

/// Checks a backward pass against the forward pass it undoes.
pub(crate) fn check_backward(
    saved: SavedRows,
    x_rows: usize,
    dy_rows: usize,
    dx_rows: usize,
) -> Result<(), NormError> {
    saved.check_backward(x_rows, dy_rows, dx_rows)
}

/// Checks the sequence lengths of a batch of `rows` examples: one per
/// example, each at least `min` (1 for the layers that need a step, 0 for
/// the masked batch norm) and at most `steps`.
pub(crate) fn check_lengths(
    lengths: &[usize],
    rows: usize,
    (min, steps): (usize, usize),
) -> Result<(), NormError> {
    crate::kernels::check_same_rows(rows, &[("lengths", lengths.len())])?;
    match lengths.iter().position(|&l| l < min || l > steps) {
        Some(row) => Err(NormError::LengthOutOfRange {
            row,
            length: lengths[row],
            steps,
        }),
        None => Ok(()),
    }
}
