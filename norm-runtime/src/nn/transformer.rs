//! The transformer encoder block, and the layer norm of its tokens.

use super::attention::{Attended, AttnMask, sequence_layer};
use super::params::{parameter_arrays, zeroed_in_place};
use super::{
    Elementwise, Linear, LinearGrads, MultiheadAttention, MultiheadAttentionGrads, ReluFn,
    SavedRows,
};
use crate::kernels::rows::{layer_norm_backward, layer_norm_forward};
use crate::kernels::{Affine, GradsMut};
use crate::{Float, Layer, Mode, NormError, RowSaved, add_assign};
use core::marker::PhantomData;

/// PyTorch's `torch.nn.LayerNorm(N)` (eps `1e-5`, with `weight` and
/// `bias`) on every token of a sequence: the norms of a
/// [`TransformerEncoderLayer`], `norm1` and `norm2`. It runs the layer-norm
/// kernel of `#[normalize(layer, dims = N)]`; on its own, use that layer.
///
/// [`new`](Self::new) is PyTorch's initialization: weight 1, bias 0.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenNorm<const N: usize, T: Float = f32> {
    /// The scale, PyTorch's `weight`.
    pub weight: [T; N],
    /// The shift, PyTorch's `bias`.
    pub bias: [T; N],
}

/// Gradients of a [`TokenNorm`]'s `weight` and `bias`; `Default` is zeros.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenNormGrads<const N: usize, T: Float = f32> {
    /// Gradient of `weight`.
    pub weight: [T; N],
    /// Gradient of `bias`.
    pub bias: [T; N],
}

parameter_arrays! {
    impl[const N: usize, T: Float] TokenNorm<N, T>, grads TokenNormGrads<N, T>, scalar T, name "LayerNorm";
    reset(norm, _rng) {
        *norm = TokenNorm::new();
    }
    weight: "weight", shape [N];
    bias: "bias", shape [N];
}

impl<const N: usize, T: Float> TokenNorm<N, T> {
    /// PyTorch's default `layer_norm_eps`.
    pub const EPS: f64 = 1e-5;

    /// Weight 1, bias 0.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            weight: [T::ONE; N],
            bias: [T::ZERO; N],
        }
    }

    fn affine(&self) -> Affine<'_, [T; N]> {
        Affine {
            weight: Some(&self.weight),
            bias: Some(&self.bias),
        }
    }

    /// The normalized tokens of one example into `y` (PyTorch's `eps`),
    /// and what backward needs.
    fn apply<const L: usize>(
        &self,
        eps: f64,
        x: &[[T; N]; L],
        y: &mut [[T; N]; L],
    ) -> Result<RowSaved, NormError> {
        layer_norm_forward(self.affine(), eps, Mode::Train, x, y)
    }

    /// The input gradient of [`apply`](Self::apply); adds to `grads`.
    fn backward<const L: usize>(
        &self,
        eps: f64,
        x: &[[T; N]; L],
        saved: &RowSaved,
        dy: &[[T; N]; L],
        grads: &mut TokenNormGrads<N, T>,
    ) -> Result<[[T; N]; L], NormError> {
        let mut dx = [[T::ZERO; N]; L];
        let sums = GradsMut {
            weight: Some(&mut grads.weight),
            bias: Some(&mut grads.bias),
        };
        layer_norm_backward(self.affine(), eps, x, saved, dy, &mut dx, sums)?;
        Ok(dx)
    }
}

impl<const N: usize, T: Float> Default for TokenNorm<N, T> {
    fn default() -> Self {
        Self::new()
    }
}

