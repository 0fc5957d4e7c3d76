//! forward_train, forward_eval and backward (slice and constant-size forms)
//! allocate nothing, for every kind and switch, both dtypes, small and large;
//! nor does a training step of a network: a plain one, a CNN, a recurrent
//! one and a transformer; nor a streaming step of a GRU or an LSTM.

use constnorm::{Float, Layer as _, Normalization, Row, normalize};

#[path = "common/counting.rs"]
mod counting;

use counting::allocations;

#[test]
fn the_counter_sees_allocations() {
    assert!(allocations(|| drop(std::hint::black_box(vec![1_u8; 64]))) >= 1);
}

macro_rules! no_alloc_test {
    ($($name:ident: [$($attr:tt)*], rows = $b:literal;)*) => {$(
        #[test]
        fn $name() {
            #[normalize($($attr)*)]
            struct Layer;
            type R = <Layer as Normalization>::Row;

            // Inputs and outputs are prepared before counting.
            let x: Vec<R> = (0..$b)
                .map(|r| {
                    let mut row = R::ZERO;
                    for (i, v) in row.as_flat_mut().iter_mut().enumerate() {
                        *v = Float::from_f64(((r * 31 + i * 7) % 13) as f64 - 6.0);
                    }
                    row
                })
                .collect();
            let x_array: [R; $b] = std::array::from_fn(|r| x[r]);
            let dy = x.iter().rev().copied().collect::<Vec<_>>();
            let dy_array: [R; $b] = std::array::from_fn(|r| dy[r]);
            let mut y = vec![R::ZERO; $b];
            let mut dx = vec![R::ZERO; $b];
            let mut layer = Layer::new();
            let mut grads = <Layer as constnorm::Parameters>::Grads::default();

            let n = allocations(|| {
                let saved = layer.forward_train(&x, &mut y).unwrap();
                layer.backward(&x, &saved, &dy, &mut dx, &mut grads).unwrap();
                let saved = layer.forward_eval(&x, &mut y).unwrap();
                layer.backward(&x, &saved, &dy, &mut dx, &mut grads).unwrap();
                let (y_array, saved) = layer.forward_train_array(&x_array);
                let dx_array = layer.backward_array(&x_array, &saved, &dy_array, &mut grads).unwrap();
                let (y_eval, _) = layer.forward_eval_array(&x_array);
                std::hint::black_box((y_array, dx_array, y_eval));
                // error paths allocate nothing either
                assert!(layer.forward_train(&x, &mut y[1..]).is_err());
                assert!(layer.backward(&x[1..], &saved, &dy[1..], &mut dx[1..], &mut grads).is_err());
            });
            assert_eq!(n, 0, "{} allocation(s) in forward/backward", n);
            std::hint::black_box((&y, &dx, &grads));
        }
    )*};
}

no_alloc_test! {
    layer_f32_small: [layer, dims = 3], rows = 4;
    layer_f64_small: [layer, dims = 3, dtype = f64], rows = 4;
    layer_f32_large: [layer, dims = 768], rows = 8;
    layer_2d_no_bias: [layer, dims = [4, 8], bias = false], rows = 3;
    layer_no_affine: [layer, dims = 16, affine = false], rows = 3;
    rms: [rms, dims = 64], rows = 4;
    rms_2d_with_bias: [rms, dims = [4, 4], bias = true, dtype = f64], rows = 2;
    batch_f32_small: [batch, dims = 16], rows = 2;
    batch_f64_small: [batch, dims = 16, dtype = f64], rows = 4;
    batch_f32_large: [batch, dims = 256], rows = 32;
    batch_2d: [batch, dims = 8, spatial = [4, 4]], rows = 2;
    batch_3d_no_affine: [batch, dims = 2, spatial = [2, 3, 4], affine = false], rows = 2;
    batch_no_running: [batch, dims = 8, track_running_stats = false], rows = 4;
    group: [group, dims = 8, groups = 4, spatial = [3, 3]], rows = 2;
    group_no_spatial: [group, dims = 8, groups = 2], rows = 2;
    instance: [instance, dims = 4, spatial = 10], rows = 3;
    instance_tracked_affine: [instance, dims = 4, spatial = [2, 5], affine = true, track_running_stats = true], rows = 3;
}

