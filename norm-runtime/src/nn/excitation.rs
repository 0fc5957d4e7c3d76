//! Squeeze-and-excitation (Hu, Shen and Sun 2018): a channel gate computed
//! from the example itself, as in MobileNetV3 and EfficientNet.

use super::activation::{ReluFn, SigmoidFn};
use super::params::{parameter_arrays, zeroed_in_place};
use super::{Elementwise, SavedRows, check_backward, check_forward, kaiming_uniform};
use crate::kernels::matvec;
use crate::kernels::reduce::sums;
use crate::{Float, Layer, NormError};
use core::marker::PhantomData;

/// `y = x · g(x)`, torchvision's `SqueezeExcitation(C, S, activation = A,
/// scale_activation = G)`: the gate `g` maps an example `[[[T; W]; H]; C]`
/// to one factor per channel, broadcast over `H x W`:
///
/// ```text
/// s = mean over H x W of x         (the squeeze: AdaptiveAvgPool2d(1))
/// g = G(fc2(A(fc1(s))))            (fc1: C -> S, fc2: S -> C, 1x1 convolutions)
/// y[c] = x[c] · g[c]
/// ```
///
/// `fc1` and `fc2` are 1x1 convolutions with biases, under torchvision's
/// keys and PyTorch's conv layout (`fc1.weight` is `[S, C, 1, 1]`, `fc1.bias`
/// `[S]`, `fc2.weight` `[C, S, 1, 1]`, `fc2.bias` `[C]`) and
/// initialization. torchvision's defaults are ReLU and the sigmoid
/// (`SqueezeExcitation<C, S, H, W>`); MobileNetV3 and PP-OCR gate with the
/// hard sigmoid (`HardsigmoidFn` of `TorchGate` or `PaddleGate`).
///
/// Backward recomputes each example's gate on the stack (nothing the size
/// of the batch is saved), with the gradient of both paths into `x`: the
/// product's `dy · g` and the gate's, through the mean.
///
/// Training vs inference: the same; no running statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct SqueezeExcitation<
    const C: usize,
    const S: usize,
    const H: usize,
    const W: usize,
    T: Float = f32,
    A = ReluFn,
    G = SigmoidFn,
> {
    /// `fc1.weight`, `[S, C, 1, 1]` (stored `[S][C]`).
    pub fc1_weight: [[T; C]; S],
    /// `fc1.bias`.
    pub fc1_bias: [T; S],
    /// `fc2.weight`, `[C, S, 1, 1]` (stored `[C][S]`).
    pub fc2_weight: [[T; S]; C],
    /// `fc2.bias`.
    pub fc2_bias: [T; C],
    marker: PhantomData<(A, G)>,
}

/// Gradients of a [`SqueezeExcitation`]'s four arrays; `Default` is zeros.
#[derive(Clone, Debug, PartialEq)]
pub struct SqueezeExcitationGrads<
    const C: usize,
    const S: usize,
    const H: usize,
    const W: usize,
    T: Float = f32,
    A = ReluFn,
    G = SigmoidFn,
> {
    /// Gradient of `fc1.weight`.
    pub fc1_weight: [[T; C]; S],
    /// Gradient of `fc1.bias`.
    pub fc1_bias: [T; S],
    /// Gradient of `fc2.weight`.
    pub fc2_weight: [[T; S]; C],
    /// Gradient of `fc2.bias`.
    pub fc2_bias: [T; C],
    marker: PhantomData<([(); H], [(); W], A, G)>,
}

/// One example's gate and what backward needs of it.
struct Gate<const C: usize, const S: usize, T> {
    /// The squeeze: each channel's mean.
    mean: [T; C],
    /// `fc1(mean)`, before the activation.
    z1: [T; S],
    /// `A(z1)`.
    a1: [T; S],
    /// `fc2(a1)`, before the gate function.
    z2: [T; C],
    /// `G(z2)`, the factors.
    g: [T; C],
}

impl<const C: usize, const S: usize, const H: usize, const W: usize, T: Float, A, G> Default
    for SqueezeExcitation<C, S, H, W, T, A, G>
where
    A: Elementwise,
    G: Elementwise,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<const C: usize, const S: usize, const H: usize, const W: usize, T: Float, A, G>
    SqueezeExcitation<C, S, H, W, T, A, G>
where
    A: Elementwise,
    G: Elementwise,
{
    /// All parameters zero (every gate `G(0)`); PyTorch's initialization is
    /// [`reset_parameters`](crate::Parameters::reset_parameters).
    #[must_use]
    pub const fn new() -> Self {
        const {
            assert!(
                H * W > 0 && C > 0 && S > 0,
                "SqueezeExcitation: empty sizes"
            )
        };
        Self {
            fc1_weight: [[T::ZERO; C]; S],
            fc1_bias: [T::ZERO; S],
            fc2_weight: [[T::ZERO; S]; C],
            fc2_bias: [T::ZERO; C],
            marker: PhantomData,
        }
    }

    /// The per-channel factors of one example, `g(x)`.
    #[must_use]
    pub fn gate(&self, x: &[[[T; W]; H]; C]) -> [T; C] {
        self.gate_of(x).g
    }

    fn gate_of(&self, x: &[[[T; W]; H]; C]) -> Gate<C, S, T> {
        let inv = T::ONE / T::from_usize(H * W);
        let mut mean = [T::ZERO; C];
        for (m, plane) in mean.iter_mut().zip(x) {
            let plane = plane.as_flattened();
            // Eight partial sums: a single running sum is a latency-bound chain.
            let [sum] = sums::<T, 1, false>(plane.len(), |i| [plane[i]]);
            *m = sum * inv;
        }
        let mut z1 = [T::ZERO; S];
        matvec::affine(&self.fc1_weight, &self.fc1_bias, &mean, &mut z1);
        let a1 = z1.map(A::value);
        let mut z2 = [T::ZERO; C];
        matvec::affine(&self.fc2_weight, &self.fc2_bias, &a1, &mut z2);
        let g = z2.map(G::value);
        Gate {
            mean,
            z1,
            a1,
            z2,
            g,
        }
    }
}

