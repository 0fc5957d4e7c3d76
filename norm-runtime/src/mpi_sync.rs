//! SyncBatchNorm across processes over MPI (feature `mpi`): [`MpiSync`]
//! carries the two all-reduces of a data-parallel batch-norm step
//! ([`ChannelStats`], [`GradSums`]) and the sum of the parameter gradients
//! between ranks, over [rsmpi](https://docs.rs/mpi). Used through
//! `constnorm::mpi`, whose docs have the example and the guarantees.

use crate::{ChannelStats, Float, GradSums, Gradients};
use mpi::datatype::Equivalence;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::{Destination, Root, Source};

/// The MPI bindings this module is built on (the `mpi` crate), for
/// `rsmpi::initialize()` and communicators, at the version constnorm uses.
pub use mpi as rsmpi;

/// How many values [`MpiSync::sum`] sends per message (8 KiB of `f64`).
pub const CHUNK: usize = 1024;

/// The data-parallel reductions of a training step on one communicator.
///
/// Holds a duplicate of the communicator it was made from, so its messages
/// never meet the program's own (MPI's `MPI_Comm_dup`).
pub struct MpiSync {
    comm: SimpleCommunicator,
}

impl core::fmt::Debug for MpiSync {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MpiSync")
            .field("rank", &self.rank())
            .field("size", &self.size())
            .finish()
    }
}

impl MpiSync {
    /// The reductions over every rank of `comm` (`universe.world()`, or any
    /// intra-communicator). Collective: every rank of `comm` calls it.
    #[must_use]
    pub fn new(comm: &SimpleCommunicator) -> Self {
        Self {
            comm: comm.duplicate(),
        }
    }

    /// This process's rank, `0..size()`.
    #[must_use]
    pub fn rank(&self) -> usize {
        index(self.comm.rank())
    }

    /// How many ranks take part.
    #[must_use]
    pub fn size(&self) -> usize {
        index(self.comm.size())
    }

    /// The statistics of the whole batch from each rank's
    /// [`shard_stats`](crate::kernels::sync::shard_stats), merged in rank
    /// order with [`ChannelStats::merge`]; the same bits on every rank.
    /// A rank with no rows passes `count: 0` (merging it changes nothing).
    /// Collective.
    #[must_use]
    pub fn channel_stats<const C: usize>(&self, mine: &ChannelStats<C>) -> ChannelStats<C> {
        let mut acc = *mine;
        self.reduce(&mut acc);
        acc
    }

    /// The gradient sums of the whole batch from each rank's
    /// [`shard_grad_sums`](crate::kernels::sync::shard_grad_sums), added in
    /// rank order with [`GradSums::merge`]; the same bits on every rank.
    /// Collective.
    #[must_use]
    pub fn grad_sums<const C: usize>(&self, mine: &GradSums<C>) -> GradSums<C> {
        let mut acc = *mine;
        self.reduce(&mut acc);
        acc
    }

    /// Replaces every array of `grads` (a layer's or a whole network's
    /// gradients) by its sum over all ranks: after a data-parallel backward
    /// pass, the whole batch's parameter gradients, the same bits on every
    /// rank, so identical optimizers keep identical models. Collective.
    pub fn sum_gradients<T: Float + Equivalence, G: Gradients<T>>(&self, grads: &mut G) {
        for i in 0..G::ARRAYS {
            self.sum(grads.array_mut(i));
        }
    }

    /// Replaces each value by its sum over all ranks (`values` has the same
    /// length on every rank), added in rank order; the same bits on every
    /// rank. Sent in messages of at most [`CHUNK`] values. Collective.
    pub fn sum<T: Float + Equivalence>(&self, values: &mut [T]) {
        for chunk in values.chunks_mut(CHUNK) {
            self.reduce(&mut Sum(chunk));
        }
    }

    /// Reduces `acc` over every rank into rank 0 along a binary tree that
    /// keeps ranks in order (each merge is `lower ranks . higher ranks`),
    /// then broadcasts rank 0's result into every rank's `acc`.
    fn reduce(&self, acc: &mut impl Packet) {
        let (rank, size) = (self.rank(), self.size());
        let mut step = 1;
        while step < size {
            if rank % (2 * step) != 0 {
                acc.send(&self.comm.process_at_rank(rank_of(rank - step)));
                break;
            }
            if rank + step < size {
                acc.receive_and_merge(&self.comm.process_at_rank(rank_of(rank + step)));
            }
            step *= 2;
        }
        acc.broadcast(&self.comm.process_at_rank(0));
    }
}

fn index(rank: mpi::Rank) -> usize {
    usize::try_from(rank).expect("MPI ranks and sizes are not negative")
}

fn rank_of(index: usize) -> mpi::Rank {
    mpi::Rank::try_from(index).expect("a rank below the communicator's size")
}

/// A value the tree reduction carries, in plain messages of fixed size.
trait Packet {
    /// Sends this value to `to`.
    fn send(&self, to: &impl Destination);
    /// Receives the value of the next higher ranks from `from` and merges it
    /// after this one.
    fn receive_and_merge(&mut self, from: &impl Source);
    /// Replaces this value by the root's.
    fn broadcast(&mut self, root: &impl Root);
}

impl<const C: usize> Packet for ChannelStats<C> {
    fn send(&self, to: &impl Destination) {
        to.send(&self.count);
        to.send([self.mean, self.m2].as_flattened());
    }

    fn receive_and_merge(&mut self, from: &impl Source) {
        let mut count = 0_u64;
        let mut values = [[0.0; C]; 2];
        from.receive_into(&mut count);
        from.receive_into(values.as_flattened_mut());
        let [mean, m2] = values;
        *self = self.merge(&Self { count, mean, m2 });
    }

    fn broadcast(&mut self, root: &impl Root) {
        let mut values = [self.mean, self.m2];
        root.broadcast_into(&mut self.count);
        root.broadcast_into(values.as_flattened_mut());
        [self.mean, self.m2] = values;
    }
}

impl<const C: usize> Packet for GradSums<C> {
    fn send(&self, to: &impl Destination) {
        to.send([self.sum_dy, self.sum_dy_xhat].as_flattened());
    }

    fn receive_and_merge(&mut self, from: &impl Source) {
        let mut values = [[0.0; C]; 2];
        from.receive_into(values.as_flattened_mut());
        let [sum_dy, sum_dy_xhat] = values;
        *self = self.merge(&Self {
            sum_dy,
            sum_dy_xhat,
        });
    }

    fn broadcast(&mut self, root: &impl Root) {
        let mut values = [self.sum_dy, self.sum_dy_xhat];
        root.broadcast_into(values.as_flattened_mut());
        [self.sum_dy, self.sum_dy_xhat] = values;
    }
}

/// At most [`CHUNK`] values to add up element by element.
struct Sum<'a, T>(&'a mut [T]);

impl<T: Float + Equivalence> Packet for Sum<'_, T> {
    fn send(&self, to: &impl Destination) {
        to.send(&*self.0);
    }

    fn receive_and_merge(&mut self, from: &impl Source) {
        let mut theirs = [T::ZERO; CHUNK];
        let theirs = &mut theirs[..self.0.len()];
        from.receive_into(theirs);
        for (mine, theirs) in self.0.iter_mut().zip(theirs.iter()) {
            *mine += *theirs;
        }
    }

    fn broadcast(&mut self, root: &impl Root) {
        root.broadcast_into(&mut *self.0);
    }
}
