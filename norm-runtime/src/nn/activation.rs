//! Activations over rows of any shape: element-wise ones, and (through
//! [`VectorFn`]) functions of each last-dim vector such as softmax.

use super::{SavedRows, check_backward, check_forward};
use crate::{Float, Layer, NoGrads, NormError, Row};
use core::fmt::Debug;
use core::marker::PhantomData;

/// A scalar function and its derivative, applied to every value by
/// [`ActivationOn`] (every `Elementwise` function is a [`VectorFn`]).
pub trait Elementwise: Copy + Debug + Default + PartialEq {
    /// `f(x)`.
    fn value<T: Float>(x: T) -> T;
    /// `f'(x)`.
    fn derivative<T: Float>(x: T) -> T;
}

/// A function of one vector, a row's last dim, and its backward pass:
/// what [`ActivationOn`] applies to every last-dim vector of a row. An
/// [`Elementwise`] function is one, value by value;
/// [`SoftmaxFn`](super::SoftmaxFn) and
/// [`LogSoftmaxFn`](super::LogSoftmaxFn) are the others.
pub trait VectorFn: Copy + Debug + Default + PartialEq {
    /// Writes `f(x)` into `y` (both the length of the last dim).
    fn forward<T: Float>(x: &[T], y: &mut [T]);
    /// Writes the input gradient `dx` of `f` at `x` for the output gradient
    /// `dy` (all three the length of the last dim). It may use `dx` as
    /// scratch first.
    fn backward<T: Float>(x: &[T], dy: &[T], dx: &mut [T]);

    /// Whether `f` acts value by value (every [`Elementwise`] function), so
    /// that a whole row can be given as one vector: a ReLU over a 64x25x5
    /// map is then one loop of 8000 values, not 1600 calls on vectors of 5.
    const ELEMENTWISE: bool = false;
}

impl<F: Elementwise> VectorFn for F {
    const ELEMENTWISE: bool = true;

    #[inline]
    fn forward<T: Float>(x: &[T], y: &mut [T]) {
        for (x, y) in x.iter().zip(y) {
            *y = F::value(*x);
        }
    }

    #[inline]
    fn backward<T: Float>(x: &[T], dy: &[T], dx: &mut [T]) {
        for ((x, dy), dx) in x.iter().zip(dy).zip(dx) {
            *dx = *dy * F::derivative(*x);
        }
    }
}

/// `max(x, 0)`; its derivative at 0 is 0, as in PyTorch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReluFn;

/// `tanh(x)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TanhFn;

/// `x Φ(x) = x (1 + erf(x / √2)) / 2`, PyTorch's `GELU()` (the exact form,
/// `approximate = "none"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GeluFn;

impl Elementwise for ReluFn {
    #[inline]
    fn value<T: Float>(x: T) -> T {
        if x > T::ZERO { x } else { T::ZERO }
    }
    #[inline]
    fn derivative<T: Float>(x: T) -> T {
        if x > T::ZERO { T::ONE } else { T::ZERO }
    }
}

impl Elementwise for TanhFn {
    #[inline]
    fn value<T: Float>(x: T) -> T {
        x.tanh()
    }
    #[inline]
    fn derivative<T: Float>(x: T) -> T {
        let t = x.tanh();
        T::ONE - t * t
    }
}

const FRAC_1_SQRT_2: f64 = core::f64::consts::FRAC_1_SQRT_2;
/// `1 / sqrt(2 pi)`.
const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

impl Elementwise for GeluFn {
    #[inline]
    fn value<T: Float>(x: T) -> T {
        let half = T::from_f64(0.5);
        half * x * (T::ONE + (x * T::from_f64(FRAC_1_SQRT_2)).erf())
    }
    #[inline]
    fn derivative<T: Float>(x: T) -> T {
        let half = T::from_f64(0.5);
        let cdf = half * (T::ONE + (x * T::from_f64(FRAC_1_SQRT_2)).erf());
        let pdf = T::from_f64(FRAC_1_SQRT_2PI) * (-half * x * x).exp();
        cdf + x * pdf
    }
}

/// `1 / (1 + e^-x)`, PyTorch's `Sigmoid()`, computed without overflow for
/// any `x` (`e^-|x|` only), so `x = -1100` gives 0, not NaN. Its derivative
/// `s(x) (1 - s(x))` is taken as `s(x) s(-x)`, accurate in both tails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigmoidFn;

