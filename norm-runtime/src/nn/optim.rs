//! Optimizers over every parameter of a layer or network, with PyTorch's
//! update rules. Their state has the type of the model's gradients, so a
//! step allocates nothing.

use crate::{Float, Gradients, Parameters};
use core::marker::PhantomData;

/// Stochastic gradient descent with momentum, PyTorch's `torch.optim.SGD`
/// (no dampening, no Nesterov): `g += weight_decay * p; v = momentum * v + g;
/// p -= lr * v`. With `momentum = 0` it is plain SGD.
///
/// `G` is the model's gradient type ([`Parameters::Grads`]), inferred from
/// the first [`step`](Sgd::step).
#[derive(Clone, Debug)]
pub struct Sgd<T: Float, G> {
    /// Learning rate.
    pub lr: T,
    /// Momentum factor `mu`.
    pub momentum: T,
    /// L2 penalty added to the gradient (PyTorch's `weight_decay`), default 0.
    pub weight_decay: T,
    velocity: G,
}

impl<T: Float, G: Gradients<T>> Sgd<T, G> {
    /// SGD with learning rate `lr` and momentum `momentum`, velocity zero.
    #[must_use]
    pub fn new(lr: T, momentum: T) -> Self {
        Self {
            lr,
            momentum,
            weight_decay: T::ZERO,
            velocity: G::default(),
        }
    }

    /// One update of every parameter of `model` from `grads`.
    pub fn step<P: Parameters<Scalar = T, Grads = G>>(&mut self, model: &mut P, grads: &G) {
        // The factors in locals: read through `self` inside the loop, they
        // would be reloaded after every store (the velocity is in `self`
        // too), and the loop would not vectorize.
        let (lr, momentum, weight_decay) = (self.lr, self.momentum, self.weight_decay);
        for i in 0..G::ARRAYS {
            let p = model.parameter_mut(i);
            let values = grads.array(i).iter().zip(self.velocity.array_mut(i));
            for (p, (g, v)) in p.iter_mut().zip(values) {
                let g = *g + weight_decay * *p;
                *v = momentum * *v + g;
                *p -= lr * *v;
            }
        }
    }
}

/// Adam, PyTorch's `torch.optim.Adam` (not AMSGrad), with its defaults
/// `lr = 1e-3`, `betas = (0.9, 0.999)`, `eps = 1e-8` and its exact update:
/// `m = lerp(m, g, 1 - beta1)`, `v = beta2 v + (1 - beta2) g²`,
/// `p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)`.
#[derive(Clone, Debug)]
pub struct Adam<T: Float, G> {
    /// Learning rate.
    pub lr: T,
    /// Decay of the first moment.
    pub beta1: T,
    /// Decay of the second moment.
    pub beta2: T,
    /// Added to the denominator.
    pub eps: T,
    /// L2 penalty added to the gradient (PyTorch's `weight_decay`), default 0.
    pub weight_decay: T,
    m: G,
    v: G,
    steps: u32,
    scalar: PhantomData<T>,
}

impl<T: Float, G: Gradients<T>> Adam<T, G> {
    /// Adam with learning rate `lr` and PyTorch's other defaults.
    #[must_use]
    pub fn new(lr: T) -> Self {
        let (lr, beta1, beta2, eps) = adam_defaults(lr);
        Self {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay: T::ZERO,
            m: G::default(),
            v: G::default(),
            steps: 0,
            scalar: PhantomData,
        }
    }

    /// Steps taken so far.
    #[must_use]
    pub const fn steps(&self) -> u32 {
        self.steps
    }

