//! One example's values as a fixed-size array.

use crate::Float;
use core::fmt::Debug;

/// One example: the fixed-size array a layer normalizes, such as `[f32; 16]`.
///
/// A row is `Copy` and has a constant length, so batches are plain slices or
/// arrays of rows and nothing is allocated.
pub trait Row: Copy + Debug + PartialEq + Send + Sync + 'static {
    /// The scalar type of the values.
    type Scalar: Float;
    /// The number of values in one row.
    const LEN: usize;
    /// A row of zeros.
    const ZERO: Self;
    /// The values, in memory order.
    fn as_flat(&self) -> &[Self::Scalar];
    /// The values, in memory order, for writing.
    fn as_flat_mut(&mut self) -> &mut [Self::Scalar];
}

impl<T: Float, const N: usize> Row for [T; N] {
    type Scalar = T;
    const LEN: usize = N;
    const ZERO: Self = [T::ZERO; N];

    #[inline]
    fn as_flat(&self) -> &[T] {
        self
    }
    #[inline]
    fn as_flat_mut(&mut self) -> &mut [T] {
        self
    }
}
