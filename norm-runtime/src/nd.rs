//! `ndarray` interop: forward and backward on `(batch, features)` views in any
//! memory layout, returning owned arrays.

use crate::{NormError, Normalization, Row};
use ndarray::{Array2, ArrayView2};
use std::vec::Vec;

/// Forward and backward passes on `ndarray` views of shape `(batch, DIMS)`.
///
/// Implemented for every [`Normalization`]. The views may have any strides
/// (transposed, sliced, Fortran order); the results are standard-layout
/// arrays. These methods allocate (the copies in and out); the slice methods
/// of [`Normalization`] do not.
///
/// ```
/// use constnorm::{normalize, NormalizationNdarray};
/// use ndarray::array;
///
/// #[normalize(layer, dims = 3)]
/// struct Ln;
///
/// let x = array![[1.0_f32, 2.0, 3.0], [0.0, 0.0, 6.0]];
/// let (y, _saved) = Ln::new().forward_eval_ndarray(x.view())?;
/// assert_eq!(y.shape(), &[2, 3]);
/// assert!(Ln::new().forward_eval_ndarray(x.t()).is_err()); // (3, 2): wrong shape
/// # Ok::<(), constnorm::NormError>(())
/// ```
pub trait NormalizationNdarray: Normalization {
    /// [`Normalization::forward_train`] on a `(batch, DIMS)` view.
    ///
    /// # Errors
    /// [`NormError::ShapeMismatch`] if `x` does not have `DIMS` columns, and the
    /// errors of [`Normalization::forward_train`].
    fn forward_train_ndarray(
        &mut self,
        x: ArrayView2<'_, Self::Scalar>,
    ) -> Result<(Array2<Self::Scalar>, Self::Saved), NormError> {
        let x = rows_of::<Self::Row>(x, "x")?;
        let mut y = vec_of_zero_rows::<Self::Row>(x.len());
        let saved = self.forward_train(&x, &mut y)?;
        Ok((to_array(&y), saved))
    }

    /// [`Normalization::forward_eval`] on a `(batch, DIMS)` view.
    ///
    /// # Errors
    /// [`NormError::ShapeMismatch`] if `x` does not have `DIMS` columns, and the
    /// errors of [`Normalization::forward_eval`].
    fn forward_eval_ndarray(
        &self,
        x: ArrayView2<'_, Self::Scalar>,
    ) -> Result<(Array2<Self::Scalar>, Self::Saved), NormError> {
        let x = rows_of::<Self::Row>(x, "x")?;
        let mut y = vec_of_zero_rows::<Self::Row>(x.len());
        let saved = self.forward_eval(&x, &mut y)?;
        Ok((to_array(&y), saved))
    }

    /// [`Normalization::backward`] on `(batch, DIMS)` views; returns `dx`.
    ///
    /// # Errors
    /// [`NormError::ShapeMismatch`] if `x` or `dy` does not have `DIMS`
    /// columns, and the errors of [`Normalization::backward`].
    fn backward_ndarray(
        &self,
        x: ArrayView2<'_, Self::Scalar>,
        saved: &Self::Saved,
        dy: ArrayView2<'_, Self::Scalar>,
        grads: &mut Self::Grads,
    ) -> Result<Array2<Self::Scalar>, NormError> {
        let x = rows_of::<Self::Row>(x, "x")?;
        let dy = rows_of::<Self::Row>(dy, "dy")?;
        let mut dx = vec_of_zero_rows::<Self::Row>(x.len());
        self.backward(&x, saved, &dy, &mut dx, grads)?;
        Ok(to_array(&dx))
    }
}

impl<L: Normalization + ?Sized> NormalizationNdarray for L {}

fn vec_of_zero_rows<R: Row>(rows: usize) -> Vec<R> {
    std::vec![R::ZERO; rows]
}

fn rows_of<R: Row>(
    view: ArrayView2<'_, R::Scalar>,
    argument: &'static str,
) -> Result<Vec<R>, NormError> {
    let (rows, cols) = view.dim();
    if cols != R::LEN {
        return Err(NormError::ShapeMismatch {
            argument,
            expected_features: R::LEN,
            found: [rows, cols],
        });
    }
    let mut out = vec_of_zero_rows::<R>(rows);
    for (dst, src) in out.iter_mut().zip(view.rows()) {
        for (d, s) in dst.as_flat_mut().iter_mut().zip(src) {
            *d = *s;
        }
    }
    Ok(out)
}

fn to_array<R: Row>(rows: &[R]) -> Array2<R::Scalar> {
    Array2::from_shape_fn((rows.len(), R::LEN), |(r, c)| rows[r].as_flat()[c])
}
