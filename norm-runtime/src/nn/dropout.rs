//! Dropout: PyTorch's `torch.nn.Dropout(p)`, with a counter-based generator
//! the layer carries, so nothing is allocated and backward replays the mask
//! instead of storing it.

use super::{SavedRows, check_backward, check_forward};
use crate::{Float, Layer, NoGrads, NormError, Row};
use core::marker::PhantomData;

/// Dropout over every value of a row `R` (`torch.nn.Dropout(p)`, any row
/// shape): in inference the identity; in training each value is zeroed with
/// probability `p` and the others scaled by `1 / (1 - p)` ("inverted"
/// dropout, PyTorch's), so the expected output is the input.
///
/// The random mask comes from the layer's own generator, owned by whoever
/// owns the layer: a seed ([`with_seed`](Self::with_seed)) and a count of
/// training passes. Value `j` of row `n` in training pass `k` is dropped
/// when a hash of `(seed, k, n, j)` (SplitMix64's finalizer) maps below `p`,
/// so the same seed gives the same masks on every run and machine, and
/// backward recomputes the mask from the pass number it saved (nothing the
/// size of the batch is kept). The masks are not PyTorch's (its generator
/// is not reproducible outside PyTorch); their distribution is.
///
/// `forward_train` advances the pass count (in a `#[network]`, when the
/// whole step commits); `forward_eval` and `backward` do not.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dropout<R> {
    p: f64,
    seed: u64,
    passes: u64,
    marker: PhantomData<R>,
}

/// What [`Dropout`] saves for backward: the rows, and which training pass
/// drew the mask (`None` for an inference pass, whose backward is the
/// identity).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DropoutSaved {
    /// The rows of the forward pass.
    pub rows: SavedRows,
    /// The training pass whose mask was drawn.
    pub pass: Option<u64>,
}

impl<R: Row> Default for Dropout<R> {
    /// PyTorch's default `p = 0.5`, seed 0.
    fn default() -> Self {
        Self::new(0.5)
    }
}

impl<R: Row> Dropout<R> {
    /// Dropout with probability `p`, seed 0.
    ///
    /// # Panics
    /// If `p` is not in `[0, 1]` (PyTorch's `ValueError`).
    #[must_use]
    pub const fn new(p: f64) -> Self {
        assert!(p >= 0.0 && p <= 1.0, "Dropout: p must be between 0 and 1");
        Self {
            p,
            seed: 0,
            passes: 0,
            marker: PhantomData,
        }
    }

    /// The same layer drawing its masks from `seed` (from its first pass
    /// again).
    #[must_use]
    pub const fn with_seed(self, seed: u64) -> Self {
        Self {
            seed,
            passes: 0,
            ..self
        }
    }

    /// The probability of dropping a value.
    #[must_use]
    pub const fn p(&self) -> f64 {
        self.p
    }

    /// The training passes made so far (which mask comes next).
    #[must_use]
    pub const fn passes(&self) -> u64 {
        self.passes
    }

