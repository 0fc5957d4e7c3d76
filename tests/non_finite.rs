//! A training batch whose statistics are not finite (a NaN, an infinity, or
//! values whose squares overflow) is refused with `NonFiniteStatistics`
//! naming the channel, and the running statistics and `num_batches_tracked`
//! stay bit for bit what they were: for batch norm (1-d, 2-d, cumulative
//! momentum), SyncBatchNorm's steps, instance norm with running statistics,
//! and a network's training step. Inference does not check.

use constnorm::nn::{Linear, init_seeded};
use constnorm::{ChannelStats, Layer, Network, NormError, network, normalize};

#[normalize(batch, dims = 3)]
struct Bn;

#[normalize(batch, dims = 2, spatial = [2, 2], momentum = none)]
struct Bn2d;

#[normalize(instance, dims = 2, spatial = 3, track_running_stats = true)]
struct In1d;

/// The running statistics' bits and the counter.
fn state(mean: &[f32], var: &[f32], n: u64) -> (Vec<u32>, Vec<u32>, u64) {
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect();
    (bits(mean), bits(var), n)
}

/// A batch norm after one clean batch, so its state is not the default.
fn trained_bn() -> Bn {
    let mut bn = Bn::new();
    let mut y = [[0.0; 3]; 2];
    bn.forward_train(&[[0.5, 1.0, -1.0], [2.0, -3.0, 0.25]], &mut y)
        .unwrap();
    bn
}

#[test]
fn a_nan_or_an_infinity_in_a_training_batch_changes_nothing() {
    let nan = f32::NAN;
    let cases: [([[f32; 3]; 2], usize); 5] = [
        ([[1.0, nan, 2.0], [3.0, 1.0, 4.0]], 1),
        ([[f32::INFINITY, 0.0, 2.0], [3.0, 1.0, 4.0]], 0),
        ([[1.0, 0.0, f32::NEG_INFINITY], [3.0, 1.0, nan]], 2),
        // Finite, but the variance overflows f32.
        ([[1.0, 0.0, 3e38], [3.0, 1.0, -3e38]], 2),
        // The biased variance (2.25e38) fits f32, the unbiased one that
        // would be stored (4.5e38) does not.
        ([[1.0, 1.5e19, 3.0], [3.0, -1.5e19, 4.0]], 1),
    ];
    for (x, channel) in cases {
        let mut bn = trained_bn();
        let before = state(&bn.running_mean, &bn.running_var, bn.num_batches_tracked);
        let mut y = [[0.0; 3]; 2];
        assert_eq!(
            bn.forward_train(&x, &mut y),
            Err(NormError::NonFiniteStatistics { channel })
        );
        let after = state(&bn.running_mean, &bn.running_var, bn.num_batches_tracked);
        assert_eq!(before, after, "{x:?}");
        // The next clean batch trains as if the bad one never came.
        let mut fresh = trained_bn();
        let clean = [[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]];
        let (mut a, mut b) = ([[0.0; 3]; 2], [[0.0; 3]; 2]);
        bn.forward_train(&clean, &mut a).unwrap();
        fresh.forward_train(&clean, &mut b).unwrap();
        assert_eq!(a, b);
        assert_eq!(bn.running_var, fresh.running_var);
        assert_eq!(bn.num_batches_tracked, 2);
    }
}

#[test]
fn the_message_names_the_channel_and_what_was_kept() {
    let msg = NormError::NonFiniteStatistics { channel: 4 }.to_string();
    assert!(msg.contains("channel 4"), "{msg}");
    assert!(msg.contains("not updated"), "{msg}");
}

#[test]
fn inference_does_not_check_nan_in_gives_nan_out() {
    let bn = trained_bn();
    let mut y = [[0.0; 3]; 1];
    bn.forward_eval(&[[1.0, f32::NAN, 2.0]], &mut y).unwrap();
    assert!(y[0][1].is_nan() && y[0][0].is_finite());
}

#[normalize(batch, dims = 3, track_running_stats = false)]
struct BnUntracked;

#[test]
fn without_running_statistics_there_is_nothing_to_protect() {
    let mut bn = BnUntracked::new();
    let x = [[1.0, f32::NAN, 2.0], [3.0, 1.0, 4.0]];
    let mut y = [[0.0; 3]; 2];
    bn.forward_train(&x, &mut y).unwrap();
    assert!(y[0][1].is_nan() && y[0][0].is_finite());
    // Its inference uses the batch's statistics too, and does not check.
    bn.forward_eval(&x, &mut y).unwrap();
    assert!(y[1][1].is_nan());
}

