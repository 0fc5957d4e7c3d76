//! A network's training step is atomic: when any layer refuses the batch
//! (`NonFiniteStatistics`), every layer before it, which had already
//! computed its batch statistics, is left bit for bit unchanged too:
//! parameters, running statistics and `num_batches_tracked`, compared over
//! the whole state dict. Chains of `Linear -> BatchNorm -> ReLU -> Linear ->
//! BatchNorm`, nested networks (refused outside and inside), batch norm per
//! step of a sequence (`PerStep`), convolutions with `BatchNorm2d`, and
//! instance norm with running statistics. A later clean step then trains as
//! if the refused one never came.

use constnorm::nn::{Flatten, Linear, PerStep, Relu, Relu2d, init_seeded};
use constnorm::{
    Float, Layer, Network, NormError, Parameters, StateDict, conv2d, network, normalize,
};

#[normalize(batch, dims = 4)]
struct Bn4;

#[normalize(batch, dims = 3)]
struct Bn3;

#[normalize(batch, dims = 2, spatial = [4, 4])]
struct Bn2d;

#[normalize(instance, dims = 2, spatial = 3, track_running_stats = true)]
struct In1d;

/// Every array and counter of the state dict, by key, as bits.
fn state<M: StateDict>(m: &M) -> Vec<(String, Vec<u64>)>
where
    M::Scalar: Float,
{
    let mut out = Vec::new();
    m.visit_arrays(&mut |key, _, values| {
        let bits = values.iter().map(|v| v.to_f64().to_bits()).collect();
        out.push((key.to_string(), bits));
    });
    m.visit_counters(&mut |key, n| out.push((key.to_string(), vec![n])));
    out
}

/// The keys whose values differ between two states.
fn changed(a: &[(String, Vec<u64>)], b: &[(String, Vec<u64>)]) -> Vec<String> {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .filter(|(x, y)| x != y)
        .map(|(x, _)| x.0.clone())
        .collect()
}

/// Multiplies a layer's weight (array 0) by `factor`: parameters that have
/// blown up after a bad optimizer step.
fn blow_up<L: Parameters<Scalar = f32>>(layer: &mut L, factor: f32) {
    for w in layer.parameter_mut(0) {
        *w *= factor;
    }
}

/// The check every case runs: `net` (already trained one clean step, with
/// `break_it` applied) refuses `x` naming the `channel` of its batch norm
/// number `refused_by` (a key prefix), its whole state dict unchanged; the
/// same step on the unbroken network would have moved the running
/// statistics of `committed_first` (so a partial commit would show); and
/// after `fix` a clean step gives the state of a twin that never saw the
/// refused one.
struct Case<'a, N: Network + StateDict> {
    x: &'a [N::Input],
    channel: usize,
    refused_by: &'a str,
    committed_first: &'a str,
}

fn check<N, const B: usize>(
    build: impl Fn() -> N,
    break_it: impl Fn(&mut N),
    fix: impl Fn(&mut N),
    case: &Case<'_, N>,
) where
    N: Network + StateDict<Scalar = f32>,
    N::Workspace<B>: Default,
{
    let x: &[N::Input; B] = case.x.try_into().unwrap();
    // Without the broken weights, this very batch trains, and moves the
    // first batch norm's statistics.
    let mut clean = build();
    let mut ws = N::Workspace::<B>::default();
    let before = state(&clean);
    clean.forward_train(x, &mut ws).unwrap();
    let moved = changed(&before, &state(&clean));
    assert!(
        moved.iter().any(|k| k.starts_with(case.committed_first)),
        "{moved:?}"
    );

    let mut net = build();
    break_it(&mut net);
    let before = state(&net);
    let err = net.forward_train(x, &mut ws).unwrap_err();
    assert_eq!(
        err,
        NormError::NonFiniteStatistics {
            channel: case.channel
        },
        "refused by {}",
        case.refused_by
    );
    let after = state(&net);
    assert_eq!(changed(&before, &after), Vec::<String>::new());
    assert_eq!(before, after);

    // The refused step left nothing behind: fixed, the network trains as
    // its twin that never saw it, bit for bit.
    let mut twin = build();
    break_it(&mut twin);
    fix(&mut net);
    fix(&mut twin);
    let y_net = *net.forward_train(x, &mut ws).unwrap();
    let mut ws_twin = N::Workspace::<B>::default();
    let y_twin = *twin.forward_train(x, &mut ws_twin).unwrap();
    assert_eq!(state(&net), state(&twin));
    let bits = |y: &[N::Output; B]| {
        format!(
            "{:?}",
            y.iter()
                .map(|r| constnorm::Row::as_flat(r)
                    .iter()
                    .map(|v| v.to_f64().to_bits())
                    .collect::<Vec<_>>())
                .collect::<Vec<_>>()
        )
    };
    assert_eq!(bits(&y_net), bits(&y_twin));
}

