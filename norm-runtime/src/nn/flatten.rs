//! Flattening a row into a flat array.

use super::{SavedRows, check_backward, check_forward};
use crate::{Layer, NoGrads, NormError, Row};
use core::marker::PhantomData;

/// A row `R` of any shape as `[R::Scalar; N]`, its values in memory
/// (row-major) order: PyTorch's `torch.nn.Flatten()` (from dim 1), between
/// a convolution or pool and a `Linear`. `N` must be `R::LEN` (a compile
/// error otherwise; stable Rust cannot compute it in the type).
///
/// Training vs inference: the same; no parameters, no state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Flatten<R: Row, const N: usize> {
    marker: PhantomData<R>,
}

super::stateless_layer!([R: Row, const N: usize] Flatten<R, N>, scalar = R::Scalar);

impl<R: Row, const N: usize> Flatten<R, N> {
    /// `N` is the number of values of `R` (a compile error otherwise).
    const fn check_len() {
        assert!(
            R::LEN == N,
            "Flatten<R, N>: N must be the number of values of R"
        );
    }
}

impl<R: Row, const N: usize> Layer for Flatten<R, N> {
    type Input = R;
    type Output = [R::Scalar; N];
    type Saved = SavedRows;
    const EVAL_PER_ROW: bool = true;

    #[inline]
    fn forward_train(&mut self, x: &[R], y: &mut [[R::Scalar; N]]) -> Result<SavedRows, NormError> {
        self.forward_eval(x, y)
    }

    #[inline]
    fn forward_eval(&self, x: &[R], y: &mut [[R::Scalar; N]]) -> Result<SavedRows, NormError> {
        const { Self::check_len() };
        let saved = check_forward(x.len(), y.len())?;
        for (x, y) in x.iter().zip(y) {
            y.copy_from_slice(x.as_flat());
        }
        Ok(saved)
    }

    #[inline]
    fn backward(
        &self,
        x: &[R],
        saved: &SavedRows,
        dy: &[[R::Scalar; N]],
        dx: &mut [R],
        _: &mut NoGrads,
    ) -> Result<(), NormError> {
        const { Self::check_len() };
        check_backward(*saved, x.len(), dy.len(), dx.len())?;
        for (dy, dx) in dy.iter().zip(dx) {
            dx.as_flat_mut().copy_from_slice(dy);
        }
        Ok(())
    }
}
