//! Layer-normalized recurrent cells (Ba, Kiros and Hinton 2016, "Layer
//! Normalization", section 3.1 and eq. 20-22): an LSTM and a GRU whose
//! projections of the input and of the hidden state are each normalized
//! over their gates before they are added. `torch.nn` has neither (users
//! have asked since 2018: pytorch/pytorch#11335, #12167); the names follow
//! the usual PyTorch module built from `nn.LayerNorm` (`ln_ih`, `ln_hh`,
//! `ln_c`), and the numbers match such a module (tests/golden_layers,
//! `ln_rnn.json`).
//!
//! Every layer norm is PyTorch's `LayerNorm` over one whole segment `v`
//! with its own gain `γ` and bias `β`, biased variance and ε the cell's
//! `eps` ([`LN_EPS`] by default):
//! `LN(v) = (v - mean(v)) / sqrt(var(v) + ε) * γ + β`.

use super::cells::sigmoid;
use super::{Cell, Recurrent};
use crate::kernels::matvec::dot;
use crate::kernels::rows::{Stats, segment_stats};
use crate::nn::params::{parameter_arrays, zeroed_in_place};
use crate::{Float, Row};

/// The ε of every layer norm in [`LnLstmCell`] and [`LnGruCell`]: `1e-5`,
/// `torch.nn.LayerNorm`'s default.
pub const LN_EPS: f64 = 1e-5;

/// What one layer norm keeps for its backward pass: the normalized values
/// `x̂ = (x - mean) * rstd` and `rstd = 1 / sqrt(var + ε)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalized<R, T> {
    xhat: R,
    rstd: T,
}

impl<R: Row> Normalized<R, R::Scalar> {
    /// Before any step.
    const EMPTY: Self = Self {
        xhat: R::ZERO,
        rstd: R::Scalar::ZERO,
    };

    /// `y = LN(x) = x̂ * gain + bias` over the whole segment `x` (as long
    /// as `R`), with `ε = eps`; keeps `x̂` and `rstd`. One value gives `x̂ = 0`, so `y` is
    /// the bias.
    #[inline]
    fn forward(
        &mut self,
        eps: f64,
        x: &[R::Scalar],
        gain: &[R::Scalar],
        bias: &[R::Scalar],
        y: &mut [R::Scalar],
    ) {
        let Stats { hi, lo, rstd, .. } = segment_stats::<_, true>(x, eps);
        self.rstd = rstd;
        let xhat = self.xhat.as_flat_mut();
        for ((((y, xh), x), g), b) in y.iter_mut().zip(xhat).zip(x).zip(gain).zip(bias) {
            *xh = ((*x - hi) - lo) * rstd;
            *y = *xh * *g + *b;
        }
    }

    /// The backward pass of [`Self::forward`] for the gradient `dy` of its
    /// output: writes `dx = rstd (γ dy - mean(γ dy) - x̂ mean(γ dy x̂))`
    /// and adds `dy x̂` into `d_gain`, `dy` into `d_bias`. One value gives
    /// `dx = 0` exactly.
    #[inline]
    fn backward(
        &self,
        gain: &[R::Scalar],
        dy: &[R::Scalar],
        dx: &mut [R::Scalar],
        d_gain: &mut [R::Scalar],
        d_bias: &mut [R::Scalar],
    ) {
        let zero = R::Scalar::ZERO;
        let xhat = self.xhat.as_flat();
        let (mut sum, mut sum_xhat) = (zero, zero);
        for ((xh, g), d) in xhat.iter().zip(gain).zip(dy) {
            let gd = *g * *d;
            sum += gd;
            sum_xhat += gd * *xh;
        }
        let inv_n = R::Scalar::ONE / R::Scalar::from_usize(R::LEN);
        let (mean, mean_xhat) = (sum * inv_n, sum_xhat * inv_n);
        for k in 0..R::LEN {
            dx[k] = self.rstd * ((gain[k] * dy[k] - mean) - xhat[k] * mean_xhat);
            d_gain[k] += dy[k] * xhat[k];
            d_bias[k] += dy[k];
        }
    }
}