/// A transformer encoder block, PyTorch's
/// `torch.nn.TransformerEncoderLayer(D, HEADS, FF, dropout = 0, activation,
/// layer_norm_eps, batch_first = True, norm_first = NORM_FIRST, bias =
/// True)` (`layer_norm_eps` the field of that name, `1e-5` unless set): self-attention and a feed-forward network `linear2(A(linear1(x)))`,
/// each with a residual connection and a layer norm. One example is a
/// sequence of `L` tokens of `D` features, `[[T; D]; L]`.
///
/// - Post-norm (`NORM_FIRST = false`, PyTorch's default):
///   `x = norm1(x + sa(x)); y = norm2(x + ff(x))`.
/// - Pre-norm (`NORM_FIRST = true`): `x = x + sa(norm1(x)); y = x + ff(norm2(x))`.
/// - `A` is the activation: [`ReluFn`] (`"relu"`) or
///   [`GeluFn`](super::GeluFn) (`"gelu"`, the exact erf form).
/// - `CAUSAL` passes the causal `src_mask` (PyTorch's `is_causal`);
///   [`forward_masked`](Self::forward_masked) adds `src_key_padding_mask`.
/// - State-dict keys are PyTorch's: `self_attn.in_proj_weight`,
///   `self_attn.in_proj_bias`, `self_attn.out_proj.weight`,
///   `self_attn.out_proj.bias`, `linear1.weight`, `linear1.bias`,
///   `linear2.weight`, `linear2.bias`, `norm1.weight`, `norm1.bias`,
///   `norm2.weight`, `norm2.bias`.
/// - [`reset_parameters`](crate::Parameters::reset_parameters) initializes
///   each sub-layer as PyTorch does; [`new`](Self::new) has zero attention and
///   linear layers and norms of weight 1, bias 0.
///
/// Training vs inference: the same (no dropout). Backward recomputes each
/// example's forward pass on the stack, so nothing is saved but the row
/// count, and nothing is allocated. That scratch is one example's
/// activations, about `(6 D + 2 FF) L + HEADS L²` values: 0.4 MiB at
/// `D = 1024`, `FF = 4096`, `L = 4`, several times that in a debug build,
/// so a block that large wants a thread stack over 2 MiB (build the layer
/// itself with [`new_boxed`](Self::new_boxed)).
///
/// ```
/// use constnorm::nn::{GeluFn, TransformerEncoderLayer, init_seeded};
/// use constnorm::{Layer, Parameters};
///
/// // d_model 8, 2 heads, dim_feedforward 32, 6 tokens, GELU, pre-norm.
/// type Block = TransformerEncoderLayer<8, 2, 32, 6, f64, GeluFn, true>;
/// let mut block = Block::new();
/// init_seeded(&mut block, 0);
/// let x = [[[0.25_f64; 8]; 6]; 2];
/// let (y, saved) = block.forward_train_array(&x);
/// let mut grads = <Block as Parameters>::Grads::default();
/// let dx = block.backward_array(&x, &saved, &y, &mut grads)?;
/// assert_eq!(dx.len(), 2);
/// # Ok::<(), constnorm::NormError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct TransformerEncoderLayer<
    const D: usize,
    const HEADS: usize,
    const FF: usize,
    const L: usize,
    T: Float = f32,
    A = ReluFn,
    const NORM_FIRST: bool = false,
    const CAUSAL: bool = false,
> {
    /// The self-attention, with biases.
    pub self_attn: MultiheadAttention<D, HEADS, L, T, true, CAUSAL>,
    /// The feed-forward network's first layer.
    pub linear1: Linear<D, FF, T>,
    /// The feed-forward network's second layer.
    pub linear2: Linear<FF, D, T>,
    /// The norm after the attention's residual (before it, pre-norm).
    pub norm1: TokenNorm<D, T>,
    /// The norm after the feed-forward's residual (before it, pre-norm).
    pub norm2: TokenNorm<D, T>,
    /// PyTorch's `layer_norm_eps`, the `eps` of `norm1` and `norm2`:
    /// [`TokenNorm::EPS`] (`1e-5`) unless set. Like PyTorch's, it is not in
    /// the state dict.
    pub layer_norm_eps: f64,
    activation: PhantomData<A>,
}

