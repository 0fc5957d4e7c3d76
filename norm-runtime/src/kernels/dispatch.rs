//! When and how a kernel runs code compiled for the CPU's SIMD extensions.
//!
//! Both thresholds are the values the benchmark suite ran with (BENCHMARKS.md
//! at the root, section "Machine", which states them); the measurements that
//! picked them are not recorded there. They belong to the numerics as much as
//! to the speed: the dispatched code fuses multiply-adds and sums in more
//! lanes, so moving a threshold changes the bits of the results for the batch
//! sizes it passes over.

/// Batch norm's kernels ([`batch`](super::batch): training, inference and
/// backward; also reached by instance norm in inference and by the backward
/// pass across workers): batches of fewer values than this, counting every
/// value of every row, run the portable code inline; larger ones are
/// dispatched at run time. (The forward pass across workers always runs the
/// portable code.)
pub(crate) const BATCH_DISPATCH_MIN_VALUES: usize = 1024;

/// Per-row statistics ([`rows`](super::rows): layer, RMS, group and instance
/// norm): batches of fewer values than this, counting every value of every
/// row, run the portable code inline; larger ones are dispatched at run time.
pub(crate) const ROWS_DISPATCH_MIN_VALUES: usize = 256;

/// The straight `f32` kernels of batch norm ([`straight`](super::straight)),
/// which compute in `f64`: every batch is dispatched, since two-lane `f64`
/// code costs more than the dispatch.
pub(crate) const STRAIGHT_DISPATCH_MIN_VALUES: usize = 0;

/// Writes a kernel's entry point: `fn $name(values, args...)` runs
/// `$kernel::<..., false>` (the portable code) inline for batches of fewer
/// than `$min` values, and otherwise the copy of `$kernel` that
/// `multiversion` compiles for AVX2 + FMA and picks at run time, with `FMA`
/// set only where the code is compiled for both AVX2 and FMA. `$kernel`'s last const
/// parameter is that `FMA` flag; the turbofish names the others:
///
/// ```text
/// dispatched! {
///     /// Docs of the entry point.
///     fn train_dispatched[R: Row, const C: usize](eps: f64, x: &[R]) -> R::Scalar
///         = train_rows::<R, C>, portable below BATCH_DISPATCH_MIN_VALUES;
/// }
/// ```
macro_rules! dispatched {
    (
        $(#[$attr:meta])*
        fn $name:ident[$($generics:tt)*]($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?
            = $kernel:ident::<$($targ:tt),*>, portable below $min:path;
    ) => {
        $(#[$attr])*
        #[inline(always)]
        fn $name<$($generics)*>(values: usize, $($arg: $ty),*) $(-> $ret)? {
            #[multiversion::multiversion(targets("x86_64+avx2+fma"))]
            fn simd<$($generics)*>($($arg: $ty),*) $(-> $ret)? {
                // Both features: the fallback copy evaluates this with `cfg!`,
                // so a build with `fma` but not `avx2` enabled must not take
                // the `FMA` kernels, whose vector code needs AVX2 too.
                if multiversion::target::target_cfg_f!(all(
                    target_feature = "avx2",
                    target_feature = "fma"
                )) {
                    $kernel::<$($targ,)* true>($($arg),*)
                } else {
                    $kernel::<$($targ,)* false>($($arg),*)
                }
            }
            if values < $min {
                $kernel::<$($targ,)* false>($($arg),*)
            } else {
                simd::<$($targ),*>($($arg),*)
            }
        }
    };
}

pub(crate) use dispatched;
