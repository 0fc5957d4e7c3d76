//! Every argument, in any order, and the forms each accepts.
use constnorm::normalize;

#[normalize(batch, dims = 16, momentum = 0.1, eps = 1e-5)]
pub struct HiddenBn;

#[normalize(dims = 4, eps = 1e-3, dtype = f64, batch, momentum = 0.5)]
struct AnyOrder;

#[normalize(batch, dims = 4, momentum = none)]
struct Cumulative;

#[normalize(batch, dims = 4, momentum = None)]
struct CumulativePythonSpelling;

#[normalize(batch, dims = 4, momentum = 0)]
struct FrozenRunningStats;

#[normalize(batch, dims = 4, momentum = 1)]
struct LastBatchOnly;

#[normalize(layer, dims = 4, eps = 1)]
struct IntegerEps;

#[normalize(layer, dims = 8usize, eps = 1e-6f64, dtype = f32,)]
struct SuffixesAndTrailingComma;

#[normalize(layer, dims = 768)]
pub(crate) struct TokenNorm;

#[normalize(layer, dims = 1)]
struct One;

fn main() {
    assert_eq!(AnyOrder::MOMENTUM, Some(0.5));
    assert_eq!(Cumulative::MOMENTUM, None);
    assert_eq!(CumulativePythonSpelling::MOMENTUM, None);
    assert_eq!(FrozenRunningStats::MOMENTUM, Some(0.0));
    assert_eq!(LastBatchOnly::MOMENTUM, Some(1.0));
    assert_eq!(IntegerEps::EPS, 1.0);
    assert_eq!(SuffixesAndTrailingComma::DIMS, 8);
    let _: [f64; 4] = AnyOrder::new().weight;
    let _ = (HiddenBn::new(), TokenNorm::new(), One::new());
}