/// Gradients of a [`TransformerEncoderLayer`]'s parameters, one field per
/// sub-layer; `Default` is zeros.
#[derive(Clone, Debug, PartialEq)]
pub struct TransformerEncoderLayerGrads<const D: usize, const FF: usize, T: Float = f32> {
    /// Gradients of `self_attn`.
    pub self_attn: MultiheadAttentionGrads<D, T, true>,
    /// Gradients of `linear1`.
    pub linear1: LinearGrads<D, FF, T>,
    /// Gradients of `linear2`.
    pub linear2: LinearGrads<FF, D, T>,
    /// Gradients of `norm1`.
    pub norm1: TokenNormGrads<D, T>,
    /// Gradients of `norm2`.
    pub norm2: TokenNormGrads<D, T>,
}

super::params::composite_layer! {
    impl[const D: usize, const HEADS: usize, const FF: usize, const L: usize, T: Float, A: Elementwise, const NORM_FIRST: bool, const CAUSAL: bool]
        TransformerEncoderLayer<D, HEADS, FF, L, T, A, NORM_FIRST, CAUSAL>,
    grads[const D: usize, const FF: usize, T: Float] TransformerEncoderLayerGrads<D, FF, T>,
    scalar T;
    reset(layer, rng) {
        crate::Parameters::reset_parameters(&mut layer.self_attn, rng);
        crate::Parameters::reset_parameters(&mut layer.linear1, rng);
        crate::Parameters::reset_parameters(&mut layer.linear2, rng);
        crate::Parameters::reset_parameters(&mut layer.norm1, rng);
        crate::Parameters::reset_parameters(&mut layer.norm2, rng);
    }
    arrays {}
    layers {
        self_attn: "self_attn", grads MultiheadAttentionGrads<D, T, true>;
        linear1: "linear1", grads LinearGrads<D, FF, T>;
        linear2: "linear2", grads LinearGrads<FF, D, T>;
        norm1: "norm1", grads TokenNormGrads<D, T>;
        norm2: "norm2", grads TokenNormGrads<D, T>;
    }
}

/// One example's forward pass, which backward recomputes.
struct Trace<const D: usize, const HEADS: usize, const FF: usize, const L: usize, T> {
    /// The attention's input: `norm1(x)` (pre-norm) or `x`.
    sa_in: [[T; D]; L],
    attended: Attended<D, HEADS, L, T>,
    /// `x + sa(sa_in)`.
    h: [[T; D]; L],
    /// The feed-forward's input: `norm2(h)` (pre-norm) or `norm1(h)`.
    ff_in: [[T; D]; L],
    /// `linear1(ff_in)`, before the activation.
    hidden: [[T; FF]; L],
    /// `A(hidden)`.
    act: [[T; FF]; L],
    /// The feed-forward's residual sum: `h + ff` (pre-norm: the output) or
    /// `ff_in + ff`.
    z: [[T; D]; L],
    /// What the layer-norm kernel saves (the same for every norm).
    rows: RowSaved,
}

impl<const D: usize, const HEADS: usize, const FF: usize, const L: usize, T: Float>
    Trace<D, HEADS, FF, L, T>
{
    /// All zeros, to be filled by `trace`.
    const fn new() -> Self {
        Self {
            sa_in: [[T::ZERO; D]; L],
            attended: Attended::new(),
            h: [[T::ZERO; D]; L],
            ff_in: [[T::ZERO; D]; L],
            hidden: [[T::ZERO; FF]; L],
            act: [[T::ZERO; FF]; L],
            z: [[T::ZERO; D]; L],
            rows: RowSaved::EMPTY,
        }
    }
}

impl<
    const D: usize,
    const HEADS: usize,
    const FF: usize,
    const L: usize,
    T: Float,
    A: Elementwise,
    const NORM_FIRST: bool,
    const CAUSAL: bool,
