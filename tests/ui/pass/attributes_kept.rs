//! Doc comments, other attributes and visibility survive; `#[cfg]` removes
//! the impls with the struct.
#![deny(missing_docs)]
//! Crate docs.
use constnorm::normalize;

/// A documented layer.
#[normalize(layer, dims = 4)]
#[derive(Copy)]
#[allow(dead_code)]
pub struct Documented;

#[cfg(any())]
#[normalize(batch, dims = 4)]
struct Disabled;

mod inner {
    #[constnorm::normalize(layer, dims = 2)]
    pub(super) struct Restricted;
}

/// Layers work in functions too.
pub fn local() -> usize {
    #[normalize(batch, dims = 3)]
    struct Local;
    Local::DIMS
}

const STATIC_LAYER: Documented = Documented::new();

fn main() {
    let a = STATIC_LAYER;
    let b = a; // Copy
    assert_eq!(a, b);
    assert_eq!(inner::Restricted::default(), inner::Restricted::new());
    assert_eq!(local(), 3);
}
