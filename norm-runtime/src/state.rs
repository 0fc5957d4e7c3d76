//! A layer's state under PyTorch's state-dict names.

use crate::Float;
use core::fmt;

/// A state-dict key as a path of names: `weight` for a layer's own array,
/// `fc1.weight` once a network puts its field name in front. Built on the
/// stack while visiting, so no allocation is needed; `Display` writes it
/// with dots, as PyTorch does.
#[derive(Clone, Copy, Debug)]
pub struct Key<'a> {
    /// The first name of the path.
    pub head: &'static str,
    /// The rest of the path, if any.
    pub rest: Option<&'a Key<'a>>,
}

impl<'a> Key<'a> {
    /// A key of one name, such as `weight`.
    #[must_use]
    pub const fn leaf(name: &'static str) -> Self {
        Self {
            head: name,
            rest: None,
        }
    }

    /// `head` followed by `rest`: `Key::nested("fc1", &weight)` is `fc1.weight`.
    #[must_use]
    pub const fn nested(head: &'static str, rest: &'a Key<'a>) -> Self {
        Self {
            head,
            rest: Some(rest),
        }
    }

    /// The last name of the path (`weight` in `fc1.weight`).
    #[must_use]
    pub fn last(&self) -> &'static str {
        let mut key = self;
        while let Some(rest) = key.rest {
            key = rest;
        }
        key.head
    }
}

impl Key<'_> {
    /// Whether the key written with dots (its `Display`) is `text`, without
    /// building the string.
    #[must_use]
    pub fn is(&self, text: &str) -> bool {
        let mut rest = text;
        let mut key = Some(self);
        let mut first = true;
        while let Some(k) = key {
            if !first {
                let Some(after) = rest.strip_prefix('.') else {
                    return false;
                };
                rest = after;
            }
            let Some(after) = rest.strip_prefix(k.head) else {
                return false;
            };
            rest = after;
            first = false;
            key = k.rest;
        }
        rest.is_empty()
    }
}

impl fmt::Display for Key<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.head)?;
        let mut key = self;
        while let Some(rest) = key.rest {
            write!(f, ".{}", rest.head)?;
            key = rest;
        }
        Ok(())
    }
}

/// The visitor of [`StateDict::visit_arrays`]: `(key, shape, values)`.
pub type Visit<'a, T> = dyn FnMut(&Key<'_>, &'static [usize], &[T]) + 'a;

/// The visitor of [`StateDict::visit_arrays_mut`]: `(key, shape, values)`.
pub type VisitMut<'a, T> = dyn FnMut(&Key<'_>, &'static [usize], &mut [T]) + 'a;

/// The visitor of [`StateDict::visit_counters`]: `(key, value)`.
pub type VisitCounter<'a> = dyn FnMut(&Key<'_>, u64) + 'a;

/// The visitor of [`StateDict::visit_counters_mut`]: `(key, value)`.
pub type VisitCounterMut<'a> = dyn FnMut(&Key<'_>, &mut u64) + 'a;

/// The arrays and counters of a layer or network under PyTorch's state-dict
/// names (`weight`, `bias`, `running_mean`, `running_var`,
/// `num_batches_tracked`, those it has; a network puts its field names in
/// front, `bn1.running_mean`), with PyTorch's shapes. Generated layers,
/// `Linear` and `#[network]` models implement it; the safetensors loader and
/// saver use it.
pub trait StateDict {
    /// The scalar type of the arrays.
    type Scalar: Float;

    /// Calls `f(key, shape, values)` for every array, in a fixed order.
    fn visit_arrays(&self, f: &mut Visit<'_, Self::Scalar>);

    /// Calls `f(key, shape, values)` for every array, for writing.
    fn visit_arrays_mut(&mut self, f: &mut VisitMut<'_, Self::Scalar>);

    /// Calls `f(key, value)` for every integer counter
    /// (`num_batches_tracked` of layers with running statistics).
    fn visit_counters(&self, f: &mut VisitCounter<'_>);

    /// Calls `f(key, value)` for every counter, for writing.
    fn visit_counters_mut(&mut self, f: &mut VisitCounterMut<'_>);
}

/// Whether the state-dict key names a running variance (`running_var`,
/// `bn.running_var`), which must not be negative: the one rule both
/// loaders (serde and safetensors) apply by name.
#[cfg(any(feature = "serde", feature = "safetensors"))]
#[must_use]
pub fn is_variance(key: &str) -> bool {
    key == "running_var" || key.ends_with(".running_var")
}