> TransformerEncoderLayer<D, HEADS, FF, L, T, A, NORM_FIRST, CAUSAL>
{
    /// Zero attention and linear layers, norms of weight 1 and bias 0 (see
    /// the type's docs for PyTorch's initialization).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            self_attn: MultiheadAttention::new(),
            linear1: Linear::new(),
            linear2: Linear::new(),
            norm1: TokenNorm::new(),
            norm2: TokenNorm::new(),
            layer_norm_eps: TokenNorm::<D, T>::EPS,
            activation: PhantomData,
        }
    }

    /// The layer with PyTorch's `layer_norm_eps` set to `eps`
    /// (`nn.TransformerEncoderLayer(..., layer_norm_eps=eps)`).
    #[must_use]
    pub const fn with_layer_norm_eps(mut self, eps: f64) -> Self {
        self.layer_norm_eps = eps;
        self
    }

    /// One example's forward pass into `t` (every field overwritten; filled
    /// in place, not returned, because it is large and would be copied).
    fn trace(
        &self,
        x: &[[T; D]; L],
        padding: Option<&[bool; L]>,
        t: &mut Trace<D, HEADS, FF, L, T>,
    ) -> Result<(), NormError> {
        self.trace_scored(x, t, |sa_in, attended| {
            self.self_attn.attend(sa_in, padding, attended)
        })
    }

    /// [`trace`](Self::trace) with the attention step given: `attend(sa_in,
    /// attended)` under whatever masks the caller applies.
    fn trace_scored(
        &self,
        x: &[[T; D]; L],
        t: &mut Trace<D, HEADS, FF, L, T>,
        attend: impl FnOnce(&[[T; D]; L], &mut Attended<D, HEADS, L, T>),
    ) -> Result<(), NormError> {
        if NORM_FIRST {
            self.norm1.apply(self.layer_norm_eps, x, &mut t.sa_in)?;
        } else {
            t.sa_in = *x;
        }
        attend(&t.sa_in, &mut t.attended);
        self.self_attn.output(&t.attended, &mut t.h)?;
        add_assign(&mut t.h, x);
        let norm = if NORM_FIRST { &self.norm2 } else { &self.norm1 };
        t.rows = norm.apply(self.layer_norm_eps, &t.h, &mut t.ff_in)?;
        self.linear1.forward_eval(&t.ff_in, &mut t.hidden)?;
        for (act, hidden) in t.act.iter_mut().zip(&t.hidden) {
            for (a, h) in act.iter_mut().zip(hidden) {
                *a = A::value(*h);
            }
        }
        self.linear2.forward_eval(&t.act, &mut t.z)?;
        add_assign(&mut t.z, if NORM_FIRST { &t.h } else { &t.ff_in });
        Ok(())
    }

    /// The feed-forward network's input gradient; adds to its grads.
    fn ff_backward(
        &self,
        t: &Trace<D, HEADS, FF, L, T>,
        dz: &[[T; D]; L],
        grads: &mut TransformerEncoderLayerGrads<D, FF, T>,
    ) -> Result<[[T; D]; L], NormError> {
        let rows = SavedRows { rows: L };
        let mut dact = [[T::ZERO; FF]; L];
        self.linear2
            .backward(&t.act, &rows, dz, &mut dact, &mut grads.linear2)?;
        for (dact, hidden) in dact.iter_mut().zip(&t.hidden) {
            for (d, h) in dact.iter_mut().zip(hidden) {
                *d *= A::derivative(*h);
            }
        }
        let mut dff_in = [[T::ZERO; D]; L];
        self.linear1
            .backward(&t.ff_in, &rows, &dact, &mut dff_in, &mut grads.linear1)?;
        Ok(dff_in)
    }

    /// The attention's input gradient; adds to its grads.
    fn sa_backward(
        &self,
        t: &Trace<D, HEADS, FF, L, T>,
        dh: &[[T; D]; L],
        grads: &mut TransformerEncoderLayerGrads<D, FF, T>,
    ) -> Result<[[T; D]; L], NormError> {
        let mut dsa_in = [[T::ZERO; D]; L];
        let attn = &self.self_attn;
        attn.backward_attended(&t.sa_in, &t.attended, dh, &mut dsa_in, &mut grads.self_attn)?;
        Ok(dsa_in)
    }

    /// Backward of one example from its trace: writes `dx`, adds to `grads`.
    fn backward_trace(
        &self,
        x: &[[T; D]; L],
        t: &Trace<D, HEADS, FF, L, T>,
        dy: &[[T; D]; L],
        dx: &mut [[T; D]; L],
        grads: &mut TransformerEncoderLayerGrads<D, FF, T>,
    ) -> Result<(), NormError> {
        if NORM_FIRST {
            // y = h + ff(norm2(h)), h = x + sa(norm1(x)).
            let dff_in = self.ff_backward(t, dy, grads)?;
            let dh_norm = self.norm2.backward(
                self.layer_norm_eps,
                &t.h,
                &t.rows,
                &dff_in,
                &mut grads.norm2,
            )?;
            let mut dh = *dy;
            add_assign(&mut dh, &dh_norm);
            let dsa_in = self.sa_backward(t, &dh, grads)?;
            let dx_norm =
                self.norm1
                    .backward(self.layer_norm_eps, x, &t.rows, &dsa_in, &mut grads.norm1)?;
            *dx = dh;
            add_assign(dx, &dx_norm);
        } else {
            // y = norm2(z), z = u + ff(u), u = norm1(h), h = x + sa(x).
            let dz =
                self.norm2
                    .backward(self.layer_norm_eps, &t.z, &t.rows, dy, &mut grads.norm2)?;
            let mut du = dz;
            add_assign(&mut du, &self.ff_backward(t, &dz, grads)?);
            *dx = self
                .norm1
                .backward(self.layer_norm_eps, &t.h, &t.rows, &du, &mut grads.norm1)?;
            let dsa_in = self.sa_backward(t, dx, grads)?;
            add_assign(dx, &dsa_in);
        }
        Ok(())
    }

    fn forward_example(
        &self,
        x: &[[T; D]; L],
        padding: Option<&[bool; L]>,
        y: &mut [[T; D]; L],
    ) -> Result<(), NormError> {
        let mut t = Trace::new();
        self.trace(x, padding, &mut t)?;
        self.output(&t, y)
    }

    /// The block's output from its trace: `z` (pre-norm) or `norm2(z)`.
    fn output(&self, t: &Trace<D, HEADS, FF, L, T>, y: &mut [[T; D]; L]) -> Result<(), NormError> {
        if NORM_FIRST {
            *y = t.z;
        } else {
            self.norm2.apply(self.layer_norm_eps, &t.z, y)?;
        }
        Ok(())
    }

    fn backward_example(
        &self,
        x: &[[T; D]; L],
        padding: Option<&[bool; L]>,
        dy: &[[T; D]; L],
        dx: &mut [[T; D]; L],
        grads: &mut TransformerEncoderLayerGrads<D, FF, T>,
    ) -> Result<(), NormError> {
        let mut t = Trace::new();
        self.trace(x, padding, &mut t)?;
        self.backward_trace(x, &t, dy, dx, grads)
    }
}

