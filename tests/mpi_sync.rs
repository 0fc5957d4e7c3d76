//! `constnorm::mpi::MpiSync` between real processes: the test re-runs this
//! binary under `mpirun -np N` for N = 1 to 5 (powers of two and not), and
//! every rank checks the reductions against values it computes for the
//! whole batch itself, checks that it holds rank 0's bits, and that the
//! reductions allocate nothing. Needs `mpirun` (Open MPI; feature `mpi`).

#[path = "common/counting.rs"]
mod counting;

use constnorm::mpi::rsmpi::traits::{Communicator, Root};
use constnorm::mpi::{CHUNK, MpiSync, rsmpi};
use constnorm::{AffineGrads, ChannelStats, GradSums, normalize};
use counting::allocations;
use std::process::Command;

#[normalize(batch, dims = 3, dtype = f64)]
struct Bn;

/// Row `i` of the whole batch: means near 1e3, 0 and -3e3 with spreads of
/// 0.3, 1e-4 and 3, where sums of squares in f64 would keep only 8 or 9
/// digits of the variance (merged means lose about `|mean| / std` ulps, so
/// 1e-12 holds up to a ratio near 1e4).
fn row(i: usize) -> [f64; 3] {
    let u = ((i * 7919) % 101) as f64 / 101.0 - 0.5;
    [1e3 + u, 1e-3 * u * u, -3e3 + 10.0 * (u - 0.2)]
}

/// Rank `rank` holds rows `rank * (rank + 1) / 2 ..` of `rank + 1` rows:
/// every shard a different size.
fn shard(rank: usize) -> Vec<[f64; 3]> {
    let start = rank * (rank + 1) / 2;
    (start..start + rank + 1).map(row).collect()
}

fn assert_close(what: &str, got: f64, want: f64, scale: f64) {
    assert!(
        (got - want).abs() <= 1e-12 * scale,
        "{what}: {got} vs {want}"
    );
}

/// The same bits as rank 0's, for every value.
fn assert_rank0_bits(world: &impl Communicator, what: &str, mine: &[f64]) {
    let mut rank0 = mine.to_vec();
    world.process_at_rank(0).broadcast_into(&mut rank0[..]);
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(mine), bits(&rank0), "{what}: not rank 0's bits");
}

/// One rank's checks; run only under `mpirun` by the test below. A failed
/// check aborts the whole job (the other ranks would wait for this one).
#[test]
#[ignore = "run under mpirun by every_rank_gets_the_whole_batch"]
fn rank() {
    let universe = rsmpi::initialize().expect("MPI initializes once");
    let world = universe.world();
    let sync = MpiSync::new(&world);
    if std::panic::catch_unwind(|| checks(&world, &sync)).is_err() {
        world.abort(1);
    }
}

fn checks(world: &rsmpi::topology::SimpleCommunicator, sync: &MpiSync) {
    let (rank, size) = (sync.rank(), sync.size());
    assert_eq!((rank, size), (world.rank() as usize, world.size() as usize));

    // Statistics: the whole batch's, computed here in two passes.
    let x = shard(rank);
    let layer = Bn::new();
    let mine = layer.shard_stats(&x).unwrap();
    let mut global = mine;
    assert_eq!(allocations(|| global = sync.channel_stats(&mine)), 0);
    let all: Vec<[f64; 3]> = (0..size).flat_map(shard).collect();
    assert_eq!(global.count, all.len() as u64);
    for c in 0..3 {
        let n = all.len() as f64;
        let mean = all.iter().map(|r| r[c]).sum::<f64>() / n;
        let m2: f64 = all.iter().map(|r| (r[c] - mean) * (r[c] - mean)).sum();
        assert_close("mean", global.mean[c], mean, mean.abs().max(1.0));
        assert_close("m2", global.m2[c], m2, m2);
    }
    let stats = |s: &ChannelStats<3>| [&[s.count as f64][..], &s.mean, &s.m2].concat();
    assert_rank0_bits(world, "channel_stats", &stats(&global));

    // A rank without rows (count 0) changes nothing.
    let empty = ChannelStats {
        count: 0,
        mean: [0.0; 3],
        m2: [0.0; 3],
    };
    let with_gaps = sync.channel_stats(if rank % 2 == 1 { &empty } else { &mine });
    let even: Vec<[f64; 3]> = (0..size).step_by(2).flat_map(shard).collect();
    assert_eq!(with_gaps.count, even.len() as u64);

    // Gradient sums and parameter gradients: integers and halves, whose sums
    // are exact in any order.
    let r = rank as f64;
    let total = |f: fn(f64) -> f64| (0..size).map(|r| f(r as f64)).sum::<f64>();
    let sums = GradSums {
        sum_dy: [r, 2.0 * r, 0.5],
        sum_dy_xhat: [-r, r * r, 1.0],
    };
    let mut global_sums = sums;
    assert_eq!(allocations(|| global_sums = sync.grad_sums(&sums)), 0);
    assert_eq!(
        global_sums.sum_dy,
        [total(|r| r), total(|r| 2.0 * r), 0.5 * size as f64]
    );
    assert_eq!(
        global_sums.sum_dy_xhat,
        [-total(|r| r), total(|r| r * r), size as f64]
    );
    assert_rank0_bits(world, "grad_sums", global_sums.sum_dy.as_slice());

    let mut grads = AffineGrads::<[f64; 3]> {
        weight: [r + 0.5; 3],
        bias: [1.0, -r, r * r],
    };
    assert_eq!(allocations(|| sync.sum_gradients(&mut grads)), 0);
    assert_eq!(grads.weight, [total(|r| r + 0.5); 3]);
    assert_eq!(grads.bias, [size as f64, -total(|r| r), total(|r| r * r)]);

    // More than one message: 2.5 chunks, f64 and f32.
    let mut long: Vec<f64> = (0..CHUNK * 5 / 2).map(|i| (i % 7) as f64 + r).collect();
    assert_eq!(allocations(|| sync.sum(&mut long)), 0);
    for (i, v) in long.iter().enumerate() {
        assert_eq!(*v, size as f64 * (i % 7) as f64 + total(|r| r), "sum[{i}]");
    }
    let mut short = [rank as f32 + 0.25; 5];
    sync.sum(&mut short);
    assert_eq!(short, [total(|r| r) as f32 + 0.25 * size as f32; 5]);
}

#[test]
fn every_rank_gets_the_whole_batch() {
    for ranks in 1..=5 {
        let out = Command::new("mpirun")
            .args([
                "--oversubscribe",
                "--timeout",
                "120",
                "-np",
                &ranks.to_string(),
            ])
            .arg(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "rank",
                "--test-threads=1",
                "--nocapture",
            ])
            // Open MPI refuses to start as root without these (CI runs as root).
            .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
            .output()
            .expect("mpirun (Open MPI: apt-get install openmpi-bin libopenmpi-dev)");
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        let passed = stdout.matches("1 passed; 0 failed").count();
        assert!(
            out.status.success() && passed == ranks,
            "mpirun -np {ranks}: {}, {passed} ranks passed\n{stdout}\n{stderr}",
            out.status
        );
    }
}