/// `y[r] = w[r] · x` for every row `r` of `w` (PyTorch's `x Wᵀ`, no bias).
#[inline]
fn project<T: Float, const N: usize>(w: &[[T; N]], x: &[T; N], y: &mut [T]) {
    for (y, w) in y.iter_mut().zip(w) {
        *y = dot(w, x);
    }
}

/// The backward pass of [`project`] for the gradient `d` of `y`:
/// `dx += wᵀ d`, `gw[r] += d[r] x`.
#[inline]
fn project_backward<T: Float, const N: usize>(
    w: &[[T; N]],
    x: &[T; N],
    d: &[T],
    dx: &mut [T; N],
    gw: &mut [[T; N]],
) {
    for ((w, d), gw) in w.iter().zip(d).zip(gw) {
        for ((dx, w), (gw, x)) in dx.iter_mut().zip(w).zip(gw.iter_mut().zip(x)) {
            *dx += *d * *w;
            *gw += *d * *x;
        }
    }
}

/// `a += b`, value by value.
#[inline]
fn add_into<T: Float>(a: &mut [T], b: &[T]) {
    for (a, b) in a.iter_mut().zip(b) {
        *a += *b;
    }
}

/// The initialization of both cells: the two weight matrices uniform in
/// ±1/√H (PyTorch's LSTM and GRU), drawn `weight_ih` first.
fn uniform_weights<T: Float, R: rand::Rng + ?Sized>(
    rng: &mut R,
    hidden: usize,
    weights: [&mut [T]; 2],
) {
    #[allow(clippy::cast_precision_loss)]
    let bound = 1.0 / (hidden as f64).sqrt();
    for v in weights.into_iter().flatten() {
        *v = T::from_f64(rand::RngExt::random_range(rng, -bound..bound));
    }
}

/// A layer-normalized LSTM cell (Ba et al. 2016, eq. 20-22), gates in
/// PyTorch's order i, f, g, o:
///
/// ```text
/// gates = LN_hh(W_hh h) + LN_ih(W_ih x) + bias          (each LN over all 4H)
/// c'    = σ(f) ⊙ c + σ(i) ⊙ tanh(g)
/// h'    = σ(o) ⊙ tanh(LN_c(c'))                          (LN over H)
/// ```
///
/// The un-normalized `c'` is carried to the next step (and is PyTorch's
/// `c_n`). State `[[T; H]; 2]`: `h`, then `c`.
///
/// Parameters and state-dict keys (the same in [`LnLstm`]): `weight_ih`
/// `(4H, I)`, `weight_hh` `(4H, H)`, stored gate-major as PyTorch's rows;
/// `bias`, `ln_ih.weight`, `ln_ih.bias`, `ln_hh.weight`, `ln_hh.bias`
/// `(4H)`; `ln_c.weight`, `ln_c.bias` `(H)`. The parametrization is
/// redundant as in the paper: `bias`, `ln_ih.bias` and `ln_hh.bias` are
/// added to the same gates and get the same gradient.
///
/// `new()` has zero weights and identity layer norms (gain 1, bias 0);
/// [`reset_parameters`](crate::Parameters::reset_parameters) draws both
/// weights uniform in ±1/√H (PyTorch's LSTM), `bias` 0, and the layer norms
/// start as the paper's and PyTorch's `LayerNorm`: gains 1, biases 0.
#[derive(Clone, Debug, PartialEq)]
pub struct LnLstmCell<const I: usize, const H: usize, T: Float = f32> {
    /// `W_ih`, rows `[gate][j]`.
    pub weight_ih: [[[T; I]; H]; 4],
    /// `W_hh`, rows `[gate][j]`.
    pub weight_hh: [[[T; H]; H]; 4],
    /// The gates' bias, added after both layer norms.
    pub bias: [[T; H]; 4],
    /// `ln_ih.weight`, the gain of `LN_ih`.
    pub ln_ih_weight: [[T; H]; 4],
    /// `ln_ih.bias`.
    pub ln_ih_bias: [[T; H]; 4],
    /// `ln_hh.weight`, the gain of `LN_hh`.
    pub ln_hh_weight: [[T; H]; 4],
    /// `ln_hh.bias`.
    pub ln_hh_bias: [[T; H]; 4],
    /// `ln_c.weight`, the gain of `LN_c`.
    pub ln_c_weight: [T; H],
    /// `ln_c.bias`.
    pub ln_c_bias: [T; H],
    /// `ε` of every layer norm of the cell (`LayerNorm(eps=...)`):
    /// [`LN_EPS`] by default. Not a parameter, not in the state dict.
    pub eps: f64,
}