mod network {
    use super::allocations;
    use constnorm::nn::{
        Adam, AdaptiveMaxPool2d, AvgPool2d, Conv2d, Flatten, Gelu, Linear, MaxPool2d, Relu, Relu2d,
        Sgd, cross_entropy, init_seeded,
    };
    use constnorm::{Gradients, Network, network, normalize};

    #[normalize(batch, dims = 32)]
    struct Bn32;

    #[normalize(layer, dims = 32)]
    struct Ln32;

    #[network]
    #[derive(Default)]
    struct Net {
        fc1: Linear<8, 32>,
        bn1: Bn32,
        act1: Relu<32>,
        fc2: Linear<32, 32>,
        ln2: Ln32,
        act2: Gelu<32>,
        out: Linear<32, 4>,
    }

    #[test]
    fn a_training_step_allocates_nothing() {
        let mut net = Net::default();
        init_seeded(&mut net, 1);
        let x: [[f32; 8]; 16] =
            std::array::from_fn(|i| std::array::from_fn(|j| (i * 8 + j) as f32 * 0.01));
        let targets: [usize; 16] = std::array::from_fn(|i| i % 4);
        assert_eq!(training_allocations(&mut net, &x, &targets), 0);
    }

    /// Allocations in three training steps of `net` (forward, cross-entropy,
    /// backward, SGD and Adam, an eval pass); the workspace and buffers are
    /// built before counting.
    fn training_allocations<N, const B: usize, const K: usize>(
        net: &mut N,
        x: &[N::Input; B],
        targets: &[usize; B],
    ) -> usize
    where
        N: Network<Output = [f32; K], Scalar = f32>,
    {
        let mut ws = N::Workspace::<B>::default();
        let mut grads = N::Grads::default();
        let mut sgd = Sgd::new(0.1, 0.9);
        let mut adam = Adam::new(1e-3);
        let mut dlogits = [[0.0; K]; B];
        allocations(|| {
            for _ in 0..3 {
                let logits = net.forward_train(x, &mut ws).unwrap();
                cross_entropy(logits, targets, &mut dlogits).unwrap();
                grads.set_zero();
                net.backward(x, &mut ws, &dlogits, &mut grads).unwrap();
                sgd.step(net, &grads);
                adam.step(net, &grads);
                net.forward_eval(x, &mut ws).unwrap();
            }
        })
    }

    #[normalize(batch, dims = 4, spatial = [8, 8])]
    struct Bn4;

    #[normalize(group, dims = 8, groups = 2, spatial = [4, 4])]
    struct Gn8;

    /// A CNN of every convolutional layer type's kind: conv, pools, flatten,
    /// activations over channel-major rows.
    #[network]
    #[derive(Default)]
    struct Cnn {
        conv1: Conv2d<1, 4, 1, 1, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, true>,
        bn1: Bn4,
        act1: Relu2d<4, 8, 8>,
        pool1: MaxPool2d<4, 8, 8, 4, 4, 2, 2, 2, 2, 0, 0, 1, 1>,
        conv2: Conv2d<4, 8, 2, 2, 4, 4, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, false>,
        gn2: Gn8,
        act2: Relu2d<8, 4, 4>,
        pool2: AvgPool2d<8, 4, 4, 2, 2, 2, 2, 2, 2, 0, 0, true>,
        gap: AdaptiveMaxPool2d<8, 2, 2>,
        flatten: Flatten<[[[f32; 1]; 1]; 8], 8>,
        out: Linear<8, 10>,
    }

    #[test]
    fn a_cnn_training_step_allocates_nothing() {
        let mut net = Cnn::default();
        init_seeded(&mut net, 2);
        let x: [[[[f32; 8]; 8]; 1]; 4] = std::array::from_fn(|i| {
            [std::array::from_fn(|r| {
                std::array::from_fn(|c| ((i * 64 + r * 8 + c) % 17) as f32 * 0.1 - 0.8)
            })]
        });
        assert_eq!(training_allocations(&mut net, &x, &[0, 3, 7, 9]), 0);
    }

