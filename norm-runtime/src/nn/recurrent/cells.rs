//! PyTorch's recurrent cells: `RNNCell` (tanh, ReLU), `GRUCell`,
//! `LSTMCell`, as one struct of gate weights and a marker type for the
//! arithmetic of each.

use super::{Cell, Recurrent};
use crate::Float;
use crate::kernels::matvec::{affine, affine_backward};
use crate::nn::activation::{Elementwise, TanhFn};
use crate::nn::params::{parameter_arrays, zeroed_in_place};
use crate::state::Key;
use core::fmt::Debug;
use core::marker::PhantomData;

/// The arithmetic of a [`StandardCell`]: [`RnnMath`], [`GruMath`] or
/// [`LstmMath`].
pub trait CellMath: Copy + Debug + Default + PartialEq + Send + Sync + 'static {
    /// The number of gates, `G` of the cell's weights.
    const GATES: usize;
}

/// An Elman RNN step, `h' = A(W_ih x + b_ih + W_hh h + b_hh)` with `A`
/// [`TanhFn`] (PyTorch's default) or [`ReluFn`](crate::nn::ReluFn).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RnnMath<A = TanhFn>(PhantomData<A>);

/// A GRU step, gates in PyTorch's order r, z, n, with `b_hn` inside the
/// reset gate's product: `n = tanh(W_in x + b_in + r (W_hn h + b_hn))`,
/// `h' = (1 - z) n + z h`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GruMath;

/// An LSTM step, gates in PyTorch's order i, f, g, o:
/// `c' = f c + i g`, `h' = o tanh(c')`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LstmMath;

impl<A: Elementwise + Send + Sync + 'static> CellMath for RnnMath<A> {
    const GATES: usize = 1;
}
impl CellMath for GruMath {
    const GATES: usize = 3;
}
impl CellMath for LstmMath {
    const GATES: usize = 4;
}

/// A recurrent cell with PyTorch's parameters: `G` gates of `H` units over
/// an input of `I` values. `weight_ih` is PyTorch's `(G*H, I)` matrix and
/// `weight_hh` its `(G*H, H)`, stored gate-major (`weight_ih[g][j]` is row
/// `g*H + j`, the same memory order); `bias_ih`, `bias_hh` are `(G*H)`.
/// With `BIAS = false` (PyTorch's `bias=False`) the biases stay zero and are
/// neither parameters nor state-dict entries.
///
/// Use it through [`RnnCell`], [`GruCell`] and [`LstmCell`]. `new()` is all
/// zeros; [`reset_parameters`](crate::Parameters::reset_parameters) draws
/// PyTorch's initialization, every array uniform in ±1/√H.
#[derive(Clone, Debug, PartialEq)]
pub struct StandardCell<
    M,
    const I: usize,
    const H: usize,
    const G: usize,
    T: Float = f32,
    const BIAS: bool = true,
> {
    /// `W_ih`, rows `[g][j]`.
    pub weight_ih: [[[T; I]; H]; G],
    /// `W_hh`, rows `[g][j]`.
    pub weight_hh: [[[T; H]; H]; G],
    /// `b_ih` (zero without bias).
    pub bias_ih: [[T; H]; G],
    /// `b_hh` (zero without bias).
    pub bias_hh: [[T; H]; G],
    marker: PhantomData<M>,
}

/// The gradients of a [`StandardCell`]'s arrays; `Default` is zeros.
#[derive(Clone, Debug, PartialEq)]
pub struct StandardCellGrads<
    M,
    const I: usize,
    const H: usize,
    const G: usize,
    T: Float = f32,
    const BIAS: bool = true,
> {
    /// Gradient of `weight_ih`.
    pub weight_ih: [[[T; I]; H]; G],
    /// Gradient of `weight_hh`.
    pub weight_hh: [[[T; H]; H]; G],
    /// Gradient of `bias_ih`.
    pub bias_ih: [[T; H]; G],
    /// Gradient of `bias_hh`.
    pub bias_hh: [[T; H]; G],
    marker: PhantomData<M>,
}

/// `torch.nn.RNNCell(I, H, bias, nonlinearity)`: `A` is [`TanhFn`] or
/// [`ReluFn`](crate::nn::ReluFn). State `[[T; H]; 1]`.
pub type RnnCell<const I: usize, const H: usize, T = f32, const BIAS: bool = true, A = TanhFn> =
    StandardCell<RnnMath<A>, I, H, 1, T, BIAS>;
