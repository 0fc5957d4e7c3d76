//! Inference-mode batch norm folded into one multiply-add per value,
//! `y = scale[c] * x + shift[c]`: the form to deploy a trained
//! [`batch`](super::batch) layer in, or to merge into a preceding linear
//! layer.

use super::Affine;
use crate::{Float, Row};

/// Inference-mode batch norm folded into one multiply-add per value:
/// `y = scale[c] * x + shift[c]` for every value of channel `c`.
///
/// Returned by a generated layer's `fold()`. The fused form rounds once more
/// than the layer's own inference pass (`scale` and `shift` are rounded to the
/// layer's type), and loses accuracy when `|running_mean|` is much larger than
/// the running standard deviation, as any such fusion does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Folded<T, const C: usize> {
    /// `weight / sqrt(running_var + eps)` per channel.
    pub scale: [T; C],
    /// `bias - running_mean * scale` per channel.
    pub shift: [T; C],
}

impl<T: Float, const C: usize> Folded<T, C> {
    /// Applies the folded normalization to one row in place.
    #[inline]
    pub fn apply<R: Row<Scalar = T>>(&self, row: &mut R) {
        const {
            assert!(R::LEN.is_multiple_of(C), "the row must hold C channels");
        }
        let s = R::LEN / C;
        for (c, values) in row.as_flat_mut().chunks_exact_mut(s).enumerate() {
            for v in values {
                *v = self.scale[c] * *v + self.shift[c];
            }
        }
    }
}

/// The per-channel scale and shift of inference-mode batch norm with running
/// statistics, computed in the wider type and rounded once.
#[must_use]
pub fn fold<T: Float, const C: usize>(
    affine: Affine<'_, [T; C]>,
    running_mean: &[T; C],
    running_var: &[T; C],
    eps: f64,
) -> Folded<T, C> {
    let eps = T::Acc::from_f64(eps);
    let mut folded = Folded {
        scale: [T::ZERO; C],
        shift: [T::ZERO; C],
    };
    for c in 0..C {
        let weight = affine.weight.map_or(T::Acc::ONE, |w| w[c].to_acc());
        let bias = affine.bias.map_or(T::Acc::ZERO, |b| b[c].to_acc());
        let scale = weight / (running_var[c].to_acc() + eps).sqrt();
        folded.scale[c] = T::from_acc(scale);
        folded.shift[c] = T::from_acc(bias - running_mean[c].to_acc() * scale);
    }
    folded
}