/// One clean step away from the initial state, so the running statistics
/// and the counters are not the defaults.
fn trained<N: Network + Default, const B: usize>(seed: u64, x: &[N::Input; B]) -> N
where
    N::Workspace<B>: Default,
{
    let mut net = N::default();
    init_seeded(&mut net, seed);
    let mut ws = N::Workspace::<B>::default();
    net.forward_train(x, &mut ws).unwrap();
    net
}

#[network]
#[derive(Default)]
struct Mlp {
    fc1: Linear<3, 4>,
    bn1: Bn4,
    relu: Relu<4>,
    fc2: Linear<4, 4>,
    bn2: Bn4,
}

const X3: [[f32; 3]; 4] = [
    [1.0, -0.5, 2.0],
    [0.25, 1.5, -1.0],
    [-2.0, 0.5, 0.75],
    [0.5, -1.25, 0.0],
];

#[test]
fn a_later_batch_norm_refusing_leaves_the_first_one_unchanged() {
    let build = || trained::<Mlp, 4>(7, &X3);
    // The second linear layer's weights blew up: its outputs are finite
    // (about 1e30), their variance (about 1e60) is not an f32.
    check::<Mlp, 4>(
        build,
        |n| blow_up(&mut n.fc2, 1e30),
        |n| blow_up(&mut n.fc2, 1e-30),
        &Case {
            x: &X3,
            channel: 0,
            refused_by: "bn2",
            committed_first: "bn1.",
        },
    );
    // The first batch norm's scale blew up instead: its output overflows
    // to infinity, which the second batch norm sees.
    check::<Mlp, 4>(
        build,
        |n| n.bn1.weight = [3e38; 4],
        |n| n.bn1.weight = [1.0; 4],
        &Case {
            x: &X3,
            channel: 0,
            refused_by: "bn2",
            committed_first: "bn1.",
        },
    );
}

#[network]
#[derive(Default)]
struct Stem {
    fc: Linear<3, 4>,
    bn: Bn4,
    act: Relu<4>,
}

/// A nested network commits first; the outer batch norm refuses.
#[network]
#[derive(Default)]
struct Outer {
    #[nested]
    stem: Stem,
    fc: Linear<4, 4>,
    bn: Bn4,
}

/// An outer batch norm commits first; the nested network refuses.
#[network]
#[derive(Default)]
struct OuterFirst {
    bn0: Bn3,
    #[nested]
    stem: Stem,
}

#[test]
fn nested_networks_commit_only_when_the_outer_chain_succeeds() {
    check::<Outer, 4>(
        || trained::<Outer, 4>(3, &X3),
        |n| blow_up(&mut n.fc, 1e30),
        |n| blow_up(&mut n.fc, 1e-30),
        &Case {
            x: &X3,
            channel: 0,
            refused_by: "bn",
            committed_first: "stem.bn.",
        },
    );
    check::<OuterFirst, 4>(
        || trained::<OuterFirst, 4>(5, &X3),
        |n| blow_up(&mut n.stem.fc, 1e30),
        |n| blow_up(&mut n.stem.fc, 1e-30),
        &Case {
            x: &X3,
            channel: 0,
            refused_by: "stem.bn",
            committed_first: "bn0.",
        },
    );
}

/// Batch norm over every step of a sequence (`N * S` rows per channel).
#[network]
#[derive(Default)]
struct SeqNet {
    fc1: PerStep<Linear<3, 4>, 3>,
    bn1: PerStep<Bn4, 3>,
    fc2: PerStep<Linear<4, 4>, 3>,
    bn2: PerStep<Bn4, 3>,
}

