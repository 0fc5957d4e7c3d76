//! One example's values as a fixed-size array, nested for several dims.

use crate::Float;
use core::fmt::Debug;

/// One example: the fixed-size array a layer normalizes, such as `[f32; 16]`
/// or, for several dims, a nested array such as `[[f32; 8]; 4]` (PyTorch's
/// row-major order: the last dim is innermost).
///
/// A row is `Copy` and has a constant shape, so batches are plain slices or
/// arrays of rows and nothing is allocated. Implemented for arrays of `f32` or
/// `f64` of rank 1 to 4.
pub trait Row: Copy + Debug + PartialEq + Send + Sync + 'static {
    /// The scalar type of the values.
    type Scalar: Float;
    /// The number of values in one row (the product of [`Row::SHAPE`]).
    const LEN: usize;
    /// The dims of one row, outermost first: `[4, 8]` for `[[T; 8]; 4]`.
    const SHAPE: &'static [usize];
    /// A row of zeros.
    const ZERO: Self;
    /// The values, in memory (row-major) order.
    fn as_flat(&self) -> &[Self::Scalar];
    /// The values, in memory (row-major) order, for writing.
    fn as_flat_mut(&mut self) -> &mut [Self::Scalar];
}

/// The shape of an array, for generated code.
#[doc(hidden)]
#[must_use]
pub fn shape_of<R: Row>(_: &R) -> &'static [usize] {
    R::SHAPE
}

impl<T: Float, const A: usize> Row for [T; A] {
    type Scalar = T;
    const LEN: usize = A;
    const SHAPE: &'static [usize] = &[A];
    const ZERO: Self = [T::ZERO; A];

    #[inline]
    fn as_flat(&self) -> &[T] {
        self
    }
    #[inline]
    fn as_flat_mut(&mut self) -> &mut [T] {
        self
    }
}

impl<T: Float, const A: usize, const B: usize> Row for [[T; B]; A] {
    type Scalar = T;
    const LEN: usize = A * B;
    const SHAPE: &'static [usize] = &[A, B];
    const ZERO: Self = [[T::ZERO; B]; A];

    #[inline]
    fn as_flat(&self) -> &[T] {
        self.as_flattened()
    }
    #[inline]
    fn as_flat_mut(&mut self) -> &mut [T] {
        self.as_flattened_mut()
    }
}

impl<T: Float, const A: usize, const B: usize, const C: usize> Row for [[[T; C]; B]; A] {
    type Scalar = T;
    const LEN: usize = A * B * C;
    const SHAPE: &'static [usize] = &[A, B, C];
    const ZERO: Self = [[[T::ZERO; C]; B]; A];

    #[inline]
    fn as_flat(&self) -> &[T] {
        self.as_flattened().as_flattened()
    }
    #[inline]
    fn as_flat_mut(&mut self) -> &mut [T] {
        self.as_flattened_mut().as_flattened_mut()
    }
}

impl<T: Float, const A: usize, const B: usize, const C: usize, const D: usize> Row
    for [[[[T; D]; C]; B]; A]
{
    type Scalar = T;
    const LEN: usize = A * B * C * D;
    const SHAPE: &'static [usize] = &[A, B, C, D];
    const ZERO: Self = [[[[T::ZERO; D]; C]; B]; A];

    #[inline]
    fn as_flat(&self) -> &[T] {
        self.as_flattened().as_flattened().as_flattened()
    }
    #[inline]
    fn as_flat_mut(&mut self) -> &mut [T] {
        self.as_flattened_mut()
            .as_flattened_mut()
            .as_flattened_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::Row;

    #[test]
    fn nested_rows_are_row_major() {
        let row: [[[f32; 2]; 3]; 2] = [
            [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]],
            [[6.0, 7.0], [8.0, 9.0], [10.0, 11.0]],
        ];
        assert_eq!(<[[[f32; 2]; 3]; 2]>::LEN, 12);
        assert_eq!(<[[[f32; 2]; 3]; 2]>::SHAPE, &[2, 3, 2]);
        let flat: Vec<f32> = (0..12u8).map(f32::from).collect();
        assert_eq!(row.as_flat(), flat.as_slice());
        assert_eq!(<[[[[f64; 1]; 2]; 3]; 4]>::SHAPE, &[4, 3, 2, 1]);
    }
}