/// `x s(x)` with `s` the sigmoid, PyTorch's `SiLU()` (swish); derivative
/// `s(x) (1 + x (1 - s(x)))`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SiluFn;

/// `x` for `x > 0`, `slope · x` otherwise: PyTorch's
/// `LeakyReLU(negative_slope = NUM / DEN)`, by default its `0.01`
/// ([`LeakyReluFn::NEGATIVE_SLOPE`]); `LeakyReluFn<1, 5>` is
/// `LeakyReLU(0.2)`. The slope is `NUM / DEN` in `f64`, then in the row's
/// type, as PyTorch turns its Python float into the tensor's type. The
/// derivative at 0 is the slope, as in PyTorch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeakyReluFn<const NUM: u32 = 1, const DEN: u32 = 100>;

/// `min(max(x, 0), 6)`, PyTorch's `ReLU6()`; its derivative is 1 only for
/// `0 < x < 6` (0 at exactly 0 and 6, as in PyTorch).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relu6Fn;

impl LeakyReluFn {
    /// PyTorch's default `negative_slope`.
    pub const NEGATIVE_SLOPE: f64 = 0.01;
}

impl<const NUM: u32, const DEN: u32> LeakyReluFn<NUM, DEN> {
    /// The slope for `x <= 0`, `NUM / DEN`.
    pub const SLOPE: f64 = {
        assert!(
            DEN > 0,
            "LeakyReluFn: the slope's denominator must not be 0"
        );
        NUM as f64 / DEN as f64
    };
}

/// The sigmoid `1 / (1 + e^-x)` from `e^-|x|`, which never overflows.
#[inline]
fn sigmoid<T: Float>(x: T) -> T {
    if x >= T::ZERO {
        T::ONE / (T::ONE + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::ONE + e)
    }
}

impl Elementwise for SigmoidFn {
    #[inline]
    fn value<T: Float>(x: T) -> T {
        sigmoid(x)
    }
    #[inline]
    fn derivative<T: Float>(x: T) -> T {
        sigmoid(x) * sigmoid(-x)
    }
}

impl Elementwise for SiluFn {
    #[inline]
    fn value<T: Float>(x: T) -> T {
        x * sigmoid(x)
    }
    #[inline]
    fn derivative<T: Float>(x: T) -> T {
        let s = sigmoid(x);
        s + x * s * sigmoid(-x)
    }
}

impl<const NUM: u32, const DEN: u32> Elementwise for LeakyReluFn<NUM, DEN> {
    #[inline]
    fn value<T: Float>(x: T) -> T {
        if x > T::ZERO {
            x
        } else {
            x * T::from_f64(Self::SLOPE)
        }
    }
    #[inline]
    fn derivative<T: Float>(x: T) -> T {
        if x > T::ZERO {
            T::ONE
        } else {
            T::from_f64(Self::SLOPE)
        }
    }
}

/// The upper bound of [`Relu6Fn`].
const SIX: f64 = 6.0;

impl Elementwise for Relu6Fn {
    #[inline]
    fn value<T: Float>(x: T) -> T {
        let six = T::from_f64(SIX);
        if x <= T::ZERO {
            T::ZERO
        } else if x >= six {
            six
        } else {
            x
        }
    }
    #[inline]
    fn derivative<T: Float>(x: T) -> T {
        if x > T::ZERO && x < T::from_f64(SIX) {
            T::ONE
        } else {
            T::ZERO
        }
    }
}

/// The slope and offset of a hard gate `clamp(slope x + offset, 0, 1)`:
/// [`HardsigmoidFn`] and [`HardswishFn`] take one as a type, so the
/// constants are known when the layer compiles. [`TorchGate`] is PyTorch's
/// (1/6, 1/2); [`PaddleGate`] is Paddle's and ONNX's `HardSigmoid` default
/// (0.2, 0.5). A gate of your own is a unit struct implementing this.
pub trait HardGate: Copy + Debug + Default + PartialEq {
    /// The slope (`alpha` in ONNX).
    const SLOPE: f64;
    /// The offset (`beta` in ONNX).
    const OFFSET: f64;

