//! Batch norm across data-parallel workers (PyTorch's SyncBatchNorm): a
//! batch split across 4 threads, with the shards' statistics and gradient
//! sums merged (standing in for an all-reduce), gives what one worker gives
//! on the whole batch, to 1e-12 (f64): outputs, input gradients, parameter
//! gradients (summed over workers) and running statistics.

use constnorm::{AffineGrads, ChannelStats, GradSums, Layer as _, normalize};
use proptest::prelude::*;

#[normalize(batch, dims = 3, spatial = 4, dtype = f64)]
struct Bn;

type Row = [[f64; 4]; 3];

fn close(what: &str, got: f64, want: f64) -> Result<(), TestCaseError> {
    prop_assert!(
        (got - want).abs() <= 1e-12 * want.abs().max(1.0),
        "{what}: {got} vs {want}"
    );
    Ok(())
}

fn row() -> impl Strategy<Value = Row> {
    prop::array::uniform3(prop::array::uniform4(-50.0..60.0_f64))
}

/// A layer with non-default parameters and running statistics.
fn layer(w: [f64; 3], b: [f64; 3]) -> Bn {
    let mut l = Bn::new();
    l.weight = w;
    l.bias = b;
    l.running_mean = [0.3, -0.2, 5.0];
    l.running_var = [2.0, 0.5, 1.5];
    l.num_batches_tracked = 4;
    l
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn four_workers_match_one(
        x in prop::collection::vec(row(), 8..24),
        dy_seed in prop::collection::vec(row(), 24),
        w in prop::array::uniform3(-2.0..2.0_f64),
        b in prop::array::uniform3(-2.0..2.0_f64),
        cuts in prop::array::uniform3(0.0..1.0_f64),
    ) {
        let n = x.len();
        let dy: Vec<Row> = dy_seed[..n].to_vec();

        // One worker on the whole batch.
        let mut single = layer(w, b);
        let mut y = vec![[[0.0; 4]; 3]; n];
        let saved = single.forward_train(&x, &mut y).unwrap();
        let mut dx = vec![[[0.0; 4]; 3]; n];
        let mut grads = AffineGrads::default();
        single.backward(&x, &saved, &dy, &mut dx, &mut grads).unwrap();

        // Four workers on shards of uneven sizes, each at least one row:
        // three sorted cut points in 1..=n-3, spread by 0, 1 and 2.
        let mut k: Vec<usize> = cuts.iter().map(|c| 1 + (c * (n - 3) as f64) as usize).map(|k| k.min(n - 3)).collect();
        k.sort_unstable();
        let edges = [0, k[0], k[1] + 1, k[2] + 2, n];
        let shards: Vec<(&[Row], &[Row])> = edges.windows(2).map(|e| (&x[e[0]..e[1]], &dy[e[0]..e[1]])).collect();
        let mut workers: Vec<Bn> = (0..4).map(|_| layer(w, b)).collect();

        // Step 1 on every worker, then the all-reduce of statistics.
        let stats: Vec<ChannelStats<3>> = std::thread::scope(|s| {
            let handles: Vec<_> = workers.iter().zip(&shards).map(|(l, (xs, _))| s.spawn(move || l.shard_stats(xs).unwrap())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let global = stats.iter().skip(1).fold(stats[0], |a, b| a.merge(b));
        // Steps 2 and 3, then the all-reduce of gradient sums.
        let forward: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = workers.iter_mut().zip(&shards).map(|(l, (xs, dys))| {
                s.spawn(move || {
                    let mut ys = vec![[[0.0; 4]; 3]; xs.len()];
                    let saved = l.forward_train_synced(xs, &mut ys, &global).unwrap();
                    let sums = l.shard_grad_sums(xs, &saved, dys).unwrap();
                    (ys, saved, sums)
                })
            }).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let sums = forward.iter().skip(1).fold(forward[0].2, |a: GradSums<3>, f| a.merge(&f.2));
        // Step 4.
        let backward: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = workers.iter().zip(&shards).zip(&forward).map(|((l, (xs, dys)), (_, saved, _))| {
                s.spawn(move || {
                    let mut dxs = vec![[[0.0; 4]; 3]; xs.len()];
                    let mut g = AffineGrads::default();
                    l.backward_synced(xs, saved, &sums, dys, &mut dxs, &mut g).unwrap();
                    (dxs, g)
                })
            }).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });

        let flat = |rows: &[Row]| rows.iter().flatten().flatten().copied().collect::<Vec<f64>>();
        let y_workers: Vec<f64> = forward.iter().flat_map(|f| flat(&f.0)).collect();
        let dx_workers: Vec<f64> = backward.iter().flat_map(|b| flat(&b.0)).collect();
        for (i, (g, e)) in y_workers.iter().zip(flat(&y)).enumerate() { close(&format!("y[{i}]"), *g, e)?; }
        for (i, (g, e)) in dx_workers.iter().zip(flat(&dx)).enumerate() { close(&format!("dx[{i}]"), *g, e)?; }
        for c in 0..3 {
            let dw: f64 = backward.iter().map(|b| b.1.weight[c]).sum();
            let db: f64 = backward.iter().map(|b| b.1.bias[c]).sum();
            close("dweight", dw, grads.weight[c])?;
            close("dbias", db, grads.bias[c])?;
            for worker in &workers {
                close("running_mean", worker.running_mean[c], single.running_mean[c])?;
                close("running_var", worker.running_var[c], single.running_var[c])?;
                prop_assert_eq!(worker.num_batches_tracked, single.num_batches_tracked);
            }
        }
    }

    #[test]
    fn merged_statistics_are_the_whole_batch_statistics(x in prop::collection::vec(row(), 2..12), cut in 1..11usize) {
        let cut = cut.min(x.len() - 1);
        let l = Bn::new();
        let merged = l.shard_stats(&x[..cut]).unwrap().merge(&l.shard_stats(&x[cut..]).unwrap());
        for c in 0..3 {
            let values: Vec<f64> = x.iter().flat_map(|r| r[c]).collect();
            let n = values.len() as f64;
            let mean = values.iter().sum::<f64>() / n;
            let m2: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
            prop_assert_eq!(merged.count, values.len() as u64);
            close("mean", merged.mean[c], mean)?;
            close("m2", merged.m2[c], m2)?;
        }
    }
}

#[test]
fn synced_calls_refuse_bad_input_and_change_nothing() {
    let mut l = layer([1.0; 3], [0.0; 3]);
    let before = format!("{l:?}");
    let x = [[[1.0; 4]; 3]; 2];
    assert!(l.shard_stats(&[]).is_err());
    let one_value = ChannelStats {
        count: 1,
        mean: [0.0; 3],
        m2: [0.0; 3],
    };
    assert_eq!(
        l.forward_train_synced(&x, &mut [[[0.0; 4]; 3]; 2], &one_value)
            .unwrap_err(),
        constnorm::NormError::TooFewValuesPerChannel { values: 1 }
    );
    let global = l.shard_stats(&x).unwrap();
    assert!(
        l.forward_train_synced(&x, &mut [[[0.0; 4]; 3]; 1], &global)
            .is_err()
    );
    assert_eq!(format!("{l:?}"), before);
}
