//! SyncBatchNorm across processes: a network with two batch norms trained
//! data-parallel over MPI, the batch split unevenly across the ranks, checked
//! on every rank against one process training on the whole batch.
//!
//! ```text
//! cargo build --release --features mpi --example mpi_sync_batch_norm
//! mpirun -np 4 target/release/examples/mpi_sync_batch_norm
//! ```
//!
//! Every step, each rank runs the forward pass on its shard, all-reduces the
//! batch norms' statistics and gradient sums (`MpiSync`), sums the parameter
//! gradients and takes the same SGD step. After each of the 5 steps every
//! rank compares, to 1e-12 relative (f64), with the `#[network]` trained in
//! one process on the whole batch: its rows of the output and of the input
//! gradient, the loss, every parameter gradient, every parameter, and both
//! batch norms' `running_mean`, `running_var` and `num_batches_tracked`; and
//! checks that its model is bit for bit rank 0's. It exits with 1 on any
//! mismatch, which makes `mpirun` fail.

use constnorm::mpi::rsmpi::topology::SimpleCommunicator;
use constnorm::mpi::rsmpi::traits::{Communicator, Root};
use constnorm::mpi::{MpiSync, rsmpi};
use constnorm::nn::{Linear, Relu, Sgd, init_seeded, mse};
use constnorm::{Gradients, Layer, Network, NormError, Parameters, network, normalize};

#[normalize(batch, dims = 8, dtype = f64)]
struct Bn8;

/// `momentum = None`: the cumulative average, driven by `num_batches_tracked`.
#[normalize(batch, dims = 3, momentum = none, dtype = f64)]
struct Bn3;

#[network]
#[derive(Clone, Default)]
struct Net {
    fc1: Linear<4, 8, f64>,
    bn1: Bn8,
    act1: Relu<8, f64>,
    fc2: Linear<8, 3, f64>,
    bn2: Bn3,
}

/// The global batch: 29 rows, split unevenly.
const BATCH: usize = 29;
const STEPS: usize = 5;
const TOLERANCE: f64 = 1e-12;

type Input = [f64; 4];
type Output = [f64; 3];

/// Reproducible values in `[-1, 1)` (SplitMix64), the same on every rank.
struct Values(u64);

impl Values {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        #[allow(clippy::cast_precision_loss)]
        let unit = (z >> 11) as f64 / (1_u64 << 53) as f64;
        2.0 * unit - 1.0
    }
}

/// Step `step`'s batch: inputs with offsets and scales per feature (so the
/// statistics are not trivially 0 and 1), and targets.
fn batch(step: usize) -> ([Input; BATCH], [Output; BATCH]) {
    let mut v = Values(1000 + step as u64);
    let x = core::array::from_fn(|_| {
        let r = [v.next(), v.next(), v.next(), v.next()];
        [
            3.0 + 2.0 * r[0],
            -1.0 + 0.5 * r[1],
            40.0 + 10.0 * r[2],
            r[3],
        ]
    });
    let t = core::array::from_fn(|_| [v.next(), 2.0 * v.next(), 0.5 + v.next()]);
    (x, t)
}

/// Rank `rank`'s rows of the batch at `step`: shares proportional to 1, 2,
/// ..., `ranks`, rotated every step, so each rank's shard size changes.
fn shard(rank: usize, ranks: usize, step: usize) -> core::ops::Range<usize> {
    let weight = |r: usize| 1 + (r + step) % ranks;
    let total: usize = (0..ranks).map(weight).sum();
    let edge = |r: usize| BATCH * (0..r).map(weight).sum::<usize>() / total;
    edge(rank)..edge(rank + 1)
}

/// The largest difference seen in each quantity, relative to
/// `max(1, |reference|)`.
#[derive(Default)]
struct Worst {
    names: Vec<&'static str>,
    values: Vec<f64>,
}

impl Worst {
    fn check(&mut self, what: &'static str, got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{what}: lengths");
        let diff = got
            .iter()
            .zip(want)
            .map(|(g, w)| {
                if g == w {
                    0.0
                } else {
                    (g - w).abs() / w.abs().max(1.0)
                }
            })
            .fold(0.0, f64::max);
        match self.names.iter().position(|n| *n == what) {
            Some(i) => self.values[i] = self.values[i].max(diff),
            None => {
                self.names.push(what);
                self.values.push(diff);
            }
        }
    }

    /// NaN counts as a failure too.
    fn passed(&self) -> bool {
        self.values.iter().all(|v| *v <= TOLERANCE)
    }

