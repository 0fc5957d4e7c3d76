//! `ndarray` interop: forward and backward on `(batch, features)` views, or
//! on `(batch, ...row shape)` views such as `(N, C, H, W)`, in any memory
//! layout, returning owned arrays.

use crate::{FoundShape, NormError, Normalization, Row};
use ndarray::{Array2, ArrayD, ArrayView2, ArrayViewD, IxDyn};
use std::vec::Vec;

/// Forward and backward passes on `ndarray` views.
///
/// Implemented for every [`Normalization`], in two forms: on 2-D views of
/// shape `(batch, features)` with the row flattened (`*_ndarray`), and on
/// views of any rank whose shape is the batch followed by the row's shape,
/// such as `(N, C, H, W)` for 2-D batch norm or `(N, 4, 8)` for layer norm
/// over `[4, 8]` (`*_ndarray_d`). The views may have any strides (transposed,
/// sliced, permuted, Fortran order); the results are standard-layout arrays.
/// These methods allocate (the copies in and out); the slice methods of
/// [`Normalization`] do not.
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
    /// [`Layer::forward_train`](crate::Layer::forward_train) on a `(batch, DIMS)` view.
    ///
    /// # Errors
    /// [`NormError::ShapeMismatch`] if `x` does not have `DIMS` columns, and the
    /// errors of [`Layer::forward_train`](crate::Layer::forward_train).
    fn forward_train_ndarray(
        &mut self,
        x: ArrayView2<'_, Self::Scalar>,
    ) -> Result<(Array2<Self::Scalar>, Self::Saved), NormError> {
        let x = rows_of::<Self::Row>(x, "x")?;
        let mut y = vec_of_zero_rows::<Self::Row>(x.len());
        let saved = self.forward_train(&x, &mut y)?;
        Ok((to_array(&y), saved))
    }

    /// [`Layer::forward_eval`](crate::Layer::forward_eval) on a `(batch, DIMS)` view.
    ///
    /// # Errors
    /// [`NormError::ShapeMismatch`] if `x` does not have `DIMS` columns, and the
    /// errors of [`Layer::forward_eval`](crate::Layer::forward_eval).
    fn forward_eval_ndarray(
        &self,
        x: ArrayView2<'_, Self::Scalar>,
    ) -> Result<(Array2<Self::Scalar>, Self::Saved), NormError> {
        let x = rows_of::<Self::Row>(x, "x")?;
        let mut y = vec_of_zero_rows::<Self::Row>(x.len());
        let saved = self.forward_eval(&x, &mut y)?;
        Ok((to_array(&y), saved))
    }

    /// [`Layer::backward`](crate::Layer::backward) on `(batch, DIMS)` views; returns `dx`.
    ///
    /// # Errors
    /// [`NormError::ShapeMismatch`] if `x` or `dy` does not have `DIMS`
    /// columns, and the errors of [`Layer::backward`](crate::Layer::backward).
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

    /// [`Layer::forward_train`](crate::Layer::forward_train) on a `(batch, ...row shape)` view.
    ///
    /// # Errors
    /// [`NormError::RowShapeMismatch`] if `x` does not have that shape, and
    /// the errors of [`Layer::forward_train`](crate::Layer::forward_train).
    fn forward_train_ndarray_d(
        &mut self,
        x: ArrayViewD<'_, Self::Scalar>,
    ) -> Result<(ArrayD<Self::Scalar>, Self::Saved), NormError> {
        let x = rows_of_d::<Self::Row>(&x, "x")?;
        let mut y = vec_of_zero_rows::<Self::Row>(x.len());
        let saved = self.forward_train(&x, &mut y)?;
        Ok((to_array_d(&y)?, saved))
    }

    /// [`Layer::forward_eval`](crate::Layer::forward_eval) on a `(batch, ...row shape)` view.
    ///
    /// # Errors
    /// [`NormError::RowShapeMismatch`] if `x` does not have that shape, and
    /// the errors of [`Layer::forward_eval`](crate::Layer::forward_eval).
    fn forward_eval_ndarray_d(
        &self,
        x: ArrayViewD<'_, Self::Scalar>,
    ) -> Result<(ArrayD<Self::Scalar>, Self::Saved), NormError> {
        let x = rows_of_d::<Self::Row>(&x, "x")?;
        let mut y = vec_of_zero_rows::<Self::Row>(x.len());
        let saved = self.forward_eval(&x, &mut y)?;
        Ok((to_array_d(&y)?, saved))
    }

    /// [`Layer::backward`](crate::Layer::backward) on `(batch, ...row shape)` views; returns
    /// `dx`.
    ///
    /// # Errors
    /// [`NormError::RowShapeMismatch`] if `x` or `dy` does not have that
    /// shape, and the errors of [`Layer::backward`](crate::Layer::backward).
    fn backward_ndarray_d(
        &self,
        x: ArrayViewD<'_, Self::Scalar>,
        saved: &Self::Saved,
        dy: ArrayViewD<'_, Self::Scalar>,
        grads: &mut Self::Grads,
    ) -> Result<ArrayD<Self::Scalar>, NormError> {
        let x = rows_of_d::<Self::Row>(&x, "x")?;
        let dy = rows_of_d::<Self::Row>(&dy, "dy")?;
        let mut dx = vec_of_zero_rows::<Self::Row>(x.len());
        self.backward(&x, saved, &dy, &mut dx, grads)?;
        to_array_d(&dx)
    }
}

impl<L: Normalization + ?Sized> NormalizationNdarray for L {}

fn rows_of_d<R: Row>(
    view: &ArrayViewD<'_, R::Scalar>,
    argument: &'static str,
) -> Result<Vec<R>, NormError> {
    let shape = view.shape();
    if shape.len() != R::SHAPE.len() + 1 || &shape[1..] != R::SHAPE {
        return Err(NormError::RowShapeMismatch {
            argument,
            expected: R::SHAPE,
            found: FoundShape::new(shape),
        });
    }
    let mut out = vec_of_zero_rows::<R>(shape[0]);
    for (dst, src) in out.iter_mut().zip(view.outer_iter()) {
        // `iter` visits the example in logical (row-major) order, whatever
        // the strides.
        for (d, s) in dst.as_flat_mut().iter_mut().zip(src.iter()) {
            *d = *s;
        }
    }
    Ok(out)
}

fn to_array_d<R: Row>(rows: &[R]) -> Result<ArrayD<R::Scalar>, NormError> {
    let mut shape = Vec::with_capacity(R::SHAPE.len() + 1);
    shape.push(rows.len());
    shape.extend_from_slice(R::SHAPE);
    let flat: Vec<R::Scalar> = rows
        .iter()
        .flat_map(|r| r.as_flat().iter().copied())
        .collect();
    // The length is rows x LEN by construction, so this cannot fail; should it,
    // the error names the shape rather than panicking.
    ArrayD::from_shape_vec(IxDyn(&shape), flat).map_err(|_| NormError::RowShapeMismatch {
        argument: "y",
        expected: R::SHAPE,
        found: FoundShape::new(&shape),
    })
}

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
