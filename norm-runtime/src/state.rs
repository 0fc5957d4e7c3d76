//! A layer's state under PyTorch's state-dict names.

use crate::Float;

/// The visitor of [`StateDict::visit_arrays`]: `(name, shape, values)`.
pub type Visit<'a, T> = dyn FnMut(&'static str, &'static [usize], &[T]) + 'a;

/// The visitor of [`StateDict::visit_arrays_mut`]: `(name, shape, values)`.
pub type VisitMut<'a, T> = dyn FnMut(&'static str, &'static [usize], &mut [T]) + 'a;

/// The arrays and counter of a layer under PyTorch's state-dict names
/// (`weight`, `bias`, `running_mean`, `running_var`, `num_batches_tracked`,
/// those it has), with PyTorch's shapes. Generated layers implement it; the
/// safetensors loader and saver use it.
pub trait StateDict {
    /// The scalar type of the arrays.
    type Scalar: Float;

    /// Calls `f(name, shape, values)` for every array, in a fixed order.
    fn visit_arrays(&self, f: &mut Visit<'_, Self::Scalar>);

    /// Calls `f(name, shape, values)` for every array, for writing.
    fn visit_arrays_mut(&mut self, f: &mut VisitMut<'_, Self::Scalar>);

    /// `num_batches_tracked`, for layers with running statistics.
    fn num_batches_tracked(&self) -> Option<u64>;

    /// Sets `num_batches_tracked`; does nothing for layers without it.
    fn set_num_batches_tracked(&mut self, value: u64);
}