    fn report(&self) -> String {
        let parts: Vec<String> = self
            .names
            .iter()
            .zip(&self.values)
            .map(|(n, v)| format!("{n} {v:.1e}"))
            .collect();
        parts.join(", ")
    }
}

fn flat<const N: usize>(rows: &[[f64; N]]) -> &[f64] {
    rows.as_flattened()
}

/// The model's parameters and running statistics, as one list of values.
fn state(net: &Net) -> Vec<f64> {
    let mut values = Vec::new();
    for i in 0..<Net as Parameters>::Grads::ARRAYS {
        values.extend_from_slice(net.parameter(i));
    }
    values.extend(net.bn1.running_mean.iter().chain(&net.bn1.running_var));
    values.extend(net.bn2.running_mean.iter().chain(&net.bn2.running_var));
    #[allow(clippy::cast_precision_loss)]
    values.extend([net.bn1.num_batches_tracked, net.bn2.num_batches_tracked].map(|n| n as f64));
    values
}

/// Every intermediate value of one rank's shard.
struct Shard {
    h1: Vec<[f64; 8]>,
    a1: Vec<[f64; 8]>,
    r1: Vec<[f64; 8]>,
    h2: Vec<Output>,
    y: Vec<Output>,
    dy: Vec<Output>,
    dh2: Vec<Output>,
    dr1: Vec<[f64; 8]>,
    da1: Vec<[f64; 8]>,
    dh1: Vec<[f64; 8]>,
    dx: Vec<Input>,
}

impl Shard {
    fn new(rows: usize) -> Self {
        Self {
            h1: vec![[0.0; 8]; rows],
            a1: vec![[0.0; 8]; rows],
            r1: vec![[0.0; 8]; rows],
            h2: vec![[0.0; 3]; rows],
            y: vec![[0.0; 3]; rows],
            dy: vec![[0.0; 3]; rows],
            dh2: vec![[0.0; 3]; rows],
            dr1: vec![[0.0; 8]; rows],
            da1: vec![[0.0; 8]; rows],
            dh1: vec![[0.0; 8]; rows],
            dx: vec![[0.0; 4]; rows],
        }
    }
}

/// One data-parallel training step of `net` on this rank's rows `x`, `t` of
/// a batch of `BATCH` rows: forward with synced batch norms, the loss of the
/// whole batch, backward with synced gradient sums, and `grads` summed over
/// every rank. Returns the whole batch's loss.
fn train_step(
    sync: &MpiSync,
    net: &mut Net,
    s: &mut Shard,
    x: &[Input],
    t: &[Output],
    grads: &mut NetGrads,
) -> Result<f64, NormError> {
    let fc1 = net.fc1.forward_train(x, &mut s.h1)?;
    let global1 = sync.channel_stats(&net.bn1.shard_stats(&s.h1)?);
    let bn1 = net.bn1.forward_train_synced(&s.h1, &mut s.a1, &global1)?;
    let act1 = net.act1.forward_train(&s.a1, &mut s.r1)?;
    let fc2 = net.fc2.forward_train(&s.r1, &mut s.h2)?;
    let global2 = sync.channel_stats(&net.bn2.shard_stats(&s.h2)?);
    let bn2 = net.bn2.forward_train_synced(&s.h2, &mut s.y, &global2)?;

    // The whole batch's mean loss: this shard's mean weighted by its share,
    // summed over the ranks (so is its gradient).
    #[allow(clippy::cast_precision_loss)]
    let share = x.len() as f64 / BATCH as f64;
    let mut loss = [mse(&s.y, t, &mut s.dy)? * share];
    s.dy.as_flattened_mut().iter_mut().for_each(|g| *g *= share);
    sync.sum(&mut loss);

    grads.set_zero();
    let sums2 = sync.grad_sums(&net.bn2.shard_grad_sums(&s.h2, &bn2, &s.dy)?);
    net.bn2
        .backward_synced(&s.h2, &bn2, &sums2, &s.dy, &mut s.dh2, &mut grads.bn2)?;
    net.fc2
        .backward(&s.r1, &fc2, &s.dh2, &mut s.dr1, &mut grads.fc2)?;
    net.act1
        .backward(&s.a1, &act1, &s.dr1, &mut s.da1, &mut grads.act1)?;
    let sums1 = sync.grad_sums(&net.bn1.shard_grad_sums(&s.h1, &bn1, &s.da1)?);
    net.bn1
        .backward_synced(&s.h1, &bn1, &sums1, &s.da1, &mut s.dh1, &mut grads.bn1)?;
    net.fc1
        .backward(x, &fc1, &s.dh1, &mut s.dx, &mut grads.fc1)?;
    sync.sum_gradients(grads);
    Ok(loss[0])
}