/// The gradients of an [`LnLstmCell`]'s arrays (same fields); `Default` is
/// zeros.
#[derive(Clone, Debug, PartialEq)]
pub struct LnLstmCellGrads<const I: usize, const H: usize, T: Float = f32> {
    /// Gradient of `weight_ih`.
    pub weight_ih: [[[T; I]; H]; 4],
    /// Gradient of `weight_hh`.
    pub weight_hh: [[[T; H]; H]; 4],
    /// Gradient of `bias`.
    pub bias: [[T; H]; 4],
    /// Gradient of `ln_ih.weight`.
    pub ln_ih_weight: [[T; H]; 4],
    /// Gradient of `ln_ih.bias`.
    pub ln_ih_bias: [[T; H]; 4],
    /// Gradient of `ln_hh.weight`.
    pub ln_hh_weight: [[T; H]; 4],
    /// Gradient of `ln_hh.bias`.
    pub ln_hh_bias: [[T; H]; 4],
    /// Gradient of `ln_c.weight`.
    pub ln_c_weight: [T; H],
    /// Gradient of `ln_c.bias`.
    pub ln_c_bias: [T; H],
}

/// What an [`LnLstmCell`] step keeps for its backward pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LnLstmCache<const H: usize, T> {
    ih: Normalized<[[T; H]; 4], T>,
    hh: Normalized<[[T; H]; 4], T>,
    c: Normalized<[T; H], T>,
    /// `σ(i)`, `σ(f)`, `tanh(g)`, `σ(o)`.
    gates: [[T; H]; 4],
    /// `tanh(LN_c(c'))`.
    tanh_c: [T; H],
}

/// A layer-normalized GRU cell, gates in PyTorch's order r, z, n; the
/// candidate's two projections are normalized on their own, so the reset
/// gate scales a normalized `W_hn h`:
///
/// ```text
/// a = W_ih x,  b = W_hh h                                   (3H each)
/// r, z = σ(LN_ih(a_rz) + LN_hh(b_rz) + bias_rz)             (LN over 2H)
/// n  = tanh(LN_ih_n(a_n) + r ⊙ LN_hh_n(b_n) + bias_n)       (LN over H)
/// h' = (1 - z) ⊙ n + z ⊙ h
/// ```
///
/// State `[[T; H]; 1]`. Parameters and state-dict keys (the same in
/// [`LnGru`]): `weight_ih` `(3H, I)`, `weight_hh` `(3H, H)` (rows r, z, n,
/// gate-major), `bias` `(3H)`; `ln_ih.weight`, `ln_ih.bias`,
/// `ln_hh.weight`, `ln_hh.bias` `(2H)`; `ln_ih_n.weight`, `ln_ih_n.bias`,
/// `ln_hh_n.weight`, `ln_hh_n.bias` `(H)`. As in [`LnLstmCell`], `bias` and
/// the layer-norm biases added to the same gate get the same gradient.
///
/// `new()` and [`reset_parameters`](crate::Parameters::reset_parameters)
/// as for [`LnLstmCell`]: weights uniform in ±1/√H, `bias` 0, gains 1,
/// layer-norm biases 0.
#[derive(Clone, Debug, PartialEq)]
pub struct LnGruCell<const I: usize, const H: usize, T: Float = f32> {
    /// `W_ih`, rows `[gate][j]`.
    pub weight_ih: [[[T; I]; H]; 3],
    /// `W_hh`, rows `[gate][j]`.
    pub weight_hh: [[[T; H]; H]; 3],
    /// `[b_r, b_z, b_n]`, added after the layer norms.
    pub bias: [[T; H]; 3],
    /// `ln_ih.weight`, the gain of `LN_ih` (r and z).
    pub ln_ih_weight: [[T; H]; 2],
    /// `ln_ih.bias`.
    pub ln_ih_bias: [[T; H]; 2],
    /// `ln_hh.weight`, the gain of `LN_hh` (r and z).
    pub ln_hh_weight: [[T; H]; 2],
    /// `ln_hh.bias`.
    pub ln_hh_bias: [[T; H]; 2],
    /// `ln_ih_n.weight`, the gain of `LN_ih_n`.
    pub ln_ih_n_weight: [T; H],
    /// `ln_ih_n.bias`.
    pub ln_ih_n_bias: [T; H],
    /// `ln_hh_n.weight`, the gain of `LN_hh_n`.
    pub ln_hh_n_weight: [T; H],
    /// `ln_hh_n.bias`.
    pub ln_hh_n_bias: [T; H],
    /// `ε` of every layer norm of the cell (`LayerNorm(eps=...)`):
    /// [`LN_EPS`] by default. Not a parameter, not in the state dict.
    pub eps: f64,
}