    #[normalize(batch, dims = 16)]
    struct Bn16;

    #[normalize(layer, dims = 16)]
    struct Ln16;

    /// A recurrent network: a GRU, batch norm at every step, its last step,
    /// layer norm and a classifier.
    #[network]
    #[derive(Default)]
    struct Recurrent {
        gru: constnorm::nn::Gru<4, 16, 10>,
        bn: constnorm::nn::PerStep<Bn16, 10>,
        lstm: constnorm::nn::Lstm<16, 16, 10>,
        last: constnorm::nn::LastStep<[f32; 16], 10>,
        ln: Ln16,
        out: Linear<16, 3>,
    }

    #[test]
    fn a_recurrent_training_step_allocates_nothing() {
        let mut net = Recurrent::default();
        init_seeded(&mut net, 4);
        let x: [[[f32; 4]; 10]; 8] = std::array::from_fn(|i| {
            std::array::from_fn(|t| {
                std::array::from_fn(|j| ((i * 40 + t * 4 + j) % 13) as f32 * 0.1 - 0.6)
            })
        });
        let targets: [usize; 8] = std::array::from_fn(|i| i % 3);
        assert_eq!(training_allocations(&mut net, &x, &targets), 0);
    }

    #[test]
    fn a_streaming_step_allocates_nothing() {
        let mut gru = constnorm::nn::Gru::<4, 16, 10>::new();
        let mut lstm = constnorm::nn::Lstm::<4, 16, 10>::new();
        init_seeded(&mut gru, 5);
        init_seeded(&mut lstm, 6);
        let (mut h, mut hc) = ([[0.0_f32; 16]; 1], [[0.0_f32; 16]; 2]);
        let n = allocations(|| {
            for t in 0..100 {
                let x = [t as f32 * 0.01, -0.5, 0.25, 1.0];
                std::hint::black_box(gru.step(&x, &mut h));
                std::hint::black_box(lstm.step(&x, &mut hc));
            }
        });
        assert_eq!(n, 0);
    }

    /// A transformer: a per-token projection, two encoder blocks (post-norm
    /// ReLU; pre-norm GELU with a causal mask), the mean over tokens and a
    /// classifier.
    #[network]
    #[derive(Default)]
    struct Transformer {
        embed: constnorm::nn::PerStep<Linear<4, 16>, 8>,
        enc1: constnorm::nn::TransformerEncoderLayer<16, 2, 32, 8>,
        enc2: constnorm::nn::TransformerEncoderLayer<
            16,
            4,
            32,
            8,
            f32,
            constnorm::nn::GeluFn,
            true,
            true,
        >,
        mean: constnorm::nn::MeanOverSteps<[f32; 16], 8>,
        out: Linear<16, 3>,
    }

    #[test]
    fn a_transformer_training_step_allocates_nothing() {
        let mut net = Transformer::default();
        init_seeded(&mut net, 7);
        let x: [[[f32; 4]; 8]; 4] = std::array::from_fn(|i| {
            std::array::from_fn(|t| {
                std::array::from_fn(|j| ((i * 32 + t * 4 + j) % 11) as f32 * 0.2 - 1.0)
            })
        });
        assert_eq!(training_allocations(&mut net, &x, &[0, 1, 2, 1]), 0);
    }

    #[test]
    fn an_embedding_lookup_and_its_backward_allocate_nothing() {
        let mut table = constnorm::nn::Embedding::<100, 8>::new();
        init_seeded(&mut table, 8);
        let mut grads = constnorm::nn::EmbeddingGrads::default();
        let (mut y, dy) = ([[0.0_f32; 8]; 4], [[0.5_f32; 8]; 4]);
        let n = allocations(|| {
            table.forward(&[3, 7, 3, 99], &mut y).unwrap();
            table.backward(&[3, 7, 3, 99], &dy, &mut grads).unwrap();
        });
        assert_eq!(n, 0);
        assert_eq!(grads.weight[3], [1.0; 8]);
    }
}