impl<
    const D: usize,
    const HEADS: usize,
    const FF: usize,
    const L: usize,
    T: Float,
    A: Elementwise,
    const NORM_FIRST: bool,
    const CAUSAL: bool,
> TransformerEncoderLayer<D, HEADS, FF, L, T, A, NORM_FIRST, CAUSAL>
{
    /// [`forward_eval`](Layer::forward_eval) with PyTorch's general
    /// `src_mask` (see [`MultiheadAttention::forward_attn_mask`] for the
    /// forms of [`AttnMask`]) and `src_key_padding_mask` if given.
    ///
    /// # Errors
    /// As [`MultiheadAttention::forward_attn_mask`]; `y` is not written
    /// then.
    pub fn forward_attn_mask(
        &self,
        x: &[[[T; D]; L]],
        src_mask: AttnMask<'_, T, L>,
        src_key_padding_mask: Option<&[[bool; L]]>,
        y: &mut [[[T; D]; L]],
    ) -> Result<SavedRows, NormError> {
        let saved = super::check_forward(x.len(), y.len())?;
        MultiheadAttention::<D, HEADS, L, T, true, CAUSAL>::check_attn_mask(
            x.len(),
            &src_mask,
            src_key_padding_mask,
        )?;
        for (n, (x, y)) in x.iter().zip(y).enumerate() {
            let mut t = Trace::new();
            let score = MultiheadAttention::<D, HEADS, L, T, true, CAUSAL>::general_score(
                &src_mask,
                src_key_padding_mask.map(|p| &p[n]),
                n,
            );
            self.trace_scored(x, &mut t, |sa_in, attended| {
                self.self_attn.attend_scored(sa_in, attended, score)
            })?;
            self.output(&t, y)?;
        }
        Ok(saved)
    }

    /// [`backward`](Layer::backward) of
    /// [`forward_attn_mask`](Self::forward_attn_mask), given the same `x`
    /// and masks (a float `src_mask`'s own gradient is not computed).
    ///
    /// # Errors
    /// As [`forward_attn_mask`](Self::forward_attn_mask) and
    /// [`backward`](Layer::backward); nothing is written then.
    #[allow(clippy::too_many_arguments)]
    pub fn backward_attn_mask(
        &self,
        x: &[[[T; D]; L]],
        src_mask: AttnMask<'_, T, L>,
        src_key_padding_mask: Option<&[[bool; L]]>,
        saved: &SavedRows,
        dy: &[[[T; D]; L]],
        dx: &mut [[[T; D]; L]],
        grads: &mut TransformerEncoderLayerGrads<D, FF, T>,
    ) -> Result<(), NormError> {
        super::check_backward(*saved, x.len(), dy.len(), dx.len())?;
        MultiheadAttention::<D, HEADS, L, T, true, CAUSAL>::check_attn_mask(
            x.len(),
            &src_mask,
            src_key_padding_mask,
        )?;
        for (n, ((x, dy), dx)) in x.iter().zip(dy).zip(dx.iter_mut()).enumerate() {
            let mut t = Trace::new();
            let score = MultiheadAttention::<D, HEADS, L, T, true, CAUSAL>::general_score(
                &src_mask,
                src_key_padding_mask.map(|p| &p[n]),
                n,
            );
            self.trace_scored(x, &mut t, |sa_in, attended| {
                self.self_attn.attend_scored(sa_in, attended, score)
            })?;
            self.backward_trace(x, &t, dy, dx, grads)?;
        }
        Ok(())
    }
}