    /// `clamp(slope x + offset, 0, 1)`.
    #[inline]
    fn gate<T: Float>(x: T) -> T {
        clamp_unit(x * T::from_f64(Self::SLOPE) + T::from_f64(Self::OFFSET))
    }

    /// `x · gate(x)`, the hard swish.
    #[inline]
    fn swish<T: Float>(x: T) -> T {
        x * Self::gate(x)
    }

    /// The slope as the gate's backward pass multiplies by it: `SLOPE`
    /// unless the reference rounds it otherwise.
    #[inline]
    fn backward_slope<T: Float>() -> T {
        T::from_f64(Self::SLOPE)
    }
}

/// PyTorch's hard gate, `relu6(x + 3) / 6`, computed in that form (so the
/// bits are PyTorch's, not those of `x / 6 + 1 / 2`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TorchGate;

/// Paddle's hard gate (`hard_sigmoid` with `slope = 0.2, offset = 0.5`, also
/// ONNX's `HardSigmoid` defaults): `clamp(0.2 x + 0.5, 0, 1)`, as ONNX
/// Runtime computes it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PaddleGate;

impl HardGate for TorchGate {
    const SLOPE: f64 = 1.0 / 6.0;
    const OFFSET: f64 = 0.5;

    #[inline]
    fn gate<T: Float>(x: T) -> T {
        let six = T::from_f64(SIX);
        Relu6Fn::value(x + T::from_f64(3.0)) / six
    }

    /// PyTorch's order, `x · relu6(x + 3) / 6`: the product first.
    #[inline]
    fn swish<T: Float>(x: T) -> T {
        x * Relu6Fn::value(x + T::from_f64(3.0)) / T::from_f64(SIX)
    }

    /// PyTorch's `hardsigmoid_backward` multiplies by `1 / 6` rounded to
    /// `f32` (0.16666667163...), in `f64` too; so does this, so gradients
    /// are PyTorch's in both.
    #[inline]
    fn backward_slope<T: Float>() -> T {
        #[allow(clippy::cast_possible_truncation)]
        let sixth = f64::from((1.0 / SIX) as f32);
        T::from_f64(sixth)
    }
}

impl HardGate for PaddleGate {
    const SLOPE: f64 = 0.2;
    const OFFSET: f64 = 0.5;
}

/// `t` clamped to `[0, 1]`.
#[inline]
fn clamp_unit<T: Float>(t: T) -> T {
    if t <= T::ZERO {
        T::ZERO
    } else if t >= T::ONE {
        T::ONE
    } else {
        t
    }
}

/// The hard sigmoid `clamp(slope x + offset, 0, 1)` of the gate `G`:
/// PyTorch's `Hardsigmoid()` with the default [`TorchGate`], Paddle's and
/// ONNX's `HardSigmoid` with [`PaddleGate`]. Its derivative is the slope
/// ([`HardGate::backward_slope`]) where `0 < slope x + offset < 1` and 0
/// elsewhere (at the corners too, as in PyTorch).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HardsigmoidFn<G = TorchGate>(PhantomData<G>);

/// The hard swish `x · gate(x)` of the gate `G`: with the default
/// [`TorchGate`], PyTorch's `Hardswish()` (`x · relu6(x + 3) / 6`), which is
/// also Paddle's `hard_swish` and MobileNetV3's. The derivative is
/// PyTorch's `hardswish_backward`: with `t = slope x + offset`, 0 for `t <=
/// 0`, `t + slope x` for `0 < t < 1` and 1 for `t >= 1` (so 0 at `x = -3`
/// and 1 at `x = 3` for PyTorch's gate).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HardswishFn<G = TorchGate>(PhantomData<G>);

impl<G: HardGate> Elementwise for HardsigmoidFn<G> {
    #[inline]
    fn value<T: Float>(x: T) -> T {
        G::gate(x)
    }
    #[inline]
    fn derivative<T: Float>(x: T) -> T {
        let t = x * T::from_f64(G::SLOPE) + T::from_f64(G::OFFSET);
        if t > T::ZERO && t < T::ONE {
            G::backward_slope()
        } else {
            T::ZERO
        }
    }
}