/// The gradients of an [`LnGruCell`]'s arrays (same fields); `Default` is
/// zeros.
#[derive(Clone, Debug, PartialEq)]
pub struct LnGruCellGrads<const I: usize, const H: usize, T: Float = f32> {
    /// Gradient of `weight_ih`.
    pub weight_ih: [[[T; I]; H]; 3],
    /// Gradient of `weight_hh`.
    pub weight_hh: [[[T; H]; H]; 3],
    /// Gradient of `bias`.
    pub bias: [[T; H]; 3],
    /// Gradient of `ln_ih.weight`.
    pub ln_ih_weight: [[T; H]; 2],
    /// Gradient of `ln_ih.bias`.
    pub ln_ih_bias: [[T; H]; 2],
    /// Gradient of `ln_hh.weight`.
    pub ln_hh_weight: [[T; H]; 2],
    /// Gradient of `ln_hh.bias`.
    pub ln_hh_bias: [[T; H]; 2],
    /// Gradient of `ln_ih_n.weight`.
    pub ln_ih_n_weight: [T; H],
    /// Gradient of `ln_ih_n.bias`.
    pub ln_ih_n_bias: [T; H],
    /// Gradient of `ln_hh_n.weight`.
    pub ln_hh_n_weight: [T; H],
    /// Gradient of `ln_hh_n.bias`.
    pub ln_hh_n_bias: [T; H],
}

/// What an [`LnGruCell`] step keeps for its backward pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LnGruCache<const H: usize, T> {
    ih: Normalized<[[T; H]; 2], T>,
    hh: Normalized<[[T; H]; 2], T>,
    ih_n: Normalized<[T; H], T>,
    hh_n: Normalized<[T; H], T>,
    /// `r`, `z`, `n`.
    gates: [[T; H]; 3],
    /// `LN_hh_n(b_n)`, which `r` scales.
    hh_n_out: [T; H],
}

/// The layer-normalized LSTM over sequences of `S` steps (one layer,
/// `batch_first`), under the cell's state-dict names.
pub type LnLstm<const I: usize, const H: usize, const S: usize, T = f32> =
    Recurrent<LnLstmCell<I, H, T>, S>;
/// The layer-normalized GRU over sequences of `S` steps (one layer,
/// `batch_first`), under the cell's state-dict names.
pub type LnGru<const I: usize, const H: usize, const S: usize, T = f32> =
    Recurrent<LnGruCell<I, H, T>, S>;

impl<const I: usize, const H: usize, T: Float> LnLstmCell<I, H, T> {
    /// Zero weights and biases, layer norms the identity (gains 1).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            weight_ih: [[[T::ZERO; I]; H]; 4],
            weight_hh: [[[T::ZERO; H]; H]; 4],
            bias: [[T::ZERO; H]; 4],
            ln_ih_weight: [[T::ONE; H]; 4],
            ln_ih_bias: [[T::ZERO; H]; 4],
            ln_hh_weight: [[T::ONE; H]; 4],
            ln_hh_bias: [[T::ZERO; H]; 4],
            ln_c_weight: [T::ONE; H],
            ln_c_bias: [T::ZERO; H],
            eps: LN_EPS,
        }
    }
}

