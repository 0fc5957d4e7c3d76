//! Networks beyond chains: a `#[nested]` field is itself a `#[network]`,
//! with its keys nested under the field's name, and `#[network(residual)]`
//! is `y = x + f(x)`. Checked by finite differences through both paths, in
//! training and inference, against PyTorch's key names, and as a ResNet
//! basic block of convolutions.

mod common;

use common::fd::richardson;
use constnorm::nn::{Linear, Relu2d, Sgd, Tanh, init_seeded};
use constnorm::{Gradients, Network, Parameters, StateDict, conv2d, network, normalize};

#[normalize(layer, dims = 4, dtype = f64)]
struct Ln4;

#[normalize(batch, dims = 4, dtype = f64)]
struct Bn4;

/// `x + fc2(tanh(ln(fc1(x))))`.
#[network(residual)]
#[derive(Default)]
struct Block {
    fc1: Linear<4, 4, f64>,
    ln: Ln4,
    act: Tanh<4, f64>,
    fc2: Linear<4, 4, f64>,
}

#[network]
#[derive(Default)]
struct Net {
    stem: Linear<3, 4, f64>,
    bn: Bn4,
    #[nested]
    block1: Block,
    #[nested]
    block2: Block,
    head: Linear<4, 2, f64>,
}

/// `sum(y * r)` after a forward pass, and its gradients by backward.
fn probe(net: &mut Net, x: &[[f64; 3]; 5], r: &[[f64; 2]; 5], train: bool) -> f64 {
    let mut ws = NetWorkspace::<5>::new();
    let y = if train {
        net.forward_train(x, &mut ws).unwrap()
    } else {
        net.forward_eval(x, &mut ws).unwrap()
    };
    y.iter()
        .zip(r)
        .map(|(y, r)| y.iter().zip(r).map(|(a, b)| a * b).sum::<f64>())
        .sum()
}

fn network(seed: u64) -> Net {
    let mut net = Net::default();
    init_seeded(&mut net, seed);
    // Away from the defaults, so a dropped gradient term shows.
    net.bn.running_mean = [0.3, -0.2, 0.1, 0.5];
    net.bn.running_var = [1.5, 0.7, 2.0, 0.9];
    net.block1.ln.weight = [1.2, 0.8, -0.5, 1.1];
    net.block2.ln.bias = [0.1, -0.3, 0.2, 0.05];
    net
}

#[test]
fn nested_residual_gradients_match_finite_differences() {
    let x: [[f64; 3]; 5] =
        std::array::from_fn(|i| std::array::from_fn(|j| ((i * 3 + j) as f64 * 0.7).sin()));
    let r: [[f64; 2]; 5] =
        std::array::from_fn(|i| std::array::from_fn(|j| ((i * 2 + j) as f64 * 1.3).cos()));
    for train in [true, false] {
        let net = network(7);
        let mut ws = NetWorkspace::<5>::new();
        let mut grads = NetGrads::default();
        let mut probe_net = network(7);
        if train {
            probe_net.forward_train(&x, &mut ws).unwrap();
        } else {
            probe_net.forward_eval(&x, &mut ws).unwrap();
        }
        probe_net.backward(&x, &mut ws, &r, &mut grads).unwrap();
        let dx = *ws.input_grad();
        let mut checked = 0;
        for i in 0..<NetGrads as Gradients<f64>>::ARRAYS {
            for j in 0..net.parameter(i).len() {
                let (numeric, bound) = richardson(
                    |h| {
                        let mut n = network(7);
                        n.parameter_mut(i)[j] += h;
                        probe(&mut n, &x, &r, train)
                    },
                    1e-4,
                );
                let analytic = grads.array(i)[j];
                assert!(
                    (analytic - numeric).abs() <= 1e-7 * numeric.abs().max(1.0) + bound,
                    "train {train}, parameter {i}[{j}]: backward {analytic} vs finite difference {numeric}"
                );
                checked += 1;
            }
        }
        for (b, row) in x.iter().enumerate() {
            for j in 0..3 {
                let (numeric, bound) = richardson(
                    |h| {
                        let mut xh = x;
                        xh[b][j] = row[j] + h;
                        probe(&mut network(7), &xh, &r, train)
                    },
                    1e-4,
                );
                assert!(
                    (dx[b][j] - numeric).abs() <= 1e-7 * numeric.abs().max(1.0) + bound,
                    "train {train}, dx[{b}][{j}]: backward {} vs finite difference {numeric}",
                    dx[b][j]
                );
                checked += 1;
            }
        }
        // stem 16, bn 8, two blocks of 2 * 20 + 8, head 10, and 15 inputs.
        assert_eq!(checked, 16 + 8 + 2 * 48 + 10 + 15);
    }
}