impl<G: HardGate> Elementwise for HardswishFn<G> {
    #[inline]
    fn value<T: Float>(x: T) -> T {
        G::swish(x)
    }
    #[inline]
    fn derivative<T: Float>(x: T) -> T {
        let slope = T::from_f64(G::SLOPE);
        let t = x * slope + T::from_f64(G::OFFSET);
        if t <= T::ZERO {
            T::ZERO
        } else if t < T::ONE {
            t + x * slope
        } else {
            T::ONE
        }
    }
}

/// A layer applying `F` to every vector along the last dim of a row `R` of
/// any shape (`[T; N]`, a sequence `[[T; N]; S]`, or a channel-major
/// `[[T; L]; C]` or `[[[T; W]; H]; C]` after a convolution): for an
/// [`Elementwise`] `F`, to every value. No parameters. Use it through
/// [`Relu`], [`Tanh`], [`Gelu`], [`Sigmoid`], [`Silu`], [`LeakyRelu`] and
/// [`Relu6`] (flat rows), [`Relu1d`] and [`Relu2d`], or [`ReluOn`],
/// [`TanhOn`], [`GeluOn`], [`SigmoidOn`], [`SiluOn`], [`LeakyReluOn`] and
/// [`Relu6On`] for any row; the softmaxes are
/// [`Softmax`](super::Softmax) and [`SoftmaxOn`](super::SoftmaxOn).
///
/// Backward gets `x`, not `y`, so a function that needs its output
/// (softmax) recomputes it per vector, in `dx`: nothing is saved or
/// allocated.
///
/// Training vs inference: the same; nothing is learned or tracked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ActivationOn<F, R> {
    marker: PhantomData<(F, R)>,
}

/// An activation over `N` values: [`ActivationOn`] a row `[T; N]`.
pub type Activation<F, const N: usize, T = f32> = ActivationOn<F, [T; N]>;

/// ReLU over `N` values (`torch.nn.ReLU`).
pub type Relu<const N: usize, T = f32> = Activation<ReluFn, N, T>;
/// Tanh over `N` values (`torch.nn.Tanh`).
pub type Tanh<const N: usize, T = f32> = Activation<TanhFn, N, T>;
/// GELU over `N` values (`torch.nn.GELU`, exact form).
pub type Gelu<const N: usize, T = f32> = Activation<GeluFn, N, T>;

/// Sigmoid over `N` values (`torch.nn.Sigmoid`).
pub type Sigmoid<const N: usize, T = f32> = Activation<SigmoidFn, N, T>;
/// SiLU over `N` values (`torch.nn.SiLU`).
pub type Silu<const N: usize, T = f32> = Activation<SiluFn, N, T>;
/// Leaky ReLU over `N` values (`torch.nn.LeakyReLU()`, slope 0.01).
pub type LeakyRelu<const N: usize, T = f32> = Activation<LeakyReluFn, N, T>;
/// ReLU6 over `N` values (`torch.nn.ReLU6`).
pub type Relu6<const N: usize, T = f32> = Activation<Relu6Fn, N, T>;

/// ReLU over every value of a row `R` (`torch.nn.ReLU`).
pub type ReluOn<R> = ActivationOn<ReluFn, R>;
/// Tanh over every value of a row `R` (`torch.nn.Tanh`).
pub type TanhOn<R> = ActivationOn<TanhFn, R>;
/// GELU over every value of a row `R` (`torch.nn.GELU`, exact form).
pub type GeluOn<R> = ActivationOn<GeluFn, R>;

/// Sigmoid over every value of a row `R` (`torch.nn.Sigmoid`).
pub type SigmoidOn<R> = ActivationOn<SigmoidFn, R>;
/// SiLU over every value of a row `R` (`torch.nn.SiLU`).
pub type SiluOn<R> = ActivationOn<SiluFn, R>;
/// Leaky ReLU over every value of a row `R` (`torch.nn.LeakyReLU()`, slope
/// 0.01).
pub type LeakyReluOn<R> = ActivationOn<LeakyReluFn, R>;
/// ReLU6 over every value of a row `R` (`torch.nn.ReLU6`).
pub type Relu6On<R> = ActivationOn<Relu6Fn, R>;