impl<const I: usize, const H: usize, T: Float> Default for LnLstmCell<I, H, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const I: usize, const H: usize, T: Float> LnGruCell<I, H, T> {
    /// Zero weights and biases, layer norms the identity (gains 1).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            weight_ih: [[[T::ZERO; I]; H]; 3],
            weight_hh: [[[T::ZERO; H]; H]; 3],
            bias: [[T::ZERO; H]; 3],
            ln_ih_weight: [[T::ONE; H]; 2],
            ln_ih_bias: [[T::ZERO; H]; 2],
            ln_hh_weight: [[T::ONE; H]; 2],
            ln_hh_bias: [[T::ZERO; H]; 2],
            ln_ih_n_weight: [T::ONE; H],
            ln_ih_n_bias: [T::ZERO; H],
            ln_hh_n_weight: [T::ONE; H],
            ln_hh_n_bias: [T::ZERO; H],
            eps: LN_EPS,
        }
    }
}

impl<const I: usize, const H: usize, T: Float> Default for LnGruCell<I, H, T> {
    fn default() -> Self {
        Self::new()
    }
}

parameter_arrays! {
    impl[const I: usize, const H: usize, T: Float] LnLstmCell<I, H, T>,
        grads LnLstmCellGrads<I, H, T>, scalar T, name "LnLstmCell";
    reset(cell, rng) {
        // In place, not `*cell = Self::new()`: no copy of a large cell on the stack.
        let biases = [cell.bias.as_flat_mut(), cell.ln_ih_bias.as_flat_mut()];
        fill(biases.into_iter().chain([cell.ln_hh_bias.as_flat_mut(), &mut cell.ln_c_bias]), T::ZERO);
        let gains = [cell.ln_ih_weight.as_flat_mut(), cell.ln_hh_weight.as_flat_mut()];
        fill(gains.into_iter().chain([&mut cell.ln_c_weight[..]]), T::ONE);
        uniform_weights(rng, H, [cell.weight_ih.as_flat_mut(), cell.weight_hh.as_flat_mut()]);
    }
    weight_ih: "weight_ih", shape [4 * H, I];
    weight_hh: "weight_hh", shape [4 * H, H];
    bias: "bias", shape [4 * H];
    ln_ih_weight: "ln_ih.weight", shape [4 * H];
    ln_ih_bias: "ln_ih.bias", shape [4 * H];
    ln_hh_weight: "ln_hh.weight", shape [4 * H];
    ln_hh_bias: "ln_hh.bias", shape [4 * H];
    ln_c_weight: "ln_c.weight", shape [H];
    ln_c_bias: "ln_c.bias", shape [H];
}

parameter_arrays! {
    impl[const I: usize, const H: usize, T: Float] LnGruCell<I, H, T>,
        grads LnGruCellGrads<I, H, T>, scalar T, name "LnGruCell";
    reset(cell, rng) {
        // In place, not `*cell = Self::new()`: no copy of a large cell on the stack.
        let biases = [cell.bias.as_flat_mut(), cell.ln_ih_bias.as_flat_mut()];
        let more = [cell.ln_hh_bias.as_flat_mut(), &mut cell.ln_ih_n_bias, &mut cell.ln_hh_n_bias];
        fill(biases.into_iter().chain(more), T::ZERO);
        let gains = [cell.ln_ih_weight.as_flat_mut(), cell.ln_hh_weight.as_flat_mut()];
        let more = [&mut cell.ln_ih_n_weight[..], &mut cell.ln_hh_n_weight];
        fill(gains.into_iter().chain(more), T::ONE);
        uniform_weights(rng, H, [cell.weight_ih.as_flat_mut(), cell.weight_hh.as_flat_mut()]);
    }
    weight_ih: "weight_ih", shape [3 * H, I];
    weight_hh: "weight_hh", shape [3 * H, H];
    bias: "bias", shape [3 * H];
    ln_ih_weight: "ln_ih.weight", shape [2 * H];
    ln_ih_bias: "ln_ih.bias", shape [2 * H];
    ln_hh_weight: "ln_hh.weight", shape [2 * H];
    ln_hh_bias: "ln_hh.bias", shape [2 * H];
    ln_ih_n_weight: "ln_ih_n.weight", shape [H];
    ln_ih_n_bias: "ln_ih_n.bias", shape [H];
    ln_hh_n_weight: "ln_hh_n.weight", shape [H];
    ln_hh_n_bias: "ln_hh_n.bias", shape [H];
}

/// Sets every value of `arrays` to `value`.
fn fill<'a, T: Float + 'a>(arrays: impl IntoIterator<Item = &'a mut [T]>, value: T) {
    for a in arrays {
        a.fill(value);
    }
}