#[test]
fn batch_norm_2d_with_cumulative_momentum_keeps_its_counter() {
    let mut bn = Bn2d::new();
    let mut y = [[[[0.0; 2]; 2]; 2]; 2];
    let good = [
        [[[1.0, 2.0], [3.0, 4.0]], [[0.5, -0.5], [2.0, 1.0]]],
        [[[0.0, 1.0], [1.5, 2.5]], [[1.0, 0.0], [-1.0, 3.0]]],
    ];
    bn.forward_train(&good, &mut y).unwrap();
    let before = state(&bn.running_mean, &bn.running_var, bn.num_batches_tracked);
    let mut bad = good;
    bad[1][1][0][1] = f32::NAN;
    assert_eq!(
        bn.forward_train(&bad, &mut y),
        Err(NormError::NonFiniteStatistics { channel: 1 })
    );
    assert_eq!(
        before,
        state(&bn.running_mean, &bn.running_var, bn.num_batches_tracked)
    );
}

#[test]
fn instance_norm_with_running_statistics_refuses_too() {
    let mut norm = In1d::new();
    let before = state(
        &norm.running_mean,
        &norm.running_var,
        norm.num_batches_tracked,
    );
    let mut y = [[[0.0; 3]; 2]; 2];
    let x = [
        [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
        [[1.0, 2.0, 3.0], [4.0, f32::INFINITY, 6.0]],
    ];
    assert_eq!(
        norm.forward_train(&x, &mut y),
        Err(NormError::NonFiniteStatistics { channel: 1 })
    );
    assert_eq!(
        before,
        state(
            &norm.running_mean,
            &norm.running_var,
            norm.num_batches_tracked
        )
    );
}

#[test]
fn a_sync_batch_norm_step_with_a_bad_shard_changes_nothing() {
    let mut bn = trained_bn();
    let before = state(&bn.running_mean, &bn.running_var, bn.num_batches_tracked);
    let good = [[1.0_f32, 2.0, 3.0], [0.0, 1.0, 0.5]];
    let bad = [[1.0_f32, f32::NAN, 3.0], [0.0, 1.0, 0.5]];
    let global = ChannelStats::merge(
        &bn.shard_stats(&good).unwrap(),
        &bn.shard_stats(&bad).unwrap(),
    );
    let mut y = [[0.0; 3]; 2];
    assert_eq!(
        bn.forward_train_synced(&good, &mut y, &global).map(|_| ()),
        Err(NormError::NonFiniteStatistics { channel: 1 })
    );
    assert_eq!(
        before,
        state(&bn.running_mean, &bn.running_var, bn.num_batches_tracked)
    );
}

#[normalize(batch, dims = 4)]
struct Bn4;

#[network]
#[derive(Default)]
struct Net {
    fc: Linear<2, 4>,
    bn: Bn4,
    out: Linear<4, 2>,
}

#[test]
fn a_network_training_step_with_a_nan_is_refused_before_the_batch_norm_commits() {
    let mut net = Net::default();
    init_seeded(&mut net, 1);
    let mut ws = NetWorkspace::<3>::new();
    net.forward_train(&[[1.0, 2.0], [0.5, -1.0], [2.0, 0.0]], &mut ws)
        .unwrap();
    let before = state(
        &net.bn.running_mean,
        &net.bn.running_var,
        net.bn.num_batches_tracked,
    );
    let err = net
        .forward_train(&[[1.0, 2.0], [f32::NAN, -1.0], [2.0, 0.0]], &mut ws)
        .unwrap_err();
    assert!(
        matches!(err, NormError::NonFiniteStatistics { .. }),
        "{err:?}"
    );
    assert_eq!(
        before,
        state(
            &net.bn.running_mean,
            &net.bn.running_var,
            net.bn.num_batches_tracked
        )
    );
}

#[test]
fn the_array_form_returns_or_panics_with_the_refusal() {
    let mut bn = trained_bn();
    let x = [[1.0, f32::NAN, 2.0], [3.0, 1.0, 4.0]];
    assert_eq!(
        bn.try_forward_train_array(&x).map(|_| ()),
        Err(NormError::NonFiniteStatistics { channel: 1 })
    );
    assert_eq!(bn.num_batches_tracked, 1);
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        bn.forward_train_array(&x);
    }))
    .unwrap_err();
    let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("channel 1"), "{msg}");
    assert_eq!(bn.num_batches_tracked, 1);
}
