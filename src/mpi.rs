//! SyncBatchNorm across processes over MPI (feature `mpi`): the two
//! all-reduces of a data-parallel batch-norm step and the sum of the
//! parameter gradients, with [rsmpi](https://docs.rs/mpi) (re-exported as
//! [`rsmpi`]).
//!
//! Every rank holds a shard of the batch (shards may differ in size) and
//! calls the same methods in the same order; each is a collective call on
//! the communicator:
//!
//! ```no_run
//! use constnorm::mpi::{MpiSync, rsmpi};
//! use constnorm::{AffineGrads, normalize};
//!
//! #[normalize(batch, dims = 4, dtype = f64)]
//! struct Bn;
//!
//! let universe = rsmpi::initialize().expect("MPI initializes once");
//! let sync = MpiSync::new(&universe.world());
//! let mut layer = Bn::new();
//! let x = vec![[0.5, 1.0, -2.0, 3.0]; 3 + sync.rank()]; // this rank's rows
//! let dy = vec![[0.1; 4]; x.len()];
//! let (mut y, mut dx) = (vec![[0.0; 4]; x.len()], vec![[0.0; 4]; x.len()]);
//! let mut grads = AffineGrads::default();
//!
//! let global = sync.channel_stats(&layer.shard_stats(&x)?);
//! let saved = layer.forward_train_synced(&x, &mut y, &global)?;
//! let sums = sync.grad_sums(&layer.shard_grad_sums(&x, &saved, &dy)?);
//! layer.backward_synced(&x, &saved, &sums, &dy, &mut dx, &mut grads)?;
//! sync.sum_gradients(&mut grads); // the whole batch's, on every rank
//! # Ok::<(), constnorm::NormError>(())
//! ```
//!
//! `examples/mpi_sync_batch_norm.rs` trains a `#[network]` this way and
//! checks it against one process on the whole batch.
//!
//! # Exact, and the same bits on every rank
//! Each reduction runs over a binary tree of ranks that keeps them in order
//! (rank 0 merges rank 1's value, rank 2 merges rank 3's, then ranks `0..2`
//! merge `2..4`, ...), and rank 0 broadcasts the result, so every rank gets
//! the same bits, whichever MPI library carries them. Statistics merge
//! with [`ChannelStats::merge`](crate::ChannelStats::merge) (Chan et al.'s
//! exact pairwise update, never sums of squares); gradient sums and
//! parameter gradients add in order. A reduction takes `ceil(log2(ranks))`
//! rounds of messages and a broadcast (`channel_stats` sends two messages a
//! round: the count, then the means and `m2`).
//!
//! # Across machines
//! Nothing depends on where the ranks run: the same program under
//! `mpirun --hostfile hosts -np 8` (or `--host a:4,b:4`) exchanges the same
//! messages over the network. [`MpiSync::new`] takes any intra-communicator,
//! so a program can also sync a subgroup (from `world.split_by_color`).
//!
//! # Allocation
//! No method allocates after [`MpiSync::new`]: messages go from and to
//! fixed-size arrays on the stack (parameter gradients in chunks of
//! [`CHUNK`] values), and rsmpi's point-to-point and broadcast calls
//! allocate nothing. The MPI library may use buffers of its own inside its
//! calls, outside Rust's allocator.
//!
//! # Errors
//! MPI's default error handler aborts the whole job on a communication
//! error, so the methods return values, not `Result`s. As with any
//! collective, a rank that stops calling (a crash, a skipped step) leaves
//! the others waiting.

pub use norm_runtime::mpi_sync::*;