zeroed_in_place! {
    impl[const I: usize, const H: usize, T: Float] LnLstmCell<I, H, T> {
        zero: weight_ih, weight_hh, bias, ln_ih_weight, ln_ih_bias, ln_hh_weight, ln_hh_bias,
            ln_c_weight, ln_c_bias;
        one: ln_ih_weight, ln_hh_weight, ln_c_weight;
        set: eps = LN_EPS;
    }
}

zeroed_in_place! {
    impl[const I: usize, const H: usize, T: Float] LnGruCell<I, H, T> {
        zero: weight_ih, weight_hh, bias, ln_ih_weight, ln_ih_bias, ln_hh_weight, ln_hh_bias,
            ln_ih_n_weight, ln_ih_n_bias, ln_hh_n_weight, ln_hh_n_bias;
        one: ln_ih_weight, ln_hh_weight, ln_ih_n_weight, ln_hh_n_weight;
        set: eps = LN_EPS;
    }
}

impl<const I: usize, const H: usize, T: Float> Cell for LnLstmCell<I, H, T> {
    state_items!(state 2);
    type Cache = LnLstmCache<H, T>;
    const EMPTY_CACHE: Self::Cache = LnLstmCache {
        ih: Normalized::EMPTY,
        hh: Normalized::EMPTY,
        c: Normalized::EMPTY,
        gates: [[T::ZERO; H]; 4],
        tanh_c: [T::ZERO; H],
    };

    #[inline]
    fn step(
        &self,
        x: &[T; I],
        state: &[[T; H]; 2],
        next: &mut [[T; H]; 2],
        cache: &mut Self::Cache,
    ) {
        let (mut a, mut b) = ([[T::ZERO; H]; 4], [[T::ZERO; H]; 4]);
        project(self.weight_ih.as_flattened(), x, a.as_flattened_mut());
        project(
            self.weight_hh.as_flattened(),
            &state[0],
            b.as_flattened_mut(),
        );
        let (mut la, mut lb) = ([[T::ZERO; H]; 4], [[T::ZERO; H]; 4]);
        let (gain, bias) = (
            self.ln_ih_weight.as_flattened(),
            self.ln_ih_bias.as_flattened(),
        );
        cache.ih.forward(
            self.eps,
            a.as_flattened(),
            gain,
            bias,
            la.as_flattened_mut(),
        );
        let (gain, bias) = (
            self.ln_hh_weight.as_flattened(),
            self.ln_hh_bias.as_flattened(),
        );
        cache.hh.forward(
            self.eps,
            b.as_flattened(),
            gain,
            bias,
            lb.as_flattened_mut(),
        );
        let pre = |k: usize, j: usize| (lb[k][j] + la[k][j]) + self.bias[k][j];
        let [i, f, g, o] = &mut cache.gates;
        for j in 0..H {
            i[j] = sigmoid(pre(0, j));
            f[j] = sigmoid(pre(1, j));
            g[j] = pre(2, j).tanh();
            o[j] = sigmoid(pre(3, j));
            next[1][j] = f[j] * state[1][j] + i[j] * g[j];
        }
        let mut lc = [T::ZERO; H];
        cache.c.forward(
            self.eps,
            &next[1],
            &self.ln_c_weight,
            &self.ln_c_bias,
            &mut lc,
        );
        for j in 0..H {
            cache.tanh_c[j] = lc[j].tanh();
            next[0][j] = o[j] * cache.tanh_c[j];
        }
    }