#[test]
fn a_residual_block_adds_its_input() {
    // With the last layer all zero, the block is the identity.
    let mut block = Block::default();
    init_seeded(&mut block, 3);
    block.fc2 = Linear::new();
    let x = [[1.0, -2.0, 0.5, 3.0], [0.0, 0.25, -1.0, 2.0]];
    let mut ws = BlockWorkspace::<2>::new();
    assert_eq!(*block.forward_eval(&x, &mut ws).unwrap(), x);
    // And the skip path carries dy to dx unchanged on top of the chain's.
    let mut grads = BlockGrads::default();
    let dy = [[1.0, 2.0, 3.0, 4.0], [-1.0, 0.5, 0.0, 2.0]];
    let dx = *block.backward(&x, &mut ws, &dy, &mut grads).unwrap();
    assert_eq!(dx, dy, "fc2 = 0 blocks the chain, so dx is dy");
}

#[test]
fn nested_keys_are_pytorchs() {
    let net = Net::default();
    let mut keys = Vec::new();
    net.visit_arrays(&mut |key, _, _| keys.push(key.to_string()));
    let block = |b: &str| {
        [
            "fc1.weight",
            "fc1.bias",
            "ln.weight",
            "ln.bias",
            "fc2.weight",
            "fc2.bias",
        ]
        .map(|k| format!("{b}.{k}"))
    };
    let mut expected = vec![
        "stem.weight",
        "stem.bias",
        "bn.weight",
        "bn.bias",
        "bn.running_mean",
        "bn.running_var",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    expected.extend(block("block1"));
    expected.extend(block("block2"));
    expected.extend(["head.weight".to_owned(), "head.bias".to_owned()]);
    assert_eq!(keys, expected);
}

#[test]
fn training_moves_every_nested_parameter() {
    let mut net = network(11);
    let before = Box::new(network(11));
    let x: [[f64; 3]; 8] =
        std::array::from_fn(|i| std::array::from_fn(|j| (i as f64 - 3.5) * 0.3 + j as f64 * 0.1));
    let target = [[1.0, 0.0]; 8];
    let mut ws = NetWorkspace::<8>::new();
    let mut grads = NetGrads::default();
    let mut sgd = Sgd::new(0.05, 0.9);
    let mut dy = [[0.0; 2]; 8];
    for _ in 0..3 {
        let y = *net.forward_train(&x, &mut ws).unwrap();
        constnorm::nn::mse(&y, &target, &mut dy).unwrap();
        grads.set_zero();
        net.backward(&x, &mut ws, &dy, &mut grads).unwrap();
        sgd.step(&mut net, &grads);
    }
    assert_ne!(net.block1.fc1.weight, before.block1.fc1.weight);
    assert_ne!(net.block2.fc2.bias, before.block2.fc2.bias);
    assert_ne!(net.block2.ln.weight, before.block2.ln.weight);
    assert_eq!(net.bn.num_batches_tracked, 3);
}

// A ResNet basic block: conv-bn-relu-conv-bn plus the input, then a ReLU.
type Conv = conv2d!(4, 4, 3, padding = 1, input = [4, 6, 6], dtype = f64);
#[normalize(batch, dims = 4, spatial = [6, 6], dtype = f64)]
struct Bn2d;

#[network(residual)]
#[derive(Default)]
struct Basic {
    conv1: Conv,
    bn1: Bn2d,
    relu: Relu2d<4, 6, 6, f64>,
    conv2: Conv,
    bn2: Bn2d,
}

#[network]
#[derive(Default)]
struct Resnet {
    #[nested]
    layer1: Basic,
    relu: Relu2d<4, 6, 6, f64>,
}

#[test]
fn a_resnet_basic_block_trains_and_names_its_keys_as_pytorch() {
    let mut net = Box::<Resnet>::default();
    init_seeded(&mut *net, 5);
    let mut keys = Vec::new();
    net.visit_arrays(&mut |key, _, _| keys.push(key.to_string()));
    assert_eq!(keys[0], "layer1.conv1.weight");
    assert_eq!(keys[4], "layer1.bn1.running_mean");
    assert!(keys.contains(&"layer1.bn2.running_var".to_owned()));
    let x: [[[[f64; 6]; 6]; 4]; 2] = std::array::from_fn(|b| {
        std::array::from_fn(|c| {
            std::array::from_fn(|i| {
                std::array::from_fn(|j| ((b + 2 * c + 3 * i + 5 * j) as f64).sin())
            })
        })
    });
    let mut ws = Box::<ResnetWorkspace<2>>::default();
    let y = *net.forward_train(&x, &mut ws).unwrap();
    // relu(x + f(x)) >= 0 everywhere, and the input shows through.
    assert!(
        y.as_flattened()
            .as_flattened()
            .as_flattened()
            .iter()
            .all(|v| *v >= 0.0)
    );
    let mut grads = Box::<ResnetGrads>::default();
    let dy = [[[[1.0; 6]; 6]; 4]; 2];
    let dx = *net.backward(&x, &mut ws, &dy, &mut grads).unwrap();
    assert!(
        dx.as_flattened()
            .as_flattened()
            .as_flattened()
            .iter()
            .any(|v| *v != 0.0)
    );
    assert_eq!(net.layer1.bn1.num_batches_tracked, 1);
}

// A ResNet block that halves the resolution: the skip path is a 1x1
// convolution with stride 2 and a batch norm (PyTorch's `downsample`).
type ConvDown = conv2d!(
    2,
    4,
    3,
    stride = 2,
    padding = 1,
    bias = false,
    input = [2, 6, 6],
    dtype = f64
);
type Conv4 = conv2d!(
    4,
    4,
    3,
    padding = 1,
    bias = false,
    input = [4, 3, 3],
    dtype = f64
);
type Proj = conv2d!(
    2,
    4,
    1,
    stride = 2,
    bias = false,
    input = [2, 6, 6],
    dtype = f64
);
#[normalize(batch, dims = 4, spatial = [3, 3], dtype = f64)]
struct Bn3;

#[network(sequential)]
#[derive(Default)]
struct Downsample {
    conv: Proj,
    bn: Bn3,
}

#[network(residual)]
#[derive(Default)]
struct DownBlock {
    conv1: ConvDown,
    bn1: Bn3,
    relu: Relu2d<4, 3, 3, f64>,
    conv2: Conv4,
    bn2: Bn3,
    #[shortcut]
    #[nested]
    downsample: Downsample,
}

type Image = [[[f64; 6]; 6]; 2];
type Out = [[[f64; 3]; 3]; 4];

fn down_block() -> DownBlock {
    let mut block = DownBlock::default();
    init_seeded(&mut block, 9);
    block.bn2.weight = [0.5, 1.5, -0.7, 1.1];
    block.downsample.bn.bias = [0.2, -0.1, 0.3, 0.0];
    block
}

fn down_probe(block: &mut DownBlock, x: &[Image; 3], r: &[Out; 3], train: bool) -> f64 {
    let mut ws = Box::<DownBlockWorkspace<3>>::default();
    let y = if train {
        block.forward_train(x, &mut ws).unwrap()
    } else {
        block.forward_eval(x, &mut ws).unwrap()
    };
    let flat = |a: &[Out; 3]| a.as_flattened().as_flattened().as_flattened().to_vec();
    flat(y).iter().zip(flat(r)).map(|(a, b)| a * b).sum()
}

#[test]
fn a_projection_shortcut_is_differentiated_on_both_paths() {
    let x: [Image; 3] = std::array::from_fn(|b| {
        std::array::from_fn(|c| {
            std::array::from_fn(|i| {
                std::array::from_fn(|j| ((b * 7 + c * 5 + i * 3 + j) as f64 * 0.37).sin())
            })
        })
    });
    let r: [Out; 3] = std::array::from_fn(|b| {
        std::array::from_fn(|c| {
            std::array::from_fn(|i| {
                std::array::from_fn(|j| ((b * 11 + c * 3 + i * 2 + j) as f64 * 0.61).cos())
            })
        })
    });
    let mut keys = Vec::new();
    down_block().visit_arrays(&mut |key, _, _| keys.push(key.to_string()));
    assert_eq!(
        &keys[keys.len() - 5..],
        [
            "downsample.0.weight",
            "downsample.1.weight",
            "downsample.1.bias",
            "downsample.1.running_mean",
            "downsample.1.running_var"
        ]
    );
    for train in [true, false] {
        let mut block = down_block();
        let mut ws = Box::<DownBlockWorkspace<3>>::default();
        let mut grads = Box::<DownBlockGrads>::default();
        if train {
            block.forward_train(&x, &mut ws).unwrap();
        } else {
            block.forward_eval(&x, &mut ws).unwrap();
        }
        let dx = *block.backward(&x, &mut ws, &r, &mut grads).unwrap();
        let close = |analytic: f64, (numeric, bound): (f64, f64), what: &str| {
            assert!(
                (analytic - numeric).abs() <= 1e-7 * numeric.abs().max(1.0) + bound,
                "train {train}, {what}: backward {analytic} vs finite difference {numeric}"
            );
        };
        let mut checked = 0;
        for i in 0..<DownBlockGrads as Gradients<f64>>::ARRAYS {
            for j in 0..block.parameter(i).len() {
                let fd = richardson(
                    |h| {
                        let mut b = down_block();
                        b.parameter_mut(i)[j] += h;
                        down_probe(&mut b, &x, &r, train)
                    },
                    1e-4,
                );
                close(grads.array(i)[j], fd, &format!("parameter {i}[{j}]"));
                checked += 1;
            }
        }
        // conv1 72, bn1 8, conv2 144, bn2 8, projection 8 + 8.
        assert_eq!(checked, 72 + 8 + 144 + 8 + 16);
        let flat_dx = dx.as_flattened().as_flattened().as_flattened().to_vec();
        for (n, analytic) in flat_dx.iter().enumerate() {
            let fd = richardson(
                |h| {
                    let mut xh = x;
                    xh.as_flattened_mut().as_flattened_mut().as_flattened_mut()[n] += h;
                    down_probe(&mut down_block(), &xh, &r, train)
                },
                1e-4,
            );
            close(*analytic, fd, &format!("dx[{n}]"));
        }
    }
}

/// Runs `N` examples through `forward_eval_slice` with a workspace for
/// batches of `B` and compares each with the example alone (`B = 1`), bit
/// for bit; then the refusals.
fn any_number_of_examples<M: Network<Scalar = f64>, const B: usize, const N: usize>(net: &M) {
    let mut rng = 3_u64;
    let x: Vec<M::Input> = (0..N)
        .map(|_| {
            let mut row = <M::Input as constnorm::Row>::ZERO;
            for v in constnorm::Row::as_flat_mut(&mut row) {
                rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                *v = (rng >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            }
            row
        })
        .collect();
    let mut ws = Box::<M::Workspace<B>>::default();
    let mut y = vec![<M::Output as constnorm::Row>::ZERO; N];
    net.forward_eval_slice(&x, &mut ws, &mut y).unwrap();
    let mut one = Box::<M::Workspace<1>>::default();
    for (x, y) in x.iter().zip(&y) {
        let alone = net.forward_eval(&[*x], &mut one).unwrap();
        assert_eq!(&alone[0], y);
    }
    // More rows than the workspace holds, none, or an output of another
    // length: refused, `y` untouched.
    let too_many: Vec<M::Input> = x.iter().cycle().take(B + 1).copied().collect();
    assert_eq!(
        net.forward_eval_rows(&too_many, &mut ws).map(|_| ()),
        Err(constnorm::NormError::RowCountMismatch {
            argument: "x",
            expected: B,
            found: B + 1
        })
    );
    assert_eq!(
        net.forward_eval_slice(&x[..0], &mut ws, &mut y[..0]),
        Err(constnorm::NormError::EmptyBatch)
    );
    let before = y.clone();
    assert!(net.forward_eval_slice(&x, &mut ws, &mut y[1..]).is_err());
    assert_eq!(y[1..], before[1..]);
}

#[test]
fn a_network_built_for_a_batch_evaluates_any_number_of_examples() {
    // 10 examples in batches of 4: two whole ones and one of 2; nested
    // residual blocks with a batch norm (running statistics) before them.
    let mut net = Net::default();
    init_seeded(&mut net, 3);
    net.bn.running_mean = [0.1, -0.2, 0.3, 0.0];
    net.bn.running_var = [1.5, 0.5, 2.0, 1.0];
    any_number_of_examples::<Net, 4, 10>(&net);
    // A ResNet block and a block with a projection shortcut.
    let mut resnet = Box::<Resnet>::default();
    init_seeded(&mut *resnet, 5);
    any_number_of_examples::<Resnet, 3, 7>(&resnet);
    any_number_of_examples::<DownBlock, 2, 5>(&down_block());
    // A batch of exactly B, and fewer examples than one batch.
    any_number_of_examples::<Net, 5, 5>(&net);
    any_number_of_examples::<Net, 8, 3>(&net);
}

#[test]
fn a_partial_batch_is_not_a_training_pass_to_go_back_through() {
    let mut net = Net::default();
    init_seeded(&mut net, 3);
    let mut ws = Box::<NetWorkspace<4>>::default();
    let x = [[0.5, -0.25, 1.0]; 4];
    net.forward_eval_rows(&x[..3], &mut ws).unwrap();
    let mut grads = NetGrads::default();
    assert!(
        net.backward(&x, &mut ws, &[[1.0, 0.0]; 4], &mut grads)
            .is_err()
    );
}

// Rows of 32 KiB (16 channels of 16x16 in f64), so that inference runs a
// batch of 20 in tiles of 8 rows (8 x 32 KiB = 256 KiB): 8, 8 and 4.
type Stem = conv2d!(3, 16, 3, padding = 1, input = [3, 16, 16], dtype = f64);
type Conv16 = conv2d!(
    16,
    16,
    3,
    padding = 1,
    bias = false,
    input = [16, 16, 16],
    dtype = f64
);
#[normalize(batch, dims = 16, spatial = [16, 16], dtype = f64)]
struct Bn16;
#[normalize(batch, dims = 16, spatial = [16, 16], track_running_stats = false, dtype = f64)]
struct BatchStats16;

/// `x + relu(bn(conv(x)))`.
#[network(residual)]
#[derive(Default)]
struct TileBlock {
    conv: Conv16,
    bn: Bn16,
    relu: Relu2d<16, 16, 16, f64>,
}

#[network]
#[derive(Default)]
struct Tiled {
    stem: Stem,
    bn: Bn16,
    relu: Relu2d<16, 16, 16, f64>,
    #[nested]
    block: TileBlock,
}

/// [`Tiled`] with a batch norm that normalizes with the batch's statistics
/// in inference too: its rows are not independent.
#[network]
#[derive(Default)]
struct NotTiled {
    stem: Stem,
    bn: BatchStats16,
}

fn images<const B: usize, const C: usize>(seed: u64) -> Box<[[[[f64; 16]; 16]; C]; B]> {
    let rows = vec![[[[0.0; 16]; 16]; C]; B].into_boxed_slice();
    let mut x: Box<[[[[f64; 16]; 16]; C]; B]> = rows.try_into().unwrap();
    let mut rng = seed;
    for v in x.as_flattened_mut().as_flattened_mut().as_flattened_mut() {
        rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        *v = (rng >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
    }
    x
}

#[test]
fn inference_in_tiles_gives_each_example_its_bits() {
    use constnorm::__private::eval_tile;
    const { assert!(Tiled::EVAL_PER_ROW && TileBlock::EVAL_PER_ROW) };
    assert_eq!(Tiled::LARGEST_ROW_BYTES, 16 * 16 * 16 * 8);
    assert_eq!(
        eval_tile(Tiled::EVAL_PER_ROW, Tiled::LARGEST_ROW_BYTES, 20),
        8
    );
    assert_eq!(
        eval_tile(Tiled::EVAL_PER_ROW, Tiled::LARGEST_ROW_BYTES, 8),
        8
    );
    let mut net = Box::<Tiled>::default();
    init_seeded(&mut *net, 11);
    for (c, (m, v)) in net
        .bn
        .running_mean
        .iter_mut()
        .zip(&mut net.bn.running_var)
        .enumerate()
    {
        (*m, *v) = (0.1 * c as f64 - 0.5, 0.5 + 0.1 * c as f64);
    }
    // 20 examples with a workspace of 20: forward_eval_slice runs them in
    // tiles of 8, 8 and 4, forward_eval as one batch; both give each
    // example the bits it gets alone.
    let x = images::<20, 3>(4);
    let mut ws = TiledWorkspace::<20>::new_boxed();
    let mut tiled = vec![[[[0.0; 16]; 16]; 16]; 20];
    net.forward_eval_slice(&x[..], &mut ws, &mut tiled).unwrap();
    let y = net.forward_eval(&x, &mut ws).unwrap().to_vec();
    let mut one = TiledWorkspace::<1>::new_boxed();
    for (n, x) in x.iter().enumerate() {
        let alone = net.forward_eval(&[*x], &mut one).unwrap();
        assert_eq!(alone[0], y[n], "example {n}");
        assert_eq!(alone[0], tiled[n], "example {n}, tiled");
    }
    // forward_eval leaves a pass to go back through, at every batch size.
    let dy = images::<20, 16>(6);
    let mut grads = TiledGrads::new_boxed();
    net.backward(&x, &mut ws, &dy, &mut grads).unwrap();
    // A residual network on its own.
    let block = &net.block;
    let h = images::<20, 16>(5);
    let mut ws = TileBlockWorkspace::<20>::new_boxed();
    let mut y = vec![[[[0.0; 16]; 16]; 16]; 20];
    block.forward_eval_slice(&h[..], &mut ws, &mut y).unwrap();
    let mut one = TileBlockWorkspace::<1>::new_boxed();
    for (n, h) in h.iter().enumerate() {
        assert_eq!(
            block.forward_eval(&[*h], &mut one).unwrap()[0],
            y[n],
            "example {n}"
        );
    }
}

#[test]
fn inference_with_batch_statistics_is_not_tiled() {
    const { assert!(!NotTiled::EVAL_PER_ROW) };
    let mut net = Box::<NotTiled>::default();
    init_seeded(&mut *net, 11);
    let mut x = images::<20, 3>(4);
    let mut ws = NotTiledWorkspace::<20>::new_boxed();
    let mut y = vec![[[[0.0; 16]; 16]; 16]; 20];
    net.forward_eval_slice(&x[..], &mut ws, &mut y).unwrap();
    let first = y[0];
    // The last example moves the batch's statistics, so the first output.
    x[19][0][0][0] += 10.0;
    net.forward_eval_slice(&x[..], &mut ws, &mut y).unwrap();
    assert_ne!(y[0], first);
}
