//! When and how a kernel runs code compiled for the CPU's SIMD extensions.
//!
//! Both thresholds are the values the benchmark suite ran with (BENCHMARKS.md
//! at the root, section "Machine", which states them); the measurements that
//! picked them are not recorded there. They belong to the numerics as much as
//! to the speed: the dispatched code fuses multiply-adds and sums in more
//! lanes, so moving a threshold changes the bits of the results for the batch
//! sizes it passes over.

/// Batch norm, with the statistics over the batch (also instance norm in
/// inference, which is batch norm with the running statistics, and the
/// backward pass across workers; the forward pass across workers always runs
/// the portable code): batches of fewer values than this, counting every
/// value of every row, run the portable code inline; larger ones are
/// dispatched at run time.
pub(crate) const BATCH_DISPATCH_MIN_VALUES: usize = 1024;

/// Per-row statistics ([`rows`](super::rows): layer, RMS, group and instance
/// norm): batches of fewer values than this, counting every value of every
/// row, run the portable code inline; larger ones are dispatched at run time.
pub(crate) const ROWS_DISPATCH_MIN_VALUES: usize = 256;