#[test]
fn sequence_wise_batch_norm_commits_only_when_the_chain_succeeds() {
    let x: [[[f32; 3]; 3]; 2] = [[X3[0], X3[1], X3[2]], [X3[3], X3[2], X3[0]]];
    check::<SeqNet, 2>(
        || trained::<SeqNet, 2>(11, &x),
        |n| blow_up(&mut n.fc2.layer, 1e30),
        |n| blow_up(&mut n.fc2.layer, 1e-30),
        &Case {
            x: &x,
            channel: 0,
            refused_by: "bn2",
            committed_first: "bn1.",
        },
    );
}

type Conv1 = conv2d!(1, 2, 3, padding = 1, input = [1, 4, 4]);
type Conv2 = conv2d!(2, 2, 3, padding = 1, input = [2, 4, 4]);

#[network]
#[derive(Default)]
struct ConvNet {
    conv1: Conv1,
    bn1: Bn2d,
    relu: Relu2d<2, 4, 4>,
    conv2: Conv2,
    bn2: Bn2d,
}

#[test]
fn conv_networks_with_batch_norm_2d_commit_only_when_the_chain_succeeds() {
    let image = |k: f32| -> [[[f32; 4]; 4]; 1] {
        [core::array::from_fn(|i| {
            core::array::from_fn(|j| ((i * 4 + j) as f32 * 0.37 + k).sin())
        })]
    };
    let x = [image(0.0), image(1.3)];
    check::<ConvNet, 2>(
        || trained::<ConvNet, 2>(13, &x),
        |n| blow_up(&mut n.conv2, 1e30),
        |n| blow_up(&mut n.conv2, 1e-30),
        &Case {
            x: &x,
            channel: 0,
            refused_by: "bn2",
            committed_first: "bn1.",
        },
    );
}

/// Instance norm with running statistics, then a batch norm that refuses.
#[network]
#[derive(Default)]
struct InstanceNet {
    inorm: In1d,
    flat: Flatten<[[f32; 3]; 2], 6>,
    fc: Linear<6, 3>,
    bn: Bn3,
}

#[test]
fn instance_norm_with_running_statistics_commits_only_when_the_chain_succeeds() {
    let x: [[[f32; 3]; 2]; 3] = [
        [[1.0, -0.5, 2.0], [0.25, 1.5, -1.0]],
        [[-2.0, 0.5, 0.75], [0.5, -1.25, 0.0]],
        [[0.3, 0.1, -0.7], [2.0, 1.0, 0.5]],
    ];
    check::<InstanceNet, 3>(
        || trained::<InstanceNet, 3>(17, &x),
        |n| blow_up(&mut n.fc, 1e30),
        |n| blow_up(&mut n.fc, 1e-30),
        &Case {
            x: &x,
            channel: 0,
            refused_by: "bn",
            committed_first: "inorm.",
        },
    );
}

/// `forward_train` is `forward_train_deferred` then `commit_train`, bit for
/// bit, and the deferred pass alone changes nothing.
#[test]
fn deferred_then_commit_is_forward_train() {
    let x = [[1.0, 2.0, -3.0], [0.5, -1.0, 4.0], [2.5, 0.0, 1.0]];
    let mut a = Bn3::new();
    let mut b = Bn3::new();
    let (mut ya, mut yb) = ([[0.0; 3]; 3], [[0.0; 3]; 3]);
    for _ in 0..3 {
        let sa = a.forward_train(&x, &mut ya).unwrap();
        let sb = b.forward_train_deferred(&x, &mut yb).unwrap();
        assert_eq!(b.num_batches_tracked + 1, a.num_batches_tracked);
        b.commit_train(&x, &sb);
        assert_eq!(sa, sb);
        assert_eq!(ya, yb);
        assert_eq!(state(&a), state(&b));
    }

    let x = [
        [[1.0, -0.5, 2.0], [0.25, 1.5, -1.0]],
        [[-2.0, 0.5, 0.75], [0.5, -1.25, 0.0]],
    ];
    let mut a = In1d::new();
    let mut b = In1d::new();
    let (mut ya, mut yb) = ([[[0.0; 3]; 2]; 2], [[[0.0; 3]; 2]; 2]);
    for _ in 0..3 {
        a.forward_train(&x, &mut ya).unwrap();
        let before = state(&b);
        let sb = b.forward_train_deferred(&x, &mut yb).unwrap();
        assert_eq!(before, state(&b));
        b.commit_train(&x, &sb);
        assert_eq!(ya, yb);
        assert_eq!(state(&a), state(&b));
    }
}