/// `torch.nn.GRUCell(I, H, bias)`. State `[[T; H]; 1]`.
pub type GruCell<const I: usize, const H: usize, T = f32, const BIAS: bool = true> =
    StandardCell<GruMath, I, H, 3, T, BIAS>;
/// `torch.nn.LSTMCell(I, H, bias)`. State `[[T; H]; 2]`: `h`, then `c`.
pub type LstmCell<const I: usize, const H: usize, T = f32, const BIAS: bool = true> =
    StandardCell<LstmMath, I, H, 4, T, BIAS>;

/// `torch.nn.RNN(I, H, bias=BIAS, nonlinearity, batch_first=True)` over
/// sequences of `S` steps.
pub type Rnn<
    const I: usize,
    const H: usize,
    const S: usize,
    T = f32,
    const BIAS: bool = true,
    A = TanhFn,
> = Recurrent<RnnCell<I, H, T, BIAS, A>, S>;
/// `torch.nn.GRU(I, H, bias=BIAS, batch_first=True)` over sequences of `S`
/// steps.
pub type Gru<const I: usize, const H: usize, const S: usize, T = f32, const BIAS: bool = true> =
    Recurrent<GruCell<I, H, T, BIAS>, S>;
/// `torch.nn.LSTM(I, H, bias=BIAS, batch_first=True)` over sequences of `S`
/// steps.
pub type Lstm<const I: usize, const H: usize, const S: usize, T = f32, const BIAS: bool = true> =
    Recurrent<LstmCell<I, H, T, BIAS>, S>;

impl<M, const I: usize, const H: usize, const G: usize, T: Float, const BIAS: bool>
    StandardCell<M, I, H, G, T, BIAS>
{
    /// Every weight and bias zero.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            weight_ih: [[[T::ZERO; I]; H]; G],
            weight_hh: [[[T::ZERO; H]; H]; G],
            bias_ih: [[T::ZERO; H]; G],
            bias_hh: [[T::ZERO; H]; G],
            marker: PhantomData,
        }
    }

    /// The pre-activations `W_ih x + b_ih` and `W_hh h + b_hh`, per gate.
    #[inline]
    fn gates(&self, x: &[T; I], h: &[T; H]) -> ([[T; H]; G], [[T; H]; G]) {
        let mut gi = [[T::ZERO; H]; G];
        let mut gh = [[T::ZERO; H]; G];
        let (wi, bi) = (self.weight_ih.as_flattened(), self.bias_ih.as_flattened());
        affine(wi, bi, x, gi.as_flattened_mut());
        let (wh, bh) = (self.weight_hh.as_flattened(), self.bias_hh.as_flattened());
        affine(wh, bh, h, gh.as_flattened_mut());
        (gi, gh)
    }

    /// The backward pass of [`Self::gates`] for the gradients `d_gi`, `d_gh`
    /// of the two pre-activations: writes `dx`, adds into `dh` and `grads`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn gates_backward(
        &self,
        x: &[T; I],
        h: &[T; H],
        d_gi: &[[T; H]; G],
        d_gh: &[[T; H]; G],
        dx: &mut [T; I],
        dh: &mut [T; H],
        grads: &mut StandardCellGrads<M, I, H, G, T, BIAS>,
    ) {
        *dx = [T::ZERO; I];
        let (gw, gb) = (
            grads.weight_ih.as_flattened_mut(),
            grads.bias_ih.as_flattened_mut(),
        );
        affine_backward(
            self.weight_ih.as_flattened(),
            x,
            d_gi.as_flattened(),
            dx,
            gw,
            gb,
        );
        let (gw, gb) = (
            grads.weight_hh.as_flattened_mut(),
            grads.bias_hh.as_flattened_mut(),
        );
        affine_backward(
            self.weight_hh.as_flattened(),
            h,
            d_gh.as_flattened(),
            dh,
            gw,
            gb,
        );
    }
}

impl<M, const I: usize, const H: usize, const G: usize, T: Float, const BIAS: bool> Default
    for StandardCell<M, I, H, G, T, BIAS>
{
    fn default() -> Self {
        Self::new()
    }
}