fn main() {
    let universe = rsmpi::initialize().expect("MPI initializes once");
    let world = universe.world();
    let sync = MpiSync::new(&world);
    let ranks = sync.size();
    if (0..STEPS).any(|step| (0..ranks).any(|r| shard(r, ranks, step).is_empty())) {
        eprintln!("{ranks} ranks leave some rank without rows of a {BATCH}-row batch");
        std::process::exit(2);
    }
    match run(&world, &sync) {
        Ok(true) => {}
        Ok(false) => {
            drop(universe); // every rank got here: MPI_Finalize
            std::process::exit(1);
        }
        // The other ranks may wait in a collective for this one: end them all.
        Err(e) => {
            eprintln!("rank {}: {e}", sync.rank());
            world.abort(3);
        }
    }
}

/// Trains both models and compares them; `Ok(false)` on a mismatch.
fn run(world: &SimpleCommunicator, sync: &MpiSync) -> Result<bool, NormError> {
    let (rank, ranks) = (sync.rank(), sync.size());

    let mut start = Net::default();
    init_seeded(&mut start, 7);
    let (mut single, mut net) = (start.clone(), start);
    let mut ws = NetWorkspace::<BATCH>::new();
    let (mut single_grads, mut grads) = (NetGrads::default(), NetGrads::default());
    let (mut single_sgd, mut sgd) = (Sgd::new(0.1, 0.9), Sgd::new(0.1, 0.9));
    let mut worst = Worst::default();
    let mut sizes = Vec::new();
    let mut counters_differ = false;

    for step in 0..STEPS {
        let (x, t) = batch(step);
        let rows = shard(rank, ranks, step);
        sizes.push(rows.len());

        // One process, the whole batch: the `#[network]`'s own passes.
        let mut dy = [[0.0; 3]; BATCH];
        let y = *single.forward_train(&x, &mut ws)?;
        let single_loss = mse(&y, &t, &mut dy)?;
        single_grads.set_zero();
        let dx = *single.backward(&x, &mut ws, &dy, &mut single_grads)?;
        single_sgd.step(&mut single, &single_grads);

        // This rank: its shard, synced with the others.
        let mut s = Shard::new(rows.len());
        let loss = train_step(
            sync,
            &mut net,
            &mut s,
            &x[rows.clone()],
            &t[rows.clone()],
            &mut grads,
        )?;
        sgd.step(&mut net, &grads);

        worst.check("y", flat(&s.y), flat(&y[rows.clone()]));
        worst.check("dx", flat(&s.dx), flat(&dx[rows.clone()]));
        worst.check("loss", &[loss], &[single_loss]);
        for i in 0..NetGrads::ARRAYS {
            worst.check("parameter grads", grads.array(i), single_grads.array(i));
        }
        for i in 0..NetGrads::ARRAYS {
            worst.check("parameters", net.parameter(i), single.parameter(i));
        }
        worst.check(
            "running_mean",
            &net.bn1.running_mean,
            &single.bn1.running_mean,
        );
        worst.check("running_var", &net.bn1.running_var, &single.bn1.running_var);
        worst.check(
            "running_mean",
            &net.bn2.running_mean,
            &single.bn2.running_mean,
        );
        worst.check("running_var", &net.bn2.running_var, &single.bn2.running_var);
        let tracked = |n: &Net| [n.bn1.num_batches_tracked, n.bn2.num_batches_tracked];
        if tracked(&net) != tracked(&single) || tracked(&net) != [step as u64 + 1; 2] {
            counters_differ = true;
        }
    }

    // Every rank's model, bit for bit rank 0's.
    let mine = state(&net);
    let mut rank0 = mine.clone();
    world.process_at_rank(0).broadcast_into(&mut rank0[..]);
    let same = mine
        .iter()
        .zip(&rank0)
        .all(|(a, b)| a.to_bits() == b.to_bits());

    let passed = worst.passed() && same && !counters_differ;
    println!(
        "rank {rank}/{ranks}, rows per step {sizes:?}: max difference {}; num_batches_tracked {}; model {} rank 0's: {}",
        worst.report(),
        if counters_differ { "DIFFERS" } else { "equal" },
        if same { "bit for bit" } else { "DIFFERS from" },
        if passed { "ok" } else { "MISMATCH" },
    );
    Ok(passed)
}