    /// One update of every parameter of `model` from `grads`.
    pub fn step<P: Parameters<Scalar = T, Grads = G>>(&mut self, model: &mut P, grads: &G) {
        self.steps = self.steps.saturating_add(1);
        let t = f64::from(self.steps);
        let correction1 = T::ONE - T::from_f64(libm::pow(self.beta1.to_f64(), t));
        let correction2 = T::ONE - T::from_f64(libm::pow(self.beta2.to_f64(), t));
        let step_size = self.lr / correction1;
        let correction2_sqrt = correction2.sqrt();
        for i in 0..G::ARRAYS {
            let p = model.parameter_mut(i);
            let moments = self.m.array_mut(i).iter_mut().zip(self.v.array_mut(i));
            for ((p, g), (m, v)) in p.iter_mut().zip(grads.array(i)).zip(moments) {
                let g = *g + self.weight_decay * *p;
                *m += (T::ONE - self.beta1) * (g - *m);
                *v = self.beta2 * *v + (T::ONE - self.beta2) * g * g;
                let denom = v.sqrt() / correction2_sqrt + self.eps;
                *p -= step_size * *m / denom;
            }
        }
    }
}

// SAFETY: `init_at` writes every field: the three factors (0) and the
// velocity by its own `init_at`, so a valid value is left at `p`.
unsafe impl<T: Float, G: crate::network::InPlace> crate::network::InPlace for Sgd<T, G> {
    #[inline]
    unsafe fn init_at(p: *mut Self) {
        // SAFETY: the caller's `p` is valid for writes and aligned, and so is
        // each field's place in it.
        unsafe {
            core::ptr::addr_of_mut!((*p).lr).write(T::ZERO);
            core::ptr::addr_of_mut!((*p).momentum).write(T::ZERO);
            core::ptr::addr_of_mut!((*p).weight_decay).write(T::ZERO);
            G::init_at(core::ptr::addr_of_mut!((*p).velocity));
        }
    }
}

// SAFETY: `init_at` writes every field: the factors, the moments by their
// own `init_at`, the step count and the zero-sized marker.
unsafe impl<T: Float, G: crate::network::InPlace> crate::network::InPlace for Adam<T, G> {
    #[inline]
    unsafe fn init_at(p: *mut Self) {
        // SAFETY: the caller's `p` is valid for writes and aligned, and so is
        // each field's place in it.
        unsafe {
            core::ptr::addr_of_mut!((*p).lr).write(T::ZERO);
            core::ptr::addr_of_mut!((*p).beta1).write(T::ZERO);
            core::ptr::addr_of_mut!((*p).beta2).write(T::ZERO);
            core::ptr::addr_of_mut!((*p).eps).write(T::ZERO);
            core::ptr::addr_of_mut!((*p).weight_decay).write(T::ZERO);
            G::init_at(core::ptr::addr_of_mut!((*p).m));
            G::init_at(core::ptr::addr_of_mut!((*p).v));
            core::ptr::addr_of_mut!((*p).steps).write(0);
            core::ptr::addr_of_mut!((*p).scalar).write(PhantomData);
        }
    }
}

#[cfg(feature = "std")]
impl<T: Float, G: Gradients<T> + crate::network::InPlace> Sgd<T, G> {
    /// [`new`](Self::new) built straight on the heap: the velocity is the
    /// size of the model's parameters, too large for the stack for a large
    /// model (in a debug build, or on a small thread stack).
    #[must_use]
    pub fn new_boxed(lr: T, momentum: T) -> std::boxed::Box<Self> {
        let mut sgd = crate::network::boxed::<Self>();
        sgd.lr = lr;
        sgd.momentum = momentum;
        sgd
    }
}

#[cfg(feature = "std")]
impl<T: Float, G: Gradients<T> + crate::network::InPlace> Adam<T, G> {
    /// [`new`](Self::new) built straight on the heap: the two moments are
    /// each the size of the model's parameters.
    #[must_use]
    pub fn new_boxed(lr: T) -> std::boxed::Box<Self> {
        let mut adam = crate::network::boxed::<Self>();
        (adam.lr, adam.beta1, adam.beta2, adam.eps) = adam_defaults(lr);
        adam
    }
}

/// Adam's learning rate `lr` and PyTorch's betas (0.9, 0.999) and eps (1e-8).
fn adam_defaults<T: Float>(lr: T) -> (T, T, T, T) {
    (lr, T::from_f64(0.9), T::from_f64(0.999), T::from_f64(1e-8))
}