parameter_arrays! {
    impl[M: CellMath, const I: usize, const H: usize, const G: usize, T: Float, const BIAS: bool]
        StandardCell<M, I, H, G, T, BIAS>,
        grads StandardCellGrads<M, I, H, G, T, BIAS>, marker marker,
        scalar T, name "StandardCell";
    reset(cell, rng) {
        #[allow(clippy::cast_precision_loss)]
        let bound = 1.0 / (H as f64).sqrt();
        for i in 0..Self::PARAMETER_KEYS.len() {
            for v in crate::Parameters::parameter_mut(cell, i) {
                *v = T::from_f64(rand::RngExt::random_range(rng, -bound..bound));
            }
        }
    }
    weight_ih: "weight_ih", shape [G * H, I];
    weight_hh: "weight_hh", shape [G * H, H];
    bias_ih: "bias_ih", shape [G * H], if BIAS;
    bias_hh: "bias_hh", shape [G * H], if BIAS;
}

zeroed_in_place! {
    impl[M, const I: usize, const H: usize, const G: usize, T: Float, const BIAS: bool]
        StandardCell<M, I, H, G, T, BIAS> {
        zero: weight_ih, weight_hh, bias_ih, bias_hh;
        marker: marker;
    }
}

/// The items every PyTorch cell's `Cell` impl shares: `state_items!`'s,
/// a cache of `C` rows of `H`, and the keys of a sequence module's layer 0
/// (`weight_ih_l0`).
macro_rules! pytorch_cell_items {
    (state $k:literal, cache $c:literal) => {
        state_items!(state $k);
        type Cache = [[T; H]; $c];
        const EMPTY_CACHE: [[T; H]; $c] = [[T::ZERO; H]; $c];

        fn sequence_key(key: &'static str) -> &'static str {
            layer0_key(key)
        }

        fn stacked_key(
            key: &Key<'_>,
            layer: usize,
            reverse: bool,
            f: &mut dyn FnMut(&Key<'_>),
        ) {
            f(&Key::leaf(stacked_name(key.head, layer, reverse)));
        }
    };
}

/// `torch.nn.RNN` / `GRU` / `LSTM`'s names of layer `$k`, forward then
/// reverse, in the order `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`.
macro_rules! torch_names {
    ($($k:literal)*) => {
        [$([
            [
                concat!("weight_ih_l", $k),
                concat!("weight_hh_l", $k),
                concat!("bias_ih_l", $k),
                concat!("bias_hh_l", $k),
            ],
            [
                concat!("weight_ih_l", $k, "_reverse"),
                concat!("weight_hh_l", $k, "_reverse"),
                concat!("bias_ih_l", $k, "_reverse"),
                concat!("bias_hh_l", $k, "_reverse"),
            ],
        ]),*]
    };
}

/// Every layer's names, below [`MAX_LAYERS`](super::MAX_LAYERS).
const TORCH_NAMES: [[[&str; 4]; 2]; super::MAX_LAYERS] =
    torch_names!("0" "1" "2" "3" "4" "5" "6" "7" "8" "9" "10" "11" "12" "13" "14" "15");

/// PyTorch's name of the cell's parameter `key` in layer `layer` of a
/// sequence module (`weight_ih_l1_reverse`).
fn stacked_name(key: &'static str, layer: usize, reverse: bool) -> &'static str {
    let names = &TORCH_NAMES[layer][usize::from(reverse)];
    match key {
        "weight_ih" => names[0],
        "weight_hh" => names[1],
        "bias_ih" => names[2],
        "bias_hh" => names[3],
        other => other,
    }
}

/// PyTorch's sequence-module names: `weight_ih` is `weight_ih_l0`.
fn layer0_key(key: &'static str) -> &'static str {
    match key {
        "weight_ih" => "weight_ih_l0",
        "weight_hh" => "weight_hh_l0",
        "bias_ih" => "bias_ih_l0",
        "bias_hh" => "bias_hh_l0",
        other => other,
    }
}

/// `1 / (1 + e^-x)`: exactly 0 or 1 far out, never NaN.
#[inline]
pub(crate) fn sigmoid<T: Float>(x: T) -> T {
    T::ONE / (T::ONE + (-x).exp())
}

impl<A, const I: usize, const H: usize, T: Float, const BIAS: bool> Cell
    for StandardCell<RnnMath<A>, I, H, 1, T, BIAS>
where
    A: Elementwise + Send + Sync + 'static,
{
    // Cache: the pre-activation.
    pytorch_cell_items!(state 1, cache 1);

    #[inline]
    fn step(
        &self,
        x: &[T; I],
        state: &[[T; H]; 1],
        next: &mut [[T; H]; 1],
        cache: &mut Self::Cache,
    ) {
        let (gi, gh) = self.gates(x, &state[0]);
        let [a] = cache;
        for j in 0..H {
            a[j] = gi[0][j] + gh[0][j];
            next[0][j] = A::value(a[j]);
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
        let mut da = [[T::ZERO; H]; 1];
        for j in 0..H {
            da[0][j] = d_next[0][j] * A::derivative(cache[0][j]);
        }
        d_state[0] = [T::ZERO; H];
        self.gates_backward(x, &state[0], &da, &da, dx, &mut d_state[0], grads);
    }
}

impl<const I: usize, const H: usize, T: Float, const BIAS: bool> Cell
    for StandardCell<GruMath, I, H, 3, T, BIAS>
{
    // Cache: `r`, `z`, `n` and `W_hn h + b_hn`.
    pytorch_cell_items!(state 1, cache 4);

    /// ATen's order of operations: `h' = (h - n) z + n`.
    #[inline]
    fn step(
        &self,
        x: &[T; I],
        state: &[[T; H]; 1],
        next: &mut [[T; H]; 1],
        cache: &mut Self::Cache,
    ) {
        let (gi, gh) = self.gates(x, &state[0]);
        let [r, z, n, ghn] = cache;
        for j in 0..H {
            r[j] = sigmoid(gh[0][j] + gi[0][j]);
            z[j] = sigmoid(gh[1][j] + gi[1][j]);
            ghn[j] = gh[2][j];
            n[j] = (gi[2][j] + gh[2][j] * r[j]).tanh();
            next[0][j] = (state[0][j] - n[j]) * z[j] + n[j];
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
        let [r, z, n, ghn] = cache;
        let h = &state[0];
        let mut d_gi = [[T::ZERO; H]; 3];
        let mut d_gh = [[T::ZERO; H]; 3];
        for j in 0..H {
            let d = d_next[0][j];
            let d_n = d * (T::ONE - z[j]) * (T::ONE - n[j] * n[j]);
            let d_r = d_n * ghn[j] * r[j] * (T::ONE - r[j]);
            let d_z = d * (h[j] - n[j]) * z[j] * (T::ONE - z[j]);
            d_gi[0][j] = d_r;
            d_gi[1][j] = d_z;
            d_gi[2][j] = d_n;
            d_gh[0][j] = d_r;
            d_gh[1][j] = d_z;
            d_gh[2][j] = d_n * r[j];
            d_state[0][j] = d * z[j];
        }
        self.gates_backward(x, h, &d_gi, &d_gh, dx, &mut d_state[0], grads);
    }
}

impl<const I: usize, const H: usize, T: Float, const BIAS: bool> Cell
    for StandardCell<LstmMath, I, H, 4, T, BIAS>
{
    // Cache: `i`, `f`, `g`, `o` and `tanh(c')`.
    pytorch_cell_items!(state 2, cache 5);

    #[inline]
    fn step(
        &self,
        x: &[T; I],
        state: &[[T; H]; 2],
        next: &mut [[T; H]; 2],
        cache: &mut Self::Cache,
    ) {
        let (gi, gh) = self.gates(x, &state[0]);
        let [i, f, g, o, tc] = cache;
        for j in 0..H {
            i[j] = sigmoid(gi[0][j] + gh[0][j]);
            f[j] = sigmoid(gi[1][j] + gh[1][j]);
            g[j] = (gi[2][j] + gh[2][j]).tanh();
            o[j] = sigmoid(gi[3][j] + gh[3][j]);
            next[1][j] = f[j] * state[1][j] + i[j] * g[j];
            tc[j] = next[1][j].tanh();
            next[0][j] = o[j] * tc[j];
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
        let [i, f, g, o, tc] = cache;
        let mut d_gates = [[T::ZERO; H]; 4];
        for j in 0..H {
            let dh = d_next[0][j];
            let dc = d_next[1][j] + dh * o[j] * (T::ONE - tc[j] * tc[j]);
            d_gates[0][j] = dc * g[j] * i[j] * (T::ONE - i[j]);
            d_gates[1][j] = dc * state[1][j] * f[j] * (T::ONE - f[j]);
            d_gates[2][j] = dc * i[j] * (T::ONE - g[j] * g[j]);
            d_gates[3][j] = dh * tc[j] * o[j] * (T::ONE - o[j]);
            d_state[1][j] = dc * f[j];
        }
        let [dh, _] = d_state;
        *dh = [T::ZERO; H];
        self.gates_backward(x, &state[0], &d_gates, &d_gates, dx, dh, grads);
    }
}