sequence_layer! {
    impl[const D: usize, const HEADS: usize, const FF: usize, const L: usize, T: Float, A: Elementwise, const NORM_FIRST: bool, const CAUSAL: bool]
        TransformerEncoderLayer<D, HEADS, FF, L, T, A, NORM_FIRST, CAUSAL>,
        row [[T; D]; L], tokens L, causal CAUSAL, grads TransformerEncoderLayerGrads<D, FF, T>;
    /// [`forward_eval`](Layer::forward_eval) with PyTorch's
    /// `src_key_padding_mask` (`(N, L)`): `key_padding_mask[n][j]` true
    /// means token `j` of example `n` is padding, which the attention does
    /// not attend to (see [`MultiheadAttention::forward_masked`]).
    ///
    /// # Errors
    /// As [`MultiheadAttention::forward_masked`]; nothing is written then.
}

zeroed_in_place! {
    impl[const N: usize, T: Float] TokenNorm<N, T> {
        zero: weight, bias;
        one: weight;
    }
}

zeroed_in_place! {
    impl[
        const D: usize,
        const HEADS: usize,
        const FF: usize,
        const L: usize,
        T: Float,
        A,
        const NORM_FIRST: bool,
        const CAUSAL: bool,
    ] TransformerEncoderLayer<D, HEADS, FF, L, T, A, NORM_FIRST, CAUSAL> {
        nested: self_attn, linear1, linear2, norm1, norm2;
        set: layer_norm_eps = 1e-5;
        marker: activation;
    }
}