    #[inline]
    fn step_backward(
        &self,
        x: &[T; I],
        state: &[[T; H]; 2],
        cache: &Self::Cache,
        d_next: &[[T; H]; 2],
        dx: &mut [T; I],
        d_state: &mut [[T; H]; 2],
        grads: &mut Self::Grads,
    ) {
        let ([i, f, g, o], tc) = (&cache.gates, &cache.tanh_c);
        let mut d_lc = [T::ZERO; H];
        for j in 0..H {
            d_lc[j] = d_next[0][j] * o[j] * (T::ONE - tc[j] * tc[j]);
        }
        let mut dc = [T::ZERO; H];
        let (d_gain, d_bias) = (&mut grads.ln_c_weight, &mut grads.ln_c_bias);
        cache
            .c
            .backward(&self.ln_c_weight, &d_lc, &mut dc, d_gain, d_bias);
        let mut d_pre = [[T::ZERO; H]; 4];
        for j in 0..H {
            let dc = d_next[1][j] + dc[j];
            d_pre[0][j] = dc * g[j] * i[j] * (T::ONE - i[j]);
            d_pre[1][j] = dc * state[1][j] * f[j] * (T::ONE - f[j]);
            d_pre[2][j] = dc * i[j] * (T::ONE - g[j] * g[j]);
            d_pre[3][j] = d_next[0][j] * tc[j] * o[j] * (T::ONE - o[j]);
            d_state[1][j] = dc * f[j];
        }
        let d_pre = d_pre.as_flattened();
        add_into(grads.bias.as_flattened_mut(), d_pre);
        let (mut da, mut db) = ([[T::ZERO; H]; 4], [[T::ZERO; H]; 4]);
        let (d_gain, d_bias) = (
            grads.ln_ih_weight.as_flattened_mut(),
            grads.ln_ih_bias.as_flattened_mut(),
        );
        cache.ih.backward(
            self.ln_ih_weight.as_flattened(),
            d_pre,
            da.as_flattened_mut(),
            d_gain,
            d_bias,
        );
        let (d_gain, d_bias) = (
            grads.ln_hh_weight.as_flattened_mut(),
            grads.ln_hh_bias.as_flattened_mut(),
        );
        cache.hh.backward(
            self.ln_hh_weight.as_flattened(),
            d_pre,
            db.as_flattened_mut(),
            d_gain,
            d_bias,
        );
        *dx = [T::ZERO; I];
        let gw = grads.weight_ih.as_flattened_mut();
        project_backward(self.weight_ih.as_flattened(), x, da.as_flattened(), dx, gw);
        d_state[0] = [T::ZERO; H];
        let gw = grads.weight_hh.as_flattened_mut();
        project_backward(
            self.weight_hh.as_flattened(),
            &state[0],
            db.as_flattened(),
            &mut d_state[0],
            gw,
        );
    }
}

impl<const I: usize, const H: usize, T: Float> Cell for LnGruCell<I, H, T> {
    state_items!(state 1);
    type Cache = LnGruCache<H, T>;
    const EMPTY_CACHE: Self::Cache = LnGruCache {
        ih: Normalized::EMPTY,
        hh: Normalized::EMPTY,
        ih_n: Normalized::EMPTY,
        hh_n: Normalized::EMPTY,
        gates: [[T::ZERO; H]; 3],
        hh_n_out: [T::ZERO; H],
    };

    #[inline]
    fn step(
        &self,
        x: &[T; I],
        state: &[[T; H]; 1],
        next: &mut [[T; H]; 1],
        cache: &mut Self::Cache,
    ) {
        let h = &state[0];
        let (mut a, mut b) = ([[T::ZERO; H]; 3], [[T::ZERO; H]; 3]);
        project(self.weight_ih.as_flattened(), x, a.as_flattened_mut());
        project(self.weight_hh.as_flattened(), h, b.as_flattened_mut());
        let (mut la, mut lb) = ([[T::ZERO; H]; 2], [[T::ZERO; H]; 2]);
        let (gain, bias) = (
            self.ln_ih_weight.as_flattened(),
            self.ln_ih_bias.as_flattened(),
        );
        cache.ih.forward(
            self.eps,
            a[..2].as_flattened(),
            gain,
            bias,
            la.as_flattened_mut(),
        );
        let (gain, bias) = (
            self.ln_hh_weight.as_flattened(),
            self.ln_hh_bias.as_flattened(),
        );
        cache.hh.forward(
            self.eps,
            b[..2].as_flattened(),
            gain,
            bias,
            lb.as_flattened_mut(),
        );
        let mut la_n = [T::ZERO; H];
        cache.ih_n.forward(
            self.eps,
            &a[2],
            &self.ln_ih_n_weight,
            &self.ln_ih_n_bias,
            &mut la_n,
        );
        let lb_n = &mut cache.hh_n_out;
        cache.hh_n.forward(
            self.eps,
            &b[2],
            &self.ln_hh_n_weight,
            &self.ln_hh_n_bias,
            lb_n,
        );
        let [r, z, n] = &mut cache.gates;
        for j in 0..H {
            r[j] = sigmoid((la[0][j] + lb[0][j]) + self.bias[0][j]);
            z[j] = sigmoid((la[1][j] + lb[1][j]) + self.bias[1][j]);
            n[j] = ((la_n[j] + r[j] * lb_n[j]) + self.bias[2][j]).tanh();
            next[0][j] = (T::ONE - z[j]) * n[j] + z[j] * h[j];
        }
    }