/// Hard sigmoid over `N` values (`torch.nn.Hardsigmoid`; another gate:
/// `Activation<HardsigmoidFn<PaddleGate>, N>`).
pub type Hardsigmoid<const N: usize, T = f32> = Activation<HardsigmoidFn, N, T>;
/// Hard swish over `N` values (`torch.nn.Hardswish`).
pub type Hardswish<const N: usize, T = f32> = Activation<HardswishFn, N, T>;
/// Hard sigmoid over every value of a row `R` (`torch.nn.Hardsigmoid`;
/// Paddle's and ONNX's slope 0.2: `ActivationOn<HardsigmoidFn<PaddleGate>, R>`).
pub type HardsigmoidOn<R> = ActivationOn<HardsigmoidFn, R>;
/// Hard swish over every value of a row `R` (`torch.nn.Hardswish`).
pub type HardswishOn<R> = ActivationOn<HardswishFn, R>;

/// ReLU after a 1-d convolution: `C` channels of length `L`.
pub type Relu1d<const C: usize, const L: usize, T = f32> = ReluOn<[[T; L]; C]>;
/// ReLU after a 2-d convolution: `C` channels of `H x W`.
pub type Relu2d<const C: usize, const H: usize, const W: usize, T = f32> = ReluOn<[[[T; W]; H]; C]>;

super::stateless_layer!([F: VectorFn, R: Row] ActivationOn<F, R>, scalar = R::Scalar);

/// `F` over every `n`-value vector of `x` into `y`. No fused multiply-adds
/// are formed (Rust never contracts), so the copy compiled for AVX2 gives
/// the portable code's bits, only wider: a hard swish's division by 6 runs
/// eight at a time instead of four.
#[inline(always)]
fn apply_rows<F: VectorFn, T: Float, const FMA: bool>(n: usize, x: &[T], y: &mut [T]) {
    for (x, y) in x.chunks_exact(n).zip(y.chunks_exact_mut(n)) {
        F::forward(x, y);
    }
}

/// Rows of fewer values than this apply the portable code inline.
const ACTIVATION_DISPATCH_MIN_VALUES: usize = 256;

crate::kernels::dispatch::dispatched! {
    /// [`apply_rows`], compiled for AVX2 too.
    fn apply_dispatched[F: VectorFn, T: Float](n: usize, x: &[T], y: &mut [T])
        = apply_rows::<F, T>, portable below ACTIVATION_DISPATCH_MIN_VALUES;
}

impl<F: VectorFn, R: Row> ActivationOn<F, R> {
    /// The length of the vectors `F` is given: the last dim, or the whole
    /// row for an elementwise `F` (at least 1, so that an empty row has no
    /// vectors rather than vectors of length 0).
    const LAST: usize = match (F::ELEMENTWISE, R::SHAPE.last()) {
        (true, _) if R::LEN > 0 => R::LEN,
        (false, Some(&n)) if n > 0 => n,
        _ => 1,
    };
}

impl<F: VectorFn, R: Row> Layer for ActivationOn<F, R> {
    type Input = R;
    type Output = R;
    type Saved = SavedRows;
    const EVAL_PER_ROW: bool = true;

    #[inline]
    fn forward_train(&mut self, x: &[R], y: &mut [R]) -> Result<SavedRows, NormError> {
        self.forward_eval(x, y)
    }

    #[inline]
    fn forward_eval(&self, x: &[R], y: &mut [R]) -> Result<SavedRows, NormError> {
        let saved = check_forward(x.len(), y.len())?;
        let n = Self::LAST;
        for (x, y) in x.iter().zip(y) {
            let (x, y) = (x.as_flat(), y.as_flat_mut());
            apply_dispatched::<F, R::Scalar>(x.len(), n, x, y);
        }
        Ok(saved)
    }

    #[inline]
    fn backward(
        &self,
        x: &[R],
        saved: &SavedRows,
        dy: &[R],
        dx: &mut [R],
        _: &mut NoGrads,
    ) -> Result<(), NormError> {
        check_backward(*saved, x.len(), dy.len(), dx.len())?;
        let n = Self::LAST;
        for ((x, dy), dx) in x.iter().zip(dy).zip(dx) {
            let x = x.as_flat().chunks_exact(n);
            let vectors = x.zip(dy.as_flat().chunks_exact(n));
            for ((x, dy), dx) in vectors.zip(dx.as_flat_mut().chunks_exact_mut(n)) {
                F::backward(x, dy, dx);
            }
        }
        Ok(())
    }
}
