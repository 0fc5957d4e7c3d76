//! Splitting a batch's rows across threads (feature `parallel`).
//!
//! Only passes whose every row is computed on its own go here: the forward
//! passes of the per-row kinds (layer, RMS, group and instance norm, in
//! training and inference) and batch norm's inference pass. Each chunk of
//! rows runs the very code one thread would run on it, with the dispatch
//! decision of the whole batch, so the result is the same bit for bit
//! whatever the number of threads. Passes that sum over rows (batch norm's
//! statistics, every backward pass's parameter gradients) stay on one
//! thread: splitting them would change the order of their sums.
//!
//! Without the feature, [`for_row_chunks`] is a plain call.

/// Batches of at least this many values (every value of every row) are split
/// across threads; smaller ones run on the calling thread, where a split
/// costs more than it saves. At this size a chunk takes tens of
/// microseconds on one core.
#[cfg(feature = "parallel")]
pub(crate) const PARALLEL_MIN_VALUES: usize = 1 << 17;

/// Calls `f` on matching chunks of `x` and `y` (row `i` of `x` with row `i`
/// of `y`), on rayon's threads when the feature is on, the batch has at
/// least [`PARALLEL_MIN_VALUES`] values and the pool has more than one
/// thread; otherwise once, on the whole batch.
#[inline(always)]
pub(crate) fn for_row_chunks<X: Sync, Y: Send>(
    values: usize,
    x: &[X],
    y: &mut [Y],
    f: impl Fn(&[X], &mut [Y]) + Sync,
) {
    #[cfg(feature = "parallel")]
    {
        let threads = rayon::current_num_threads();
        if values >= PARALLEL_MIN_VALUES && threads > 1 && x.len() > 1 {
            let rows = x.len().div_ceil(threads);
            rayon::scope(|scope| {
                for (xc, yc) in x.chunks(rows).zip(y.chunks_mut(rows)) {
                    let f = &f;
                    scope.spawn(move |_| f(xc, yc));
                }
            });
            return;
        }
    }
    let _ = values;
    f(x, y);
}