    /// The factor of the values kept in training pass `pass`, value `j`
    /// of row `n`: 0 if dropped, `1 / (1 - p)` otherwise.
    #[inline]
    fn factor(&self, pass: u64, n: usize, j: usize, keep: R::Scalar) -> R::Scalar {
        if self.p >= 1.0 {
            return R::Scalar::ZERO;
        }
        if self.p <= 0.0 {
            return keep;
        }
        let index = ((n as u64) << 32) ^ j as u64;
        let bits = mix(mix(mix(self.seed) ^ pass) ^ index);
        // 53 random bits as a uniform draw in [0, 1).
        #[allow(clippy::cast_precision_loss)]
        let u = (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        if u < self.p { R::Scalar::ZERO } else { keep }
    }

    /// `1 / (1 - p)` in the row's scalar type, as PyTorch divides its
    /// Bernoulli noise by `1 - p`.
    #[inline]
    fn keep(&self) -> R::Scalar {
        R::Scalar::ONE / R::Scalar::from_f64(1.0 - self.p)
    }

    /// `y = x · mask` (or `dx = dy · mask`) for the mask of `pass`.
    #[inline]
    fn apply(&self, pass: u64, x: &[R], y: &mut [R]) {
        let keep = self.keep();
        for (n, (x, y)) in x.iter().zip(y).enumerate() {
            let values = x.as_flat().iter().zip(y.as_flat_mut());
            for (j, (&x, y)) in values.enumerate() {
                *y = x * self.factor(pass, n, j, keep);
            }
        }
    }
}

/// SplitMix64's finalizer: a bijection of `u64` that mixes every bit.
#[inline]
pub(crate) const fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

// SAFETY: `init_at` writes the whole value (three numbers and a zero-sized
// marker).
unsafe impl<R: Row> crate::network::InPlace for Dropout<R> {
    #[inline]
    unsafe fn init_at(p: *mut Self) {
        // SAFETY: the caller's `p` is valid for writes and aligned.
        unsafe { p.write(Self::default()) }
    }
}

// No state-dict entries: PyTorch's `Dropout` has none.
super::no_parameters!([R: Row] Dropout<R>, scalar = R::Scalar);

impl<R: Row> Layer for Dropout<R> {
    type Input = R;
    type Output = R;
    type Saved = DropoutSaved;
    const EVAL_PER_ROW: bool = true;

    #[inline]
    fn forward_train(&mut self, x: &[R], y: &mut [R]) -> Result<DropoutSaved, NormError> {
        let saved = self.forward_train_deferred(x, y)?;
        self.commit_train(x, &saved);
        Ok(saved)
    }

    #[inline]
    fn forward_train_deferred(&mut self, x: &[R], y: &mut [R]) -> Result<DropoutSaved, NormError> {
        let rows = check_forward(x.len(), y.len())?;
        self.apply(self.passes, x, y);
        Ok(DropoutSaved {
            rows,
            pass: Some(self.passes),
        })
    }

    #[inline]
    fn commit_train(&mut self, _: &[R], saved: &DropoutSaved) {
        if let Some(pass) = saved.pass {
            self.passes = pass.wrapping_add(1);
        }
    }

    #[inline]
    fn forward_eval(&self, x: &[R], y: &mut [R]) -> Result<DropoutSaved, NormError> {
        let rows = check_forward(x.len(), y.len())?;
        for (x, y) in x.iter().zip(y) {
            y.as_flat_mut().copy_from_slice(x.as_flat());
        }
        Ok(DropoutSaved { rows, pass: None })
    }

    #[inline]
    fn backward(
        &self,
        x: &[R],
        saved: &DropoutSaved,
        dy: &[R],
        dx: &mut [R],
        _: &mut NoGrads,
    ) -> Result<(), NormError> {
        check_backward(saved.rows, x.len(), dy.len(), dx.len())?;
        match saved.pass {
            Some(pass) => self.apply(pass, dy, dx),
            None => {
                for (dy, dx) in dy.iter().zip(dx) {
                    dx.as_flat_mut().copy_from_slice(dy.as_flat());
                }
            }
        }
        Ok(())
    }
}

/// The probability and seed (feature `serde`); the pass count starts anew.
#[cfg(feature = "serde")]
impl<R: Row> serde::Serialize for Dropout<R> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&(self.p, self.seed), serializer)
    }
}

/// The probability and seed (feature `serde`); refuses a `p` outside `[0, 1]`.
#[cfg(feature = "serde")]
impl<'de, R: Row> serde::Deserialize<'de> for Dropout<R> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (p, seed) = <(f64, u64) as serde::Deserialize>::deserialize(deserializer)?;
        if !(0.0..=1.0).contains(&p) {
            return Err(serde::de::Error::custom(
                "Dropout: p must be between 0 and 1",
            ));
        }
        Ok(Self::new(p).with_seed(seed))
    }
}