parameter_arrays! {
    impl[const C: usize, const S: usize, const H: usize, const W: usize, T: Float, A: Elementwise, G: Elementwise]
        SqueezeExcitation<C, S, H, W, T, A, G>,
    grads SqueezeExcitationGrads<C, S, H, W, T, A, G>, marker marker, scalar T, name "SqueezeExcitation";
    reset(layer, rng) {
        kaiming_uniform(rng, C, layer.fc1_weight.as_flattened_mut(), &mut layer.fc1_bias);
        kaiming_uniform(rng, S, layer.fc2_weight.as_flattened_mut(), &mut layer.fc2_bias);
    }
    fc1_weight: "fc1.weight", shape [S, C, 1, 1];
    fc1_bias: "fc1.bias", shape [S];
    fc2_weight: "fc2.weight", shape [C, S, 1, 1];
    fc2_bias: "fc2.bias", shape [C];
}

impl<const C: usize, const S: usize, const H: usize, const W: usize, T: Float, A, G> Layer
    for SqueezeExcitation<C, S, H, W, T, A, G>
where
    A: Elementwise,
    G: Elementwise,
{
    type Input = [[[T; W]; H]; C];
    type Output = [[[T; W]; H]; C];
    type Saved = SavedRows;
    const EVAL_PER_ROW: bool = true;

    #[inline]
    fn forward_train(
        &mut self,
        x: &[[[[T; W]; H]; C]],
        y: &mut [[[[T; W]; H]; C]],
    ) -> Result<SavedRows, NormError> {
        self.forward_eval(x, y)
    }

    fn forward_eval(
        &self,
        x: &[[[[T; W]; H]; C]],
        y: &mut [[[[T; W]; H]; C]],
    ) -> Result<SavedRows, NormError> {
        let saved = check_forward(x.len(), y.len())?;
        for (x, y) in x.iter().zip(y) {
            let g = self.gate_of(x).g;
            for ((x, y), g) in x.iter().zip(y).zip(g) {
                for (x, y) in x.as_flattened().iter().zip(y.as_flattened_mut()) {
                    *y = *x * g;
                }
            }
        }
        Ok(saved)
    }

    fn backward(
        &self,
        x: &[[[[T; W]; H]; C]],
        saved: &SavedRows,
        dy: &[[[[T; W]; H]; C]],
        dx: &mut [[[[T; W]; H]; C]],
        grads: &mut SqueezeExcitationGrads<C, S, H, W, T, A, G>,
    ) -> Result<(), NormError> {
        check_backward(*saved, x.len(), dy.len(), dx.len())?;
        let inv = T::ONE / T::from_usize(H * W);
        for ((x, dy), dx) in x.iter().zip(dy).zip(dx) {
            let gate = self.gate_of(x);
            // dg[c] = Σ dy x over the plane, then back through G and fc2.
            let mut dz2 = [T::ZERO; C];
            for (((d, x), dy), z2) in dz2.iter_mut().zip(x).zip(dy).zip(gate.z2) {
                let (x, dy) = (x.as_flattened(), dy.as_flattened());
                let [sum] = sums::<T, 1, false>(x.len(), |i| [x[i] * dy[i]]);
                *d = sum * G::derivative(z2);
            }
            let mut da1 = [T::ZERO; S];
            matvec::affine_backward(
                &self.fc2_weight,
                &gate.a1,
                &dz2,
                &mut da1,
                &mut grads.fc2_weight,
                &mut grads.fc2_bias,
            );
            let mut dz1 = da1;
            for (d, z1) in dz1.iter_mut().zip(gate.z1) {
                *d *= A::derivative(z1);
            }
            let mut dmean = [T::ZERO; C];
            matvec::affine_backward(
                &self.fc1_weight,
                &gate.mean,
                &dz1,
                &mut dmean,
                &mut grads.fc1_weight,
                &mut grads.fc1_bias,
            );
            let paths = dy.iter().zip(dx.iter_mut()).zip(gate.g.iter().zip(dmean));
            for ((dy, dx), (&g, dmean)) in paths {
                let through_mean = dmean * inv;
                for (dy, dx) in dy.as_flattened().iter().zip(dx.as_flattened_mut()) {
                    *dx = *dy * g + through_mean;
                }
            }
        }
        Ok(())
    }
}

zeroed_in_place! {
    impl[const C: usize, const S: usize, const H: usize, const W: usize, T: Float, A: Elementwise, G: Elementwise]
        SqueezeExcitation<C, S, H, W, T, A, G> {
        zero: fc1_weight, fc1_bias, fc2_weight, fc2_bias;
        marker: marker;
    }
}