    #[inline]
    fn step_backward(
        &self,
        x: &[T; I],
        state: &[[T; H]; 1],
        cache: &Self::Cache,
        d_next: &[[T; H]; 1],
        dx: &mut [T; I],
        d_state: &mut [[T; H]; 1],
        grads: &mut Self::Grads,
    ) {
        let ([r, z, n], h) = (&cache.gates, &state[0]);
        let mut d_pre = [[T::ZERO; H]; 3];
        let mut d_lb_n = [T::ZERO; H];
        for j in 0..H {
            let d = d_next[0][j];
            let dn = d * (T::ONE - z[j]) * (T::ONE - n[j] * n[j]);
            d_pre[0][j] = dn * cache.hh_n_out[j] * r[j] * (T::ONE - r[j]);
            d_pre[1][j] = d * (h[j] - n[j]) * z[j] * (T::ONE - z[j]);
            d_pre[2][j] = dn;
            d_lb_n[j] = dn * r[j];
            d_state[0][j] = d * z[j];
        }
        add_into(grads.bias.as_flattened_mut(), d_pre.as_flattened());
        let (mut da, mut db) = ([[T::ZERO; H]; 3], [[T::ZERO; H]; 3]);
        let d_rz = d_pre[..2].as_flattened();
        let (d_gain, d_bias) = (
            grads.ln_ih_weight.as_flattened_mut(),
            grads.ln_ih_bias.as_flattened_mut(),
        );
        cache.ih.backward(
            self.ln_ih_weight.as_flattened(),
            d_rz,
            da[..2].as_flattened_mut(),
            d_gain,
            d_bias,
        );
        let (d_gain, d_bias) = (
            grads.ln_hh_weight.as_flattened_mut(),
            grads.ln_hh_bias.as_flattened_mut(),
        );
        cache.hh.backward(
            self.ln_hh_weight.as_flattened(),
            d_rz,
            db[..2].as_flattened_mut(),
            d_gain,
            d_bias,
        );
        let (d_gain, d_bias) = (&mut grads.ln_ih_n_weight, &mut grads.ln_ih_n_bias);
        cache
            .ih_n
            .backward(&self.ln_ih_n_weight, &d_pre[2], &mut da[2], d_gain, d_bias);
        let (d_gain, d_bias) = (&mut grads.ln_hh_n_weight, &mut grads.ln_hh_n_bias);
        cache
            .hh_n
            .backward(&self.ln_hh_n_weight, &d_lb_n, &mut db[2], d_gain, d_bias);
        *dx = [T::ZERO; I];
        let gw = grads.weight_ih.as_flattened_mut();
        project_backward(self.weight_ih.as_flattened(), x, da.as_flattened(), dx, gw);
        let gw = grads.weight_hh.as_flattened_mut();
        project_backward(
            self.weight_hh.as_flattened(),
            h,
            db.as_flattened(),
            &mut d_state[0],
            gw,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::Normalized;

    /// An LN over one value is its bias, and passes no gradient to its
    /// input or gain.
    #[test]
    fn layer_norm_of_one_value_is_its_bias() {
        let mut ln = Normalized::<[f64; 1], f64>::EMPTY;
        let mut y = [0.0];
        ln.forward(super::LN_EPS, &[3.7], &[2.0], &[-0.25], &mut y);
        assert_eq!(y, [-0.25]);
        let (mut dx, mut d_gain, mut d_bias) = ([9.0], [0.0], [0.0]);
        ln.backward(&[2.0], &[1.5], &mut dx, &mut d_gain, &mut d_bias);
        assert_eq!((dx, d_gain, d_bias), ([0.0], [0.0], [1.5]));
    }
}
